package main

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// sidOf returns the session id (sid) an access token carries.
func sidOf(t testing.TB, access string) string {
	t.Helper()
	sid, _ := jwtPart(t, access, 1)["sid"].(string)
	if sid == "" {
		t.Fatal("access token without sid")
	}
	return sid
}

// wantIdentity checks what the upstream received for path: u's identity
// headers for session sid with roles, an X-Auth-Assertion that verifies with
// the JWKS and says the same, and none of the gateway's credentials.
func (in *instance) wantIdentity(t testing.TB, path string, u testUser, roles, sid string) {
	t.Helper()
	h := in.d.up.last(t, path).Header
	want := map[string]string{
		"X-Auth-User-Id":    u.ID,
		"X-Auth-User-Email": strings.ToLower(strings.TrimSpace(u.Email)),
		"X-Auth-User-Roles": roles,
		"X-Auth-Session-Id": sid,
	}
	for name, v := range want {
		if got := h.Values(name); len(got) != 1 || got[0] != v {
			t.Errorf("upstream %s = %q, want [%q]", name, got, v)
		}
	}
	if h.Get("X-Request-Id") == "" {
		t.Error("upstream got no X-Request-Id")
	}
	if a := h.Get("Authorization"); a != "" {
		t.Errorf("upstream got Authorization %q; forward_access_token is off", a)
	}
	for _, c := range h.Values("Cookie") {
		if strings.Contains(c, "gw_access") || strings.Contains(c, "gw_refresh") {
			t.Errorf("upstream got the gateway's cookies: %q", c)
		}
	}

	assertion := h.Get("X-Auth-Assertion")
	if assertion == "" {
		t.Fatal("upstream got no X-Auth-Assertion")
	}
	hdr, claims := jwtPart(t, assertion, 0), jwtPart(t, assertion, 1)
	pub, ok := in.jwks(t)[hdr["kid"].(string)]
	if !ok || !verifyEd25519(assertion, pub) {
		t.Fatalf("X-Auth-Assertion does not verify with the JWKS (kid %v)", hdr["kid"])
	}
	if hdr["alg"] != "EdDSA" || hdr["typ"] == "at+jwt" {
		t.Errorf("assertion header %v: want alg EdDSA and a typ other than at+jwt", hdr)
	}
	if claims["aud"] != "app" && !slices.Contains(anyStrings(claims["aud"]), "app") {
		t.Errorf("assertion aud %v, want the upstream's name \"app\"", claims["aud"])
	}
	if claims["sub"] != u.ID || claims["sid"] != sid || claims["email"] != want["X-Auth-User-Email"] {
		t.Errorf("assertion claims %v disagree with the identity headers", claims)
	}
	exp, _ := claims["exp"].(float64)
	iat, _ := claims["iat"].(float64)
	if exp-iat <= 0 || exp-iat > 300 {
		t.Errorf("assertion lifetime %vs, want (0, 300]", exp-iat)
	}
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// TestBearerFlow is the API client's whole life: register, login, a proxied
// call with the identity, refresh, reuse of the rotated token after the
// grace (which ends the session), logout.
func TestBearerFlow(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, func(c *config.Config) { c.Tokens.ReuseGrace = time.Second })

		// Register: 201 {"user": {id, email, name, roles}}, the email in
		// its canonical form.
		u := testUser{Email: "Bob-" + randomHex(t, 4) + "@Example.COM", Password: newPassword(t)}
		d.secret(u.Password)
		r := gw.send(t, request{method: http.MethodPost, path: "/auth/register",
			json: map[string]any{"email": u.Email, "password": u.Password, "name": "Bob"}})
		r.wantStatus(t, http.StatusCreated)
		body := r.object(t)
		user, _ := body["user"].(map[string]any)
		if len(body) != 1 || user == nil {
			t.Fatalf("register answered %s, want {\"user\": {...}}", r.body)
		}
		u.ID, _ = user["id"].(string)
		if !uuidRE.MatchString(u.ID) || user["email"] != strings.ToLower(u.Email) || user["name"] != "Bob" ||
			!slices.Equal(anyStrings(user["roles"]), []string{"user"}) {
			t.Errorf("registered user %v: want a UUID id, email %q, name Bob, roles [user]", user, strings.ToLower(u.Email))
		}
		if _, ok := user["password_hash"]; ok {
			t.Error("the user view shows a password hash")
		}

		// Login: 200 {access_token, token_type, expires_in, refresh_token, user}.
		r = gw.send(t, request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": u.Email, "password": u.Password}})
		r.wantStatus(t, http.StatusOK)
		m := r.object(t)
		tk := d.tokensOf(t, r)
		if m["token_type"] != "Bearer" || tk.Access == "" || len(tk.Refresh) < 43 {
			t.Fatalf("login answered %v, want token_type Bearer and both tokens", m)
		}
		if tk.ExpiresIn < 890 || tk.ExpiresIn > 900 {
			t.Errorf("expires_in %v, want about 900 (access_ttl 15m)", tk.ExpiresIn)
		}
		if tk.User["id"] != u.ID {
			t.Errorf("login user %v, want id %s", tk.User, u.ID)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("login Cache-Control %q, want no-store", cc)
		}
		if len(r.cookies) != 0 {
			t.Errorf("bearer login set cookies: %v", r.cookies)
		}
		sid := sidOf(t, tk.Access)

		// A proxied call carries the identity to the upstream.
		r = gw.get(t, "/api/items/1", tk.Access)
		r.wantStatus(t, http.StatusOK)
		if string(r.body) != "upstream ok" {
			t.Errorf("proxied body %q", r.body)
		}
		gw.wantIdentity(t, "/api/items/1", u, "user", sid)

		// Refresh: a new pair for the same session.
		r = gw.refresh(t, tk.Refresh)
		r.wantStatus(t, http.StatusOK)
		tk2 := d.tokensOf(t, r)
		if tk2.Access == "" || tk2.Access == tk.Access || tk2.Refresh == "" || tk2.Refresh == tk.Refresh {
			t.Fatal("refresh did not return a new pair")
		}
		if sidOf(t, tk2.Access) != sid {
			t.Errorf("refresh changed the session id")
		}
		gw.get(t, "/api/items/2", tk2.Access).wantStatus(t, http.StatusOK)
		gw.wantIdentity(t, "/api/items/2", u, "user", sid)

		// After the grace, the rotated token is refused and its replay
		// ends the session: the current refresh token dies with it.
		time.Sleep(gw.cfg.Tokens.ReuseGrace + 100*time.Millisecond)
		gw.refresh(t, tk.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")
		gw.refresh(t, tk2.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")

		// Logout ends the session of the presented access token at once.
		tk3 := gw.login(t, u)
		if sidOf(t, tk3.Access) == sid {
			t.Error("a new login reused the old session")
		}
		gw.get(t, "/api/items/3", tk3.Access).wantStatus(t, http.StatusOK)
		r = gw.send(t, request{method: http.MethodPost, path: "/auth/logout", bearer: tk3.Access})
		r.wantStatus(t, http.StatusNoContent)
		r = gw.get(t, "/api/items/4", tk3.Access)
		r.wantProblem(t, http.StatusUnauthorized, "invalid_token")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without a Bearer challenge: %q", r.header.Get("WWW-Authenticate"))
		}
		if d.up.received("/api/items/4") {
			t.Error("a logged-out token reached the upstream")
		}
		gw.get(t, "/auth/me", tk3.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
		gw.refresh(t, tk3.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")

		// Logout by refresh token (no access token at hand) works too.
		tk4 := gw.login(t, u)
		r = gw.send(t, request{method: http.MethodPost, path: "/auth/logout", json: map[string]any{"refresh_token": tk4.Refresh}})
		r.wantStatus(t, http.StatusNoContent)
		gw.get(t, "/api/items/5", tk4.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")

		// Anonymous proxied requests are refused (deny by default).
		r = gw.get(t, "/api/items/6", "")
		r.wantProblem(t, http.StatusUnauthorized, "unauthenticated")
		if d.up.received("/api/items/6") {
			t.Error("an anonymous request reached the upstream")
		}
	})
}

// wantSessionCookies checks that the answer sets both cookies, with the
// attributes SPEC 5 requires, and returns them.
func wantSessionCookies(t testing.TB, r *response, access, refresh string, secure bool) (*http.Cookie, *http.Cookie) {
	t.Helper()
	var out []*http.Cookie
	for _, name := range []string{access, refresh} {
		c := r.cookie(name)
		if c == nil {
			t.Fatalf("no Set-Cookie %s among %v", name, r.cookies)
		}
		if c.Value == "" || c.MaxAge <= 0 || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" ||
			c.Secure != secure || c.Domain != "" {
			t.Errorf("cookie %s (Max-Age %d, HttpOnly %v, SameSite %v, Path %q, Secure %v, Domain %q, %d-byte value): "+
				"want a value, Max-Age > 0, HttpOnly, SameSite=Lax, Path=/, Secure=%v, no Domain",
				name, c.MaxAge, c.HttpOnly, c.SameSite, c.Path, c.Secure, c.Domain, len(c.Value), secure)
		}
		out = append(out, c)
	}
	if cc := r.header.Values("Cache-Control"); len(cc) != 1 || cc[0] != "no-store" {
		t.Errorf("an answer that sets credentials has Cache-Control %q, want exactly no-store", cc)
	}
	return out[0], out[1]
}

// wantCleared checks that the answer expires both cookies and sets no new
// value for either.
func wantCleared(t testing.TB, r *response, names ...string) {
	t.Helper()
	for _, name := range names {
		var cleared bool
		for _, c := range r.cookies {
			if c.Name != name {
				continue
			}
			if c.MaxAge >= 0 || c.Value != "" {
				t.Errorf("answer sets cookie %s (Max-Age %d, %d-byte value), want only its removal", name, c.MaxAge, len(c.Value))
			}
			cleared = true
		}
		if !cleared {
			t.Errorf("answer does not clear cookie %s", name)
		}
	}
}

// TestCookieFlow is the browser's whole life: login in cookie mode, proxied
// calls by cookie, transparent refresh at the edge once the access cookie
// has expired, the refresh endpoint by cookie, logout.
func TestCookieFlow(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, func(c *config.Config) { c.Tokens.AccessTTL = time.Second })
		u := gw.register(t, "carol")
		browser, jar := gw.browser(t)
		// A cookie of the application's own, which the upstream must get.
		jarURL, _ := http.NewRequest(http.MethodGet, gw.URL, nil)
		jar.SetCookies(jarURL.URL, []*http.Cookie{{Name: "theme", Value: "dark", Path: "/"}})

		r := gw.send(t, request{method: http.MethodPost, path: "/auth/login", client: browser,
			json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
		r.wantStatus(t, http.StatusOK)
		loggedIn := time.Now()
		body := r.object(t)
		if _, ok := body["access_token"]; ok {
			t.Errorf("cookie login put the access token in the body: %s", r.body)
		}
		if _, ok := body["refresh_token"]; ok {
			t.Errorf("cookie login put the refresh token in the body: %s", r.body)
		}
		if user, _ := body["user"].(map[string]any); user["id"] != u.ID {
			t.Errorf("cookie login user %v, want %s", body["user"], u.ID)
		}
		access, refresh := wantSessionCookies(t, r, "gw_access", "gw_refresh", false)
		d.secret(access.Value, refresh.Value)
		sid := sidOf(t, access.Value)

		// The access cookie authenticates: no refresh happens, and the
		// upstream sees the identity and the application's cookie only.
		r = gw.send(t, request{method: http.MethodGet, path: "/api/c/1", client: browser})
		r.wantStatus(t, http.StatusOK)
		// (Unless this machine took longer than the cookie's one-second
		// Max-Age to send the next request.)
		if len(r.cookies) != 0 && time.Since(loggedIn) < 900*time.Millisecond {
			t.Errorf("a call with a live access cookie set %d cookies (a refresh happened)", len(r.cookies))
		}
		gw.wantIdentity(t, "/api/c/1", u, "user", sid)
		if got := d.up.last(t, "/api/c/1").Header.Values("Cookie"); !slices.Equal(got, []string{"theme=dark"}) {
			t.Errorf("upstream Cookie %q, want [\"theme=dark\"]", got)
		}

		// access_ttl is 1s: the browser drops the access cookie, and the
		// next call is refreshed at the edge from the refresh cookie.
		eventually(t, 3*time.Second, "the access cookie expires in the jar", func() bool {
			return gw.jarCookie(jar, "gw_access") == ""
		})
		r = gw.send(t, request{method: http.MethodGet, path: "/api/c/2", client: browser})
		r.wantStatus(t, http.StatusOK)
		access2, refresh2 := wantSessionCookies(t, r, "gw_access", "gw_refresh", false)
		d.secret(access2.Value, refresh2.Value)
		if access2.Value == access.Value || refresh2.Value == refresh.Value {
			t.Error("the transparent refresh did not rotate the cookies")
		}
		gw.wantIdentity(t, "/api/c/2", u, "user", sid)

		// The refresh endpoint takes the cookie and an empty body.
		r = gw.send(t, request{method: http.MethodPost, path: "/auth/refresh", client: browser})
		r.wantStatus(t, http.StatusOK)
		access3, refresh3 := wantSessionCookies(t, r, "gw_access", "gw_refresh", false)
		d.secret(access3.Value, refresh3.Value)
		if _, ok := r.object(t)["access_token"]; ok {
			t.Errorf("cookie refresh put a token in the body: %s", r.body)
		}
		gw.send(t, request{method: http.MethodGet, path: "/api/c/3", client: browser}).wantStatus(t, http.StatusOK)
		gw.wantIdentity(t, "/api/c/3", u, "user", sid)

		// Logout clears both cookies, and the old access cookie is refused.
		r = gw.send(t, request{method: http.MethodPost, path: "/auth/logout", client: browser})
		r.wantStatus(t, http.StatusNoContent)
		wantCleared(t, r, "gw_access", "gw_refresh")
		if gw.jarCookie(jar, "gw_access") != "" || gw.jarCookie(jar, "gw_refresh") != "" {
			t.Error("the browser still holds the gateway's cookies after logout")
		}
		for name, cookies := range map[string][]*http.Cookie{
			"access cookie":           {{Name: "gw_access", Value: access3.Value}},
			"access + refresh cookie": {{Name: "gw_access", Value: access3.Value}, {Name: "gw_refresh", Value: refresh3.Value}},
		} {
			path := "/api/c/after-logout/" + strings.ReplaceAll(name, " ", "")
			r = gw.send(t, request{method: http.MethodGet, path: path, cookies: cookies})
			r.wantProblem(t, http.StatusUnauthorized, "unauthenticated")
			if d.up.received(path) {
				t.Errorf("%s: a logged-out cookie reached the upstream", name)
			}
		}
		gw.send(t, request{method: http.MethodPost, path: "/auth/refresh",
			cookies: []*http.Cookie{{Name: "gw_refresh", Value: refresh3.Value}}}).
			wantProblem(t, http.StatusUnauthorized, "invalid_token")

		// Regression: logging out with an expired access cookie (only the
		// refresh cookie left) ends the session and leaves no cookie
		// behind. The handler's transparent refresh used to set fresh
		// cookies after clearing them.
		r = gw.send(t, request{method: http.MethodPost, path: "/auth/login", client: browser,
			json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
		r.wantStatus(t, http.StatusOK)
		_, refresh4 := wantSessionCookies(t, r, "gw_access", "gw_refresh", false)
		d.secret(r.cookie("gw_access").Value, refresh4.Value)
		eventually(t, 3*time.Second, "the access cookie expires in the jar", func() bool {
			return gw.jarCookie(jar, "gw_access") == ""
		})
		r = gw.send(t, request{method: http.MethodPost, path: "/auth/logout", client: browser})
		r.wantStatus(t, http.StatusNoContent)
		wantCleared(t, r, "gw_access", "gw_refresh")
		if gw.jarCookie(jar, "gw_access") != "" || gw.jarCookie(jar, "gw_refresh") != "" {
			t.Error("the browser holds cookies after logging out with an expired access cookie")
		}
		gw.send(t, request{method: http.MethodPost, path: "/auth/refresh",
			cookies: []*http.Cookie{{Name: "gw_refresh", Value: refresh4.Value}}}).
			wantProblem(t, http.StatusUnauthorized, "invalid_token")
	})
}

// TestCookieCrossOrigin: unsafe cookie-authenticated requests from another
// origin are refused before the upstream; Bearer requests are not subject
// to the check; the /auth API refuses cross-site unsafe requests.
func TestCookieCrossOrigin(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, nil)
		u := gw.register(t, "dave")
		browser, _ := gw.browser(t)
		r := gw.send(t, request{method: http.MethodPost, path: "/auth/login", client: browser,
			json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
		r.wantStatus(t, http.StatusOK)
		a, rf := wantSessionCookies(t, r, "gw_access", "gw_refresh", false)
		d.secret(a.Value, rf.Value)
		tk := gw.login(t, u)

		cases := []struct {
			name   string
			method string
			header http.Header
			bearer bool
			want   int
		}{
			{"cookie POST cross-site", http.MethodPost, http.Header{"Sec-Fetch-Site": {"cross-site"}}, false, http.StatusForbidden},
			{"cookie POST same-site", http.MethodPost, http.Header{"Sec-Fetch-Site": {"same-site"}}, false, http.StatusForbidden},
			{"cookie DELETE foreign Origin", http.MethodDelete, http.Header{"Origin": {"https://evil.example"}}, false, http.StatusForbidden},
			{"cookie POST foreign Origin", http.MethodPost, http.Header{"Origin": {"https://evil.example"}}, false, http.StatusForbidden},
			{"cookie POST same-origin", http.MethodPost, http.Header{"Sec-Fetch-Site": {"same-origin"}}, false, http.StatusOK},
			{"cookie POST own Origin", http.MethodPost, http.Header{"Origin": {gw.URL}}, false, http.StatusOK},
			{"cookie POST no browser headers", http.MethodPost, nil, false, http.StatusOK},
			{"cookie GET cross-site", http.MethodGet, http.Header{"Sec-Fetch-Site": {"cross-site"}}, false, http.StatusOK},
			{"bearer POST cross-site", http.MethodPost, http.Header{"Sec-Fetch-Site": {"cross-site"}}, true, http.StatusOK},
			{"bearer POST foreign Origin", http.MethodPost, http.Header{"Origin": {"https://evil.example"}}, true, http.StatusOK},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				path := "/api/csrf/" + string(rune('a'+i))
				rq := request{method: tc.method, path: path, header: tc.header, body: "x=1", contentType: "application/x-www-form-urlencoded"}
				if tc.bearer {
					rq.bearer = tk.Access
				} else {
					rq.client = browser
				}
				r := gw.send(t, rq)
				if tc.want == http.StatusForbidden {
					r.wantProblem(t, http.StatusForbidden, "forbidden")
					if d.up.received(path) {
						t.Error("a refused cross-origin request reached the upstream")
					}
					return
				}
				r.wantStatus(t, tc.want)
				if !d.up.received(path) {
					t.Error("the request did not reach the upstream")
				}
			})
		}

		// A cross-site logout (forced logout) is refused and the session
		// lives on.
		r = gw.send(t, request{method: http.MethodPost, path: "/auth/logout", client: browser,
			header: http.Header{"Sec-Fetch-Site": {"cross-site"}}})
		r.wantProblem(t, http.StatusForbidden, "forbidden")
		if len(r.cookies) != 0 {
			t.Errorf("a refused cross-site logout touched the cookies: %v", r.cookies)
		}
		gw.send(t, request{method: http.MethodGet, path: "/api/csrf/alive", client: browser}).wantStatus(t, http.StatusOK)
		// So is a cross-site login (login CSRF).
		gw.send(t, request{method: http.MethodPost, path: "/auth/login", header: http.Header{"Sec-Fetch-Site": {"cross-site"}},
			json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}}).
			wantProblem(t, http.StatusForbidden, "forbidden")
	})
}

