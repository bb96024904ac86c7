package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// call sends one request with an optional JSON body and Authorization
// header and returns the status and (the start of) the answer.
func call(ctx context.Context, client *http.Client, method, url string, body []byte, authorization string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4096))
	return res.StatusCode, b, err
}

// callLimit is a GET reading up to limit bytes of the answer.
func callLimit(ctx context.Context, client *http.Client, method, url string, limit int64) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, limit))
	return res.StatusCode, b, err
}
