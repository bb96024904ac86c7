package main

import (
	"net/http"
	"testing"
)

// The gateway's own JSON answers carry the headers of an API that must
// never be rendered, framed or cached (issue 6; OWASP HTTP headers cheat
// sheet), on success and on errors alike.
func TestAuthAPISecurityHeaders(t *testing.T) {
	d := newDeployment(t, "sqlite+sql")
	in := d.start(t, nil)
	u := in.register(t, "headers")
	tk := in.login(t, u)
	want := map[string]string{
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	}
	for _, tc := range []struct {
		name   string
		req    request
		status int
	}{
		{"profile", request{method: http.MethodGet, path: "/auth/me", bearer: tk.Access}, http.StatusOK},
		{"unauthenticated", request{method: http.MethodGet, path: "/auth/me"}, http.StatusUnauthorized},
		{"bad input", request{method: http.MethodPost, path: "/auth/login", body: "{", contentType: "application/json"}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := in.send(t, tc.req)
			r.wantStatus(t, tc.status)
			for name, v := range want {
				if got := r.header.Values(name); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want exactly %q", name, got, v)
				}
			}
		})
	}
}
