package auth

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authgate/gateway/gateway/problem"
)

// FuzzDecodeRequests (issue 7) drives every JSON request decoder of the
// /auth API through decodeJSON and decodeOptionalJSON, as the handlers call
// them, with any content type and body: the answer is a decoded value or a
// 400, 413 or 415 problem, never a panic or another error. FuzzDecodeJSON
// (decode_test.go) checks the strict parser's result against
// encoding/json; this one covers the request types and the HTTP edges.
// Seeds: decodeCases and bodies of each request type.
func FuzzDecodeRequests(f *testing.F) {
	for _, tc := range decodeCases {
		if len(tc.body) < 4096 {
			f.Add(tc.contentType, []byte(tc.body))
		}
	}
	for _, b := range []string{`{"email":"a@example.com","password":"x","name":"n"}`, `{"email":"a","password":"p","cookie":true}`,
		`{"refresh_token":"abc"}`, `{"current_password":"a","new_password":"b"}`, `{"roles":["admin"],"disabled":true}`,
		`{"email":"a","roles":["x"],"password":"p"}`, `{"Email":"a","EMAIL":"b"}`, `{"roles":null}`, `{"cookie":"true"}`} {
		f.Add("application/json", []byte(b))
	}
	newDst := []func() any{
		func() any { return &registerRequest{} },
		func() any { return &loginRequest{} },
		func() any { return &refreshRequest{} },
		func() any { return &updateMeRequest{} },
		func() any { return &passwordRequest{} },
		func() any { return &createUserRequest{} },
		func() any { return &patchUserRequest{} },
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		for _, optional := range []bool{false, true} {
			for _, mk := range newDst {
				r := httptest.NewRequest(http.MethodPost, "/auth/x", bytes.NewReader(body))
				if contentType != "" {
					r.Header.Set("Content-Type", contentType)
				}
				var err error
				if optional {
					err = decodeOptionalJSON(r, mk())
				} else {
					err = decodeJSON(r, mk())
				}
				if err == nil {
					continue
				}
				var p *problem.Problem
				if !errors.As(err, &p) {
					t.Fatalf("error %v is not a problem", err)
				}
				switch p.Status {
				case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
				default:
					t.Fatalf("status %d for content type %q body %q", p.Status, contentType, body)
				}
			}
		}
	})
}
