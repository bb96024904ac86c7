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

	// Only a Bearer token exempts: a browser attaches Basic (or
	// Negotiate) credentials it has cached for the site to a cross-site
	// form post by itself. Such a post used to log in (login CSRF),
	// refresh and log out past the check.
	login := in.send(t, request{method: http.MethodPost, path: "/auth/login",
		json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
	login.wantStatus(t, http.StatusOK)
	cookies := login.cookies
	for _, auth := range []string{"Basic dTpw", "Negotiate YIIB", "Bearer", "bearer   "} {
		h := crossSite.Clone()
		h.Set("Authorization", auth)
		r = in.send(t, request{method: http.MethodPost, path: "/auth/login", header: h,
			json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
		r.wantProblem(t, http.StatusForbidden, "forbidden")
		for _, path := range []string{"/auth/refresh", "/auth/logout"} {
			r = in.send(t, request{method: http.MethodPost, path: path, header: h, cookies: cookies})
			r.wantProblem(t, http.StatusForbidden, "forbidden")
		}
	}
	in.send(t, request{method: http.MethodGet, path: "/auth/me", cookies: cookies}).wantStatus(t, http.StatusOK)
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

// A listed origin's page may call the admin API like the rest of /auth: a
// CORS preflight (which never carries credentials) is answered by the CORS
// logic before the policy asks for any, and the real request's answers,
// 401 and 403 included, carry the CORS headers so that the page can read
// them. The real request is still authorized, and a request that is not a
// preflight gets no such pass.
func TestCORSAdminEndpoints(t *testing.T) {
	const origin = "http://app.example.com"
	d := newDeployment(t, "sqlite+sql")
	in := d.start(t, func(c *config.Config) {
		withPolicy(repoPolicy(t))(c)
		c.CORS.AllowedOrigins = []string{origin}
	})
	admin, adminTk := in.registerAs(t, "cors-admin", []string{"admin"})
	_, userTk := in.registerAs(t, "cors-user", nil)
	users := "/auth/admin/users"
	crossSite := func(extra ...string) http.Header {
		h := http.Header{"Origin": {origin}, "Sec-Fetch-Site": {"cross-site"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	wantCORS := func(t *testing.T, r *response) {
		t.Helper()
		if r.header.Get("Access-Control-Allow-Origin") != origin || r.header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("status %d without the CORS headers of a listed origin: %v", r.status, r.header)
		}
	}
	before := d.up.requestCount()

	for _, pf := range []struct{ path, method string }{
		{users, http.MethodGet}, {users, http.MethodPost}, {users + "/" + admin.ID, http.MethodPatch},
		{users + "/" + admin.ID + "/sessions", http.MethodDelete}, {"/auth/admin", http.MethodGet},
	} {
		t.Run("preflight "+pf.method+" "+pf.path, func(t *testing.T) {
			r := in.send(t, request{method: http.MethodOptions, path: pf.path, header: crossSite(
				"Access-Control-Request-Method", pf.method, "Access-Control-Request-Headers", "authorization, content-type")})
			r.wantStatus(t, http.StatusNoContent)
			wantCORS(t, r)
			if m := r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, pf.method) {
				t.Errorf("Access-Control-Allow-Methods %q, want %s in it", m, pf.method)
			}
		})
	}
	t.Run("preflight from an unlisted origin", func(t *testing.T) {
		r := in.send(t, request{method: http.MethodOptions, path: users, header: http.Header{
			"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"GET"}}})
		if r.status < 400 || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("status %d, Access-Control-Allow-Origin %q: want a refusal without CORS headers", r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("OPTIONS that is not a preflight is authorized", func(t *testing.T) {
		r := in.send(t, request{method: http.MethodOptions, path: users, header: crossSite()})
		r.wantProblem(t, http.StatusUnauthorized, "unauthenticated")
	})
	t.Run("anonymous request gets a readable 401", func(t *testing.T) {
		r := in.send(t, request{method: http.MethodGet, path: users, header: crossSite()})
		r.wantProblem(t, http.StatusUnauthorized, "unauthenticated")
		wantCORS(t, r)
		if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
			t.Errorf("Access-Control-Expose-Headers %q: the page cannot read the challenge", r.header.Get("Access-Control-Expose-Headers"))
		}
	})
	t.Run("invalid token gets a readable 401", func(t *testing.T) {
		r := in.send(t, request{method: http.MethodGet, path: users, bearer: "nope", header: crossSite()})
		r.wantProblem(t, http.StatusUnauthorized, "invalid_token")
		wantCORS(t, r)
	})
	t.Run("non-admin gets a readable 403", func(t *testing.T) {
		r := in.send(t, request{method: http.MethodGet, path: users, bearer: userTk.Access, header: crossSite()})
		r.wantProblem(t, http.StatusForbidden, "forbidden")
		wantCORS(t, r)
	})
	t.Run("admin is served", func(t *testing.T) {
		r := in.send(t, request{method: http.MethodGet, path: users, bearer: adminTk.Access, header: crossSite()})
		r.wantStatus(t, http.StatusOK)
		wantCORS(t, r)
	})
	t.Run("non-admin /auth endpoints unchanged", func(t *testing.T) {
		r := in.send(t, request{method: http.MethodOptions, path: "/auth/me", header: crossSite("Access-Control-Request-Method", "GET")})
		r.wantStatus(t, http.StatusNoContent)
		wantCORS(t, r)
		r = in.send(t, request{method: http.MethodGet, path: "/auth/me", header: crossSite()})
		r.wantProblem(t, http.StatusUnauthorized, "unauthenticated")
		wantCORS(t, r)
	})
	if got := d.up.since(before); len(got) != 0 {
		t.Errorf("the upstream received %v", got)
	}
}
