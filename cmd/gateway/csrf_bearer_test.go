package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authgate/gateway/config"
)

// SPEC section 5: Bearer requests are not subject to CSRF checks. A browser
// never attaches an Authorization header by itself, so a cross-site request
// that carries one was made on purpose by a client holding the token.
func TestBearerRequestsSkipCSRFChecks(t *testing.T) {
	d := newDeployment(t, "sqlite+sql")
	in := d.start(t, nil)
	u := in.register(t, "bearer-csrf")
	tk := in.login(t, u)
	crossSite := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://elsewhere.example"}}

	r := in.send(t, request{method: http.MethodPatch, path: "/auth/me", bearer: tk.Access, header: crossSite,
		json: map[string]any{"name": "Renamed"}})
	r.wantStatus(t, http.StatusOK)

	r = in.send(t, request{method: http.MethodPost, path: "/auth/logout", bearer: tk.Access, header: crossSite})
	r.wantStatus(t, http.StatusNoContent)
	in.get(t, "/api/after-logout", tk.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")

	// The same cross-site request without a token (a forged form post
	// riding on cookies, or nothing at all) is still refused.
	r = in.send(t, request{method: http.MethodPost, path: "/auth/login", header: crossSite,
		json: map[string]any{"email": u.Email, "password": u.Password}})
	r.wantProblem(t, http.StatusForbidden, "forbidden")
}

// cors.allowed_origins (SPEC section 3): a listed origin's page may call the
// /auth API with credentials; any other origin gets no CORS headers.
func TestCORSForListedOrigins(t *testing.T) {
	d := newDeployment(t, "sqlite+sql")
	in := d.start(t, func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://app.example"} })
	u := in.register(t, "cors")

	pre := in.send(t, request{method: http.MethodOptions, path: "/auth/login", header: http.Header{
		"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"},
		"Access-Control-Request-Headers": {"content-type"}, "Sec-Fetch-Site": {"cross-site"}}})
	pre.wantStatus(t, http.StatusNoContent)
	if got := pre.header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("preflight Access-Control-Allow-Origin %q", got)
	}
	// The listed origin is trusted by the CSRF guard too: its cookie login works.
	r := in.send(t, request{method: http.MethodPost, path: "/auth/login",
		header: http.Header{"Origin": {"https://app.example"}, "Sec-Fetch-Site": {"cross-site"}},
		json:   map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
	r.wantStatus(t, http.StatusOK)
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("login from the listed origin: CORS headers %v", r.header)
	}
	other := in.send(t, request{method: http.MethodPost, path: "/auth/login",
		header: http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}},
		json:   map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
	other.wantProblem(t, http.StatusForbidden, "forbidden")
	if other.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("an unlisted origin got Access-Control-Allow-Origin %q", other.header.Get("Access-Control-Allow-Origin"))
	}
}

// cors.allowed_origins are compared with the Origin header byte for byte
// (the CORS answer, the CSRF guard, the WebSocket origin check), and
// browsers send the origin's serialisation (RFC 6454 section 6.2):
// lower-case, no default port, no "/". A configured origin is normalised
// to that form, and what cannot be an origin is refused by validation, so
// that `serve --config-test` catches what `serve` would stop on.
func TestCORSNormalisedOrigins(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, origin string
		ok           bool
	}{
		{"trailing slash, case and default port", "HTTP://App.Example.com:80/", true},
		{"fragment", "http://app.example.com/#x", false},
		{"path", "http://app.example.com/app", false},
		{"query", "http://app.example.com?x", false},
		{"user information", "http://u@app.example.com", false},
		{"another scheme", "ws://app.example.com", false},
	} {
		t.Run("config-test/"+tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(file, []byte("cors:\n  allowed_origins: ['"+tc.origin+"']\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, nil, "", "serve", "--config-test", "--config", file)
			if tc.ok {
				r.want(t, 0)
				return
			}
			if r.code == 0 || !strings.Contains(r.message(), "cors.allowed_origins[0]") {
				t.Errorf("serve --config-test with %q: exit %d, message %q; want a problem for cors.allowed_origins[0]", tc.origin, r.code, r.message())
			}
		})
	}

	d := newDeployment(t, "sqlite+sql")
	in := d.start(t, func(c *config.Config) { c.CORS.AllowedOrigins = []string{"HTTP://App.Example.com:80/"} })
	u := in.register(t, "cors-normal")
	const origin = "http://app.example.com" // as a browser sends it
	pre := in.send(t, request{method: http.MethodOptions, path: "/auth/login", header: http.Header{
		"Origin": {origin}, "Access-Control-Request-Method": {"POST"},
		"Access-Control-Request-Headers": {"content-type"}, "Sec-Fetch-Site": {"cross-site"}}})
	pre.wantStatus(t, http.StatusNoContent)
	if got := pre.header.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("preflight Access-Control-Allow-Origin %q, want %q", got, origin)
	}
	// The CSRF guard trusts it too: the page's cookie login works.
	r := in.send(t, request{method: http.MethodPost, path: "/auth/login",
		header: http.Header{"Origin": {origin}, "Sec-Fetch-Site": {"cross-site"}},
		json:   map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
	r.wantStatus(t, http.StatusOK)
	if r.header.Get("Access-Control-Allow-Origin") != origin || r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("login from the listed origin: CORS headers %v", r.header)
	}
}
