package main

import (
	"net/http"
	"slices"
	"strings"
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

// A known path of the gateway's own answers a method it does not serve
// with 405 method_not_allowed and Allow (RFC 9110 section 15.5.6), as
// /healthz does, not 404; and HEAD works wherever GET does (RFC 9110
// section 9.3.2): the GET answer's status and header fields, no body.
func TestOwnEndpointMethods(t *testing.T) {
	d := newDeployment(t, "sqlite+sql")
	in := d.start(t, withPolicy(repoPolicy(t)))
	u, tk := in.registerAs(t, "methods", []string{"admin"})
	users := "/auth/admin/users"

	for _, tc := range []struct {
		method, path, bearer string
		allow                []string // methods Allow must list
	}{
		{http.MethodPut, "/auth/me", tk.Access, []string{"GET", "PATCH"}},
		{http.MethodDelete, "/auth/login", "", []string{"GET", "POST"}},
		{http.MethodPut, "/auth/refresh", "", []string{"POST"}},
		{http.MethodPost, "/auth/openapi.json", "", []string{"GET"}},
		{http.MethodGet, "/auth/sessions/some-id", tk.Access, []string{"DELETE"}},
		{http.MethodPost, "/auth/client.js", "", []string{"GET"}},
		{http.MethodDelete, users, tk.Access, []string{"GET", "POST"}},
		{http.MethodPut, users + "/" + u.ID, tk.Access, []string{"GET", "PATCH"}},
		{http.MethodPost, "/healthz", "", []string{"GET", "HEAD"}},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := in.send(t, request{method: tc.method, path: tc.path, bearer: tc.bearer})
			r.wantProblem(t, http.StatusMethodNotAllowed, "method_not_allowed")
			allow := strings.Split(strings.ReplaceAll(r.header.Get("Allow"), " ", ""), ",")
			for _, m := range tc.allow {
				if !slices.Contains(allow, m) {
					t.Errorf("Allow %q lacks %s", r.header.Get("Allow"), m)
				}
			}
			if slices.Contains(allow, tc.method) {
				t.Errorf("Allow %q lists the refused method", r.header.Get("Allow"))
			}
		})
	}
	t.Run("the policy still comes first", func(t *testing.T) {
		in.send(t, request{method: http.MethodPut, path: users}).wantProblem(t, http.StatusUnauthorized, "unauthenticated")
	})
	t.Run("unknown paths are still 404", func(t *testing.T) {
		in.send(t, request{method: http.MethodGet, path: "/auth/nope"}).wantProblem(t, http.StatusNotFound, "not_found")
		in.send(t, request{method: http.MethodPut, path: "/auth/me/x"}).wantProblem(t, http.StatusNotFound, "not_found")
	})

	for _, tc := range []struct {
		path, bearer string
		status       int
		header       []string // header fields the GET answer has and HEAD must repeat
	}{
		{"/auth/login", "", http.StatusOK, []string{"Content-Type", "Content-Security-Policy", "Cache-Control"}},
		{"/auth/client.js", "", http.StatusOK, []string{"Content-Type", "ETag", "Cache-Control"}},
		{"/auth/openapi.json", "", http.StatusOK, []string{"Content-Type"}},
		{"/.well-known/jwks.json", "", http.StatusOK, []string{"Content-Type", "Cache-Control"}},
		{"/auth/me", tk.Access, http.StatusOK, []string{"Content-Type", "Cache-Control"}},
		{users, tk.Access, http.StatusOK, []string{"Content-Type", "Cache-Control"}},
		{"/auth/me", "", http.StatusUnauthorized, []string{"Content-Type", "Cache-Control", "WWW-Authenticate"}},
		{"/healthz", "", http.StatusOK, []string{"Content-Type"}},
	} {
		t.Run("HEAD "+tc.path, func(t *testing.T) {
			get := in.send(t, request{method: http.MethodGet, path: tc.path, bearer: tc.bearer})
			head := in.send(t, request{method: http.MethodHead, path: tc.path, bearer: tc.bearer})
			if get.status != tc.status || head.status != tc.status {
				t.Fatalf("GET %d, HEAD %d, want %d both; HEAD body %q", get.status, head.status, tc.status, head.body)
			}
			if len(head.body) != 0 {
				t.Errorf("HEAD answered a body of %d bytes", len(head.body))
			}
			for _, name := range tc.header {
				if g, h := get.header.Get(name), head.header.Get(name); g == "" || g != h {
					t.Errorf("%s: GET %q, HEAD %q", name, g, h)
				}
			}
		})
	}
}
