package main

import (
	"net/http"
	"testing"
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