// TestSecureCookies: with cookies.secure on (the default) the cookies are
// Secure and carry the __Host- prefix, and only the prefixed names
// authenticate.
func TestSecureCookies(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, func(c *config.Config) { c.Cookies.Secure = true })
		u := gw.register(t, "erin")
		r := gw.send(t, request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
		r.wantStatus(t, http.StatusOK)
		access, refresh := wantSessionCookies(t, r, "__Host-gw_access", "__Host-gw_refresh", true)
		d.secret(access.Value, refresh.Value)
		if r.cookie("gw_access") != nil || r.cookie("gw_refresh") != nil {
			t.Errorf("unprefixed cookies set alongside the __Host- ones: %v", r.cookies)
		}

		// Sent back (as a browser would over HTTPS), they authenticate and
		// never reach the upstream.
		r = gw.send(t, request{method: http.MethodGet, path: "/api/s/1",
			cookies: []*http.Cookie{{Name: "__Host-gw_access", Value: access.Value}, {Name: "__Host-gw_refresh", Value: refresh.Value}}})
		r.wantStatus(t, http.StatusOK)
		gw.wantIdentity(t, "/api/s/1", u, "user", sidOf(t, access.Value))
		if c := d.up.last(t, "/api/s/1").Header.Get("Cookie"); c != "" {
			t.Errorf("upstream got Cookie %q", c)
		}

		// The unprefixed name is someone else's cookie (a sibling domain
		// or plain-HTTP attacker could have set it): it does not count.
		r = gw.send(t, request{method: http.MethodGet, path: "/api/s/2",
			cookies: []*http.Cookie{{Name: "gw_access", Value: access.Value}}})
		r.wantProblem(t, http.StatusUnauthorized, "unauthenticated")
		if d.up.received("/api/s/2") {
			t.Error("an unprefixed cookie authenticated")
		}

		// Logout clears the prefixed cookies with the same attributes.
		r = gw.send(t, request{method: http.MethodPost, path: "/auth/logout",
			cookies: []*http.Cookie{{Name: "__Host-gw_access", Value: access.Value}}})
		r.wantStatus(t, http.StatusNoContent)
		wantCleared(t, r, "__Host-gw_access", "__Host-gw_refresh")
		for _, c := range r.cookies {
			if !c.Secure || c.Path != "/" || c.Domain != "" {
				t.Errorf("clearing cookie %q lacks Secure/Path=/ (a __Host- cookie is only replaced by one with them)", c.Raw)
			}
		}
	})
}

