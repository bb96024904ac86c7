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
		{"unknown /auth path", request{method: http.MethodGet, path: "/auth/nope"}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := in.send(t, tc.req)
			r.wantStatus(t, tc.status)
			for name, v := range want {
				if name == "Cache-Control" && tc.status == http.StatusNotFound {
					continue // problem answers carry their own no-store
				}
				if got := r.header.Values(name); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want exactly %q", name, got, v)
				}
			}
		})
	}
}

// Health and the JWKS are answers of the gateway too: the same headers,
// without no-store where caching is wanted (the JWKS).
func TestOwnEndpointsSecurityHeaders(t *testing.T) {
	d := newDeployment(t, "sqlite+sql")
	in := d.start(t, nil)
	for _, path := range []string{"/healthz", "/readyz", "/.well-known/jwks.json"} {
		r := in.send(t, request{method: http.MethodGet, path: path})
		r.wantStatus(t, http.StatusOK)
		for name, v := range map[string]string{
			"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		} {
			if got := r.header.Get(name); got != v {
				t.Errorf("%s: %s = %q, want %q", path, name, got, v)
			}
		}
	}
	// A proxied answer is the upstream's: the gateway adds no CSP to it.
	u := in.register(t, "proxied-headers")
	tk := in.login(t, u)
	if got := in.get(t, "/api/x", tk.Access).header.Get("Content-Security-Policy"); got != "" {
		t.Errorf("proxied answer got Content-Security-Policy %q from the gateway", got)
	}
}
