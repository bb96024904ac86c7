package main

import (
	"net/http"
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