// TestRefreshRaces: concurrent refreshes with one token inside the grace
// window all succeed and the session lives on: every new token works once
// more.
func TestRefreshRaces(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, nil) // reuse_grace 10s
		u := gw.register(t, "frank")
		for _, n := range []int{2, 20} {
			t.Run(strconv.Itoa(n)+" concurrent", func(t *testing.T) {
				tk := gw.login(t, u)
				sid := sidOf(t, tk.Access)
				results := make([]*response, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range n {
					wg.Go(func() {
						<-start
						results[i], errs[i] = gw.sendErr(request{method: http.MethodPost, path: "/auth/refresh",
							json: map[string]any{"refresh_token": tk.Refresh}})
					})
				}
				close(start)
				wg.Wait()
				seen := map[string]bool{}
				var next []tokens
				for i, r := range results {
					if errs[i] != nil {
						t.Fatal(errs[i])
					}
					if r.status != http.StatusOK {
						t.Fatalf("refresh %d of %d: %d %s", i, n, r.status, r.body)
					}
					nt := d.tokensOf(t, r)
					if seen[nt.Refresh] {
						t.Fatalf("two concurrent refreshes got the same refresh token")
					}
					seen[nt.Refresh] = true
					if sidOf(t, nt.Access) != sid {
						t.Fatalf("a concurrent refresh moved to another session")
					}
					next = append(next, nt)
				}
				// The session lives: every access token works, and every
				// new refresh token rotates once more.
				for i, nt := range next {
					path := "/api/race/" + strconv.Itoa(n) + "/" + strconv.Itoa(i)
					gw.get(t, path, nt.Access).wantStatus(t, http.StatusOK)
					gw.refresh(t, nt.Refresh).wantStatus(t, http.StatusOK)
				}
			})
		}
	})
}
