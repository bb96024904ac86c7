package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// credentials returns the header a client needs to pass the gateway at base
// with path: none when the gateway forwards anonymous requests, else the
// Bearer access token of a user the harness registers and logs in (the
// gateway refuses anonymous requests once authentication is wired, even
// before a policy is configured).
func credentials(ctx context.Context, base, path string) (string, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	status, body, err := call(ctx, client, http.MethodGet, base+path, nil, "")
	if err != nil {
		return "", err
	}
	switch status {
	case http.StatusOK:
		return "", nil
	case http.StatusUnauthorized:
	default:
		return "", fmt.Errorf("GET %s%s: status %d, want 200 or 401: %s", base, path, status, body)
	}

	email := "loadtest-" + rand.Text()[:8] + "@example.com"
	password := rand.Text() // 26 characters
	reg, _ := json.Marshal(map[string]string{"email": email, "password": password, "name": "loadtest"})
	status, body, err = call(ctx, client, http.MethodPost, base+"/auth/register", reg, "")
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("the gateway refuses anonymous requests (401) and registering a load-test user failed: POST /auth/register: status %d: %s", status, body)
	}
	login, _ := json.Marshal(map[string]string{"email": email, "password": password})
	status, body, err = call(ctx, client, http.MethodPost, base+"/auth/login", login, "")
	if err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("logging the load-test user in failed: POST /auth/login: status %d: %s", status, body)
	}
	header := "Authorization: Bearer " + tok.AccessToken
	status, body, err = call(ctx, client, http.MethodGet, base+path, nil, "Bearer "+tok.AccessToken)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("GET %s with the load-test user's token: status %d, want 200: %s", path, status, body)
	}
	return header, nil
}

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
