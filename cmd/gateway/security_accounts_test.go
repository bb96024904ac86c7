package main

// The security suite, part 3: the account flows. Refresh rotation, replay
// and races; cookie flags, fixation and revocation; CSRF in cookie mode;
// login enumeration and brute force (with limiter evasion through forged
// client-IP headers); email and password normalisation; password reset
// link poisoning; open redirects after login; and failing closed when
// Redis, the database or the policy file fails.

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/internal/testenv"
)

func TestSecurityRefresh(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, func(c *config.Config) { c.Tokens.ReuseGrace = time.Second })
	in := e.in
	fresh := func(t *testing.T) tokens {
		t.Helper()
		return in.login(t, e.userAcct)
	}
	t.Run("rotation issues a new token", func(t *testing.T) {
		// Source: RFC 9700 section 4.14.2 (refresh token rotation).
		tk := fresh(t)
		r := in.refresh(t, tk.Refresh)
		r.wantStatus(t, http.StatusOK)
		if next := in.d.tokensOf(t, r); next.Refresh == tk.Refresh || next.Refresh == "" {
			t.Errorf("refresh did not rotate the token")
		}
	})
	t.Run("replay after the grace revokes the session", func(t *testing.T) {
		// Source: RFC 9700 section 4.14.2 (reuse detection revokes the
		// family); OWASP ASVS 5 V7.2.4.
		tk := fresh(t)
		r := in.refresh(t, tk.Refresh)
		r.wantStatus(t, http.StatusOK)
		next := in.d.tokensOf(t, r)
		time.Sleep(1200 * time.Millisecond)
		if r := in.refresh(t, tk.Refresh); r.status != http.StatusUnauthorized {
			t.Fatalf("replayed refresh token: %d, want 401", r.status)
		}
		if r := in.refresh(t, next.Refresh); r.status != http.StatusUnauthorized {
			t.Errorf("the thief's replay did not end the session: the current token still refreshes (%d)", r.status)
		}
		eventually(t, 2*time.Second, "the session's access token refused", func() bool {
			return e.do(t, "replayed-session", request{method: http.MethodGet, path: "/api/items/replayed", bearer: next.Access}).status == http.StatusUnauthorized
		})
	})
	t.Run("concurrent refreshes inside the grace", func(t *testing.T) {
		// Source: RFC 9700 section 4.14.2 ("two tabs"); SPEC 5: concurrent
		// refreshes must not log the user out.
		tk := fresh(t)
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		got := make([]string, 8)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := in.sendErr(request{method: http.MethodPost, path: "/auth/refresh", json: map[string]any{"refresh_token": tk.Refresh}})
				if err != nil {
					return
				}
				statuses[i] = r.status
				if r.status == http.StatusOK {
					got[i] = in.d.tokensOf(t, r).Refresh
				}
			}()
		}
		wg.Wait()
		ok := 0
		for i, s := range statuses {
			if s >= 500 || s == 0 {
				t.Errorf("refresh %d: status %d", i, s)
			}
			if s == http.StatusOK {
				ok++
			}
		}
		if ok == 0 {
			t.Fatalf("no concurrent refresh succeeded: %v", statuses)
		}
		// The session lives on: one of the new tokens refreshes again.
		i := slices.IndexFunc(got, func(s string) bool { return s != "" })
		in.refresh(t, got[i]).wantStatus(t, http.StatusOK)
	})
	t.Run("access token as a refresh token", func(t *testing.T) {
		// Source: RFC 8725 section 3.11 (token type confusion).
		if r := in.refresh(t, fresh(t).Access); r.status != http.StatusUnauthorized && r.status != http.StatusBadRequest {
			t.Errorf("status %d, want 401 or 400", r.status)
		}
	})
	t.Run("refresh after logout", func(t *testing.T) {
		// Source: OWASP ASVS 5 V7.4.1 (logout ends the session).
		tk := fresh(t)
		in.send(t, request{method: http.MethodPost, path: "/auth/logout", bearer: tk.Access}).wantStatus(t, http.StatusNoContent)
		if r := in.refresh(t, tk.Refresh); r.status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", r.status)
		}
	})
	t.Run("malformed refresh token", func(t *testing.T) {
		// Source: SPEC 9 (bad input is a 4xx, never a 500).
		for _, tok := range []string{"", "x", strings.Repeat("A", 43) + "=", strings.Repeat("é", 100), "' OR 1=1 --"} {
			r := in.send(t, request{method: http.MethodPost, path: "/auth/refresh", json: map[string]any{"refresh_token": tok}})
			if r.status < 400 || r.status >= 500 {
				t.Errorf("refresh_token %q: status %d, want a 4xx", tok, r.status)
			}
		}
	})
}

func TestSecurityCookies(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	in := e.in
	loginCookies := func(t *testing.T, in *instance, extra http.Header) *response {
		t.Helper()
		r := in.send(t, request{method: http.MethodPost, path: "/auth/login", header: extra,
			json: map[string]any{"email": e.userAcct.Email, "password": e.userAcct.Password, "cookie": true}})
		r.wantStatus(t, http.StatusOK)
		for _, c := range r.cookies {
			in.d.secret(c.Value)
		}
		return r
	}
	t.Run("flags in secure mode", func(t *testing.T) {
		// Source: OWASP ASVS 5 V3.3.1 (Secure, __Host-), V3.3.2 (SameSite),
		// V3.3.4 (HttpOnly); RFC 6265bis section 4.1.3.2.
		sec := in.d.start(t, func(c *config.Config) { c.Cookies.Secure = true; c.Policy.File = in.cfg.Policy.File })
		r := loginCookies(t, sec, nil)
		lines := r.header.Values("Set-Cookie")
		if len(lines) != 2 {
			t.Fatalf("Set-Cookie %q, want two cookies", lines)
		}
		for _, l := range lines {
			for _, want := range []string{"__Host-", "HttpOnly", "Secure", "SameSite=Lax", "Path=/"} {
				if !strings.Contains(l, want) {
					t.Errorf("Set-Cookie %q lacks %s", l, want)
				}
			}
			if strings.Contains(strings.ToLower(l), "domain=") {
				t.Errorf("Set-Cookie %q has a Domain (a __Host- cookie must not)", l)
			}
		}
		if !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
			t.Errorf("Cache-Control %q on a credential answer", r.header.Get("Cache-Control"))
		}
		if m := r.object(t); m["access_token"] != nil || m["refresh_token"] != nil {
			t.Errorf("cookie mode put tokens in the body")
		}
	})
	t.Run("fixation: planted cookies are replaced at login", func(t *testing.T) {
		// Source: OWASP Session Management Cheat Sheet ("Session Fixation");
		// OWASP ASVS 5 V7.2.4 (new session token at authentication).
		r := loginCookies(t, in, http.Header{"Cookie": {"gw_access=attacker-chosen; gw_refresh=attacker-chosen"}})
		for _, c := range r.cookies {
			if c.Value == "attacker-chosen" {
				t.Errorf("login kept the planted %s", c.Name)
			}
		}
	})
	t.Run("planted garbage cookies are anonymous", func(t *testing.T) {
		// Source: OWASP ASVS 5 V7.2.1 (session tokens verified by the
		// backend).
		r := e.do(t, "garbage-cookie", request{method: http.MethodGet, path: "/api/items/c",
			header: http.Header{"Cookie": {"gw_access=attacker-chosen; gw_refresh=attacker-chosen"}}})
		if r.status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", r.status)
		}
		e.mustNotReach(t, "garbage-cookie")
	})
	t.Run("look-alike cookie names are not credentials", func(t *testing.T) {
		// Source: cookie tossing / name confusion (RFC 6265bis section
		// 4.1.3; PortSwigger "cookie prefix bypass").
		cookies := e.cookieLogin(t)
		access := ""
		for _, p := range strings.Split(cookies, "; ") {
			if v, ok := strings.CutPrefix(p, "gw_access="); ok {
				access = v
			}
		}
		for i, name := range []string{"GW_ACCESS", "__Secure-gw_access", "__host-gw_access", "gw%5Faccess"} {
			c := "look-alike-" + string(rune('a'+i))
			r := e.do(t, c, request{method: http.MethodGet, path: "/api/items/c", header: http.Header{"Cookie": {name + "=" + access}}})
			if r.status != http.StatusUnauthorized {
				t.Errorf("cookie %q authenticated: status %d", name, r.status)
			}
			e.mustNotReach(t, c)
		}
	})
	t.Run("revocation: logout ends the cookie session", func(t *testing.T) {
		// Source: OWASP ASVS 5 V7.4.1; SPEC 5 (every replica within 1 s).
		cookies := e.cookieLogin(t)
		r := e.do(t, "before-logout", request{method: http.MethodGet, path: "/api/items/c", header: http.Header{"Cookie": {cookies}}})
		r.wantStatus(t, http.StatusOK)
		out := in.send(t, request{method: http.MethodPost, path: "/auth/logout", header: http.Header{"Cookie": {cookies}}})
		out.wantStatus(t, http.StatusNoContent)
		for _, c := range out.cookies {
			if c.MaxAge >= 0 {
				t.Errorf("logout did not expire %s", c.Name)
			}
		}
		eventually(t, 2*time.Second, "the logged-out cookies refused", func() bool {
			return e.do(t, "after-logout", request{method: http.MethodGet, path: "/api/items/after-logout", header: http.Header{"Cookie": {cookies}}}).status == http.StatusUnauthorized
		})
	})
}

func TestSecurityCSRF(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	cookies := e.cookieLogin(t)
	cases := []struct {
		name, source, method, path string
		header                     http.Header
		status                     int
	}{
		{"cross-site POST", "OWASP CSRF Prevention Cheat Sheet (Fetch Metadata); OWASP ASVS 5 V3.5.1", http.MethodPost, "/api/items/csrf", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"same-site POST from a sibling subdomain", "OWASP CSRF Cheat Sheet (same-site is not same-origin)", http.MethodPost, "/api/items/csrf", http.Header{"Sec-Fetch-Site": {"same-site"}}, 403},
		{"foreign Origin without Fetch Metadata", "OWASP CSRF Cheat Sheet (verifying origin with standard headers)", http.MethodPost, "/api/items/csrf", http.Header{"Origin": {"http://evil.example"}}, 403},
		{"Origin null", "OWASP CSRF Cheat Sheet (sandboxed iframes send Origin: null)", http.MethodPost, "/api/items/csrf", http.Header{"Origin": {"null"}}, 403},
		{"text/plain simple request", "OWASP CSRF Cheat Sheet (simple requests skip preflight)", http.MethodPost, "/api/items/csrf", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Content-Type": {"text/plain"}}, 403},
		{"cross-site PUT", "OWASP ASVS 5 V3.5.1", http.MethodPut, "/api/items/1", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"forced logout", "OWASP CSRF Cheat Sheet (logout CSRF)", http.MethodPost, "/auth/logout", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"login CSRF", "OWASP CSRF Cheat Sheet (login CSRF)", http.MethodPost, "/auth/login", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"cross-site profile change", "OWASP ASVS 5 V3.5.1", http.MethodPatch, "/auth/me", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"same-origin POST", "control: Fetch Metadata same-origin passes", http.MethodPost, "/api/items/csrf-ok", http.Header{"Sec-Fetch-Site": {"same-origin"}}, 200},
		{"cross-site GET", "control: safe methods pass (SameSite=Lax semantics, RFC 6265bis section 5.6.7.1)", http.MethodGet, "/api/items/csrf-get", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Source: see tc.source.
			h := tc.header.Clone()
			h.Set("Cookie", cookies)
			r := e.do(t, tc.name, request{method: tc.method, path: tc.path, header: h, body: "{}", contentType: h.Get("Content-Type")})
			if r.status != tc.status {
				t.Errorf("%s %s: status %d, want %d: %s", tc.method, tc.path, r.status, tc.status, r.body)
			}
			if tc.status == 403 {
				e.mustNotReach(t, tc.name)
			}
		})
	}
}

// TestSecurityEnumeration: login answers, and their time, say nothing about
// which accounts exist. The abuse limits are off here (the harness
// default), so that every attempt is hashed and the limiter is not what is
// measured.
func TestSecurityEnumeration(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	in := e.in
	login := func(email, pw string, h http.Header) *response {
		in.d.secret(pw)
		return in.send(t, request{method: http.MethodPost, path: "/auth/login", header: h, json: map[string]any{"email": email, "password": pw}})
	}
	t.Run("unknown account and wrong password answer alike", func(t *testing.T) {
		// Source: OWASP Authentication Cheat Sheet ("Authentication and
		// Error Messages"); OWASP ASVS 5 V6.3.8.
		victim := in.register(t, "enum")
		a := login(victim.Email, "wrong-password-1", nil)
		b := login("nobody-"+randomHex(t, 4)+"@example.com", "wrong-password-1", nil)
		if a.status != b.status || string(a.body) != string(b.body) {
			t.Errorf("wrong password %d %s, unknown account %d %s: they differ", a.status, a.body, b.status, b.body)
		}
	})
	t.Run("timing of unknown and known accounts", func(t *testing.T) {
		// Source: OWASP Authentication Cheat Sheet (response time
		// enumeration); Caddy basicauth fake hash. Measured as a ratio of
		// medians and logged; asserted only against a gross leak (the test
		// machine is shared and noisy).
		victim := in.register(t, "timing")
		// Interleaved, so that the shared machine's load shifts both
		// series alike; the medians of 9 each.
		ghost := "ghost-" + randomHex(t, 4) + "@example.com"
		var ks, us []time.Duration
		for range 9 {
			for _, email := range []string{victim.Email, ghost} {
				start := time.Now()
				login(email, "wrong-password-2", nil)
				if d := time.Since(start); email == ghost {
					us = append(us, d)
				} else {
					ks = append(ks, d)
				}
			}
		}
		median := func(ds []time.Duration) time.Duration {
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			return ds[len(ds)/2]
		}
		known, unknown := median(ks), median(us)
		ratio := float64(known) / float64(unknown)
		t.Logf("login timing: known account %v, unknown %v, ratio %.2f", known, unknown, ratio)
		if ratio > 10 || ratio < 0.1 {
			t.Errorf("login timing ratio %.2f (known %v, unknown %v): the answer time tells accounts apart", ratio, known, unknown)
		}
	})
}

func TestSecurityLoginAbuse(t *testing.T) {
	t.Parallel()
	limit := config.Rate{Limit: 3, Window: time.Minute}
	e := newSecEnv(t, backendSQLite, func(c *config.Config) {
		c.RateLimits.LoginPerAccountIP = limit
	})
	in := e.in
	login := func(email, pw string, h http.Header) *response {
		in.d.secret(pw)
		return in.send(t, request{method: http.MethodPost, path: "/auth/login", header: h, json: map[string]any{"email": email, "password": pw}})
	}
	forged := []struct{ name, source, header string }{
		{"X-Forwarded-For", "OWASP ASVS 5 V6.3.1 (brute force); limiter evasion via XFF (CWE-348)", "X-Forwarded-For"},
		{"X-Real-IP", "CWE-348 (use of less trusted source)", "X-Real-IP"},
		{"Forwarded", "RFC 7239 section 8.1", "Forwarded"},
		{"True-Client-IP", "CWE-348", "True-Client-IP"},
	}
	for _, tc := range forged {
		t.Run("brute force with forged "+tc.name, func(t *testing.T) {
			// Source: see tc.source. The per-account-and-address limit (3)
			// holds however the client claims to be elsewhere.
			victim := in.register(t, "brute")
			var last *response
			for i := range 5 {
				v := "203.0.113." + string(rune('1'+i))
				if tc.header == "Forwarded" {
					v = "for=" + v
				}
				last = login(victim.Email, "guess-"+randomHex(t, 3), http.Header{tc.header: {v}})
				if i < 3 && last.status != http.StatusUnauthorized {
					t.Fatalf("attempt %d: status %d, want 401", i+1, last.status)
				}
			}
			if last.status != http.StatusTooManyRequests {
				t.Fatalf("5th guess with a forged %s: status %d, want 429", tc.header, last.status)
			}
			// Over the limit, even the right password is refused: the
			// answer must not confirm a guess.
			if r := login(victim.Email, victim.Password, nil); r.status != http.StatusTooManyRequests {
				t.Errorf("the right password while limited: status %d, want 429", r.status)
			}
		})
	}
}

func TestSecurityNormalisation(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	in := e.in
	register := func(email, pw string) *response {
		in.d.secret(pw)
		return in.send(t, request{method: http.MethodPost, path: "/auth/register", json: map[string]any{"email": email, "password": pw}})
	}
	login := func(email, pw string) *response {
		return in.send(t, request{method: http.MethodPost, path: "/auth/login", json: map[string]any{"email": email, "password": pw}})
	}
	local := "norm" + randomHex(t, 3)
	pw := newPassword(t)
	register("Mixed."+local+"@Example.COM", pw).wantStatus(t, http.StatusCreated)
	t.Run("case and spaces", func(t *testing.T) {
		// Source: OWASP ASVS 5 V6.2 / SPEC 9 (trimmed, case-insensitive).
		login("  mixed."+local+"@example.com ", pw).wantStatus(t, http.StatusOK)
		if r := register("MIXED."+strings.ToUpper(local)+"@EXAMPLE.COM", newPassword(t)); r.status != http.StatusConflict {
			t.Errorf("a second account for the same address in upper case: %d", r.status)
		}
	})
	t.Run("fullwidth letters", func(t *testing.T) {
		// Source: Unicode NFKC account takeover (Spotify 2013 'canonical
		// usernames'); SPEC 9.
		if r := register("ｍｉｘｅｄ."+local+"@example.com", newPassword(t)); r.status != http.StatusConflict {
			t.Errorf("fullwidth duplicate: status %d, want 409", r.status)
		}
	})
	t.Run("Kelvin sign", func(t *testing.T) {
		// Source: Unicode case folding (U+212A folds to k); GitHub's 2019
		// password-reset collision via dotless i.
		k := "k" + randomHex(t, 3)
		register(k+"@example.com", pw).wantStatus(t, http.StatusCreated)
		if r := register("\u212a"+k[1:]+"@example.com", newPassword(t)); r.status != http.StatusConflict {
			t.Errorf("Kelvin-sign duplicate: status %d, want 409", r.status)
		}
	})
	t.Run("invisible characters", func(t *testing.T) {
		// Source: SPEC 9 (addresses with control or invisible characters
		// are refused); OWASP ASVS 5 V6.2.
		for _, addr := range []string{"mixed." + local + "\u200b@example.com", "mixed." + local + "\u00ad@example.com", "a\x00b@example.com"} {
			if r := register(addr, newPassword(t)); r.status != http.StatusBadRequest {
				t.Errorf("%q: status %d, want 400", addr, r.status)
			}
		}
	})
	t.Run("look-alike script is another account", func(t *testing.T) {
		// Source: IDN homograph (UTS #39); a Cyrillic 'а' must not log in
		// as the Latin address.
		if r := login("\u043cixed."+local+"@example.com", pw); r.status != http.StatusUnauthorized {
			t.Errorf("Cyrillic look-alike logged in: %d", r.status)
		}
	})
	t.Run("password over max_length", func(t *testing.T) {
		// Source: OWASP ASVS 5 V6.2.9 (long passwords) and long-password
		// DoS (CVE-2013-1443, Django); SPEC 9: 400 before hashing.
		start := time.Now()
		r := login("mixed."+local+"@example.com", strings.Repeat("p", 10_000))
		if r.status != http.StatusBadRequest {
			t.Errorf("status %d, want 400", r.status)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("a 10 kB password took %v", took)
		}
	})
	t.Run("password with a NUL byte", func(t *testing.T) {
		// Source: bcrypt truncation at NUL (CVE-2020-26263 class): the
		// password is compared whole.
		r := login("mixed."+local+"@example.com", pw+"\x00extra")
		if r.status == http.StatusOK {
			t.Errorf("a longer password with a NUL logged in")
		}
	})
}

// TestSecurityPasswordReset: the reset link always uses server.public_url,
// whatever Host or X-Forwarded-Host the request carried, and the answer
// is the same for every address.
func TestSecurityPasswordReset(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, func(c *config.Config) { c.Server.PublicURL = "https://gw.example" })
	in := e.in
	forgot := func(email string, h http.Header) *response {
		return in.send(t, request{method: http.MethodPost, path: "/auth/password/forgot", header: h, json: map[string]any{"email": email}})
	}
	links := func() []string {
		var out []string
		for _, le := range e.d.logs.All() {
			for _, f := range le.Context {
				if i := strings.Index(f.String, "/auth/password/reset?token="); i >= 0 {
					out = append(out, f.String)
				}
			}
		}
		return out
	}
	poison := []struct {
		name, source string
		header       http.Header
	}{
		{"Host", "PortSwigger 'password reset poisoning'; OWASP Forgot Password Cheat Sheet", http.Header{"Host": {"evil.example"}}},
		{"X-Forwarded-Host", "PortSwigger 'password reset poisoning via X-Forwarded-Host'", http.Header{"X-Forwarded-Host": {"evil.example"}}},
		{"Forwarded host", "RFC 7239 host parameter", http.Header{"Forwarded": {"host=evil.example"}}},
		{"X-Host", "host override headers (X-Host, X-Forwarded-Server)", http.Header{"X-Host": {"evil.example"}, "X-Forwarded-Server": {"evil.example"}}},
	}
	for _, tc := range poison {
		t.Run("link poisoning via "+tc.name, func(t *testing.T) {
			// Source: see tc.source.
			before := len(links())
			r := forgot(e.userAcct.Email, tc.header)
			if r.status != http.StatusAccepted {
				t.Fatalf("status %d, want 202: %s", r.status, r.body)
			}
			var got []string
			eventually(t, 5*time.Second, "the reset mail", func() bool {
				got = links()
				return len(got) > before
			})
			for _, l := range got[before:] {
				if strings.Contains(l, "evil.example") || !strings.Contains(l, "https://gw.example/auth/password/reset?token=") {
					t.Errorf("reset mail with a poisoned link: %q", l)
				}
			}
		})
	}
	t.Run("same answer for unknown addresses", func(t *testing.T) {
		// Source: OWASP Forgot Password Cheat Sheet (consistent message);
		// OWASP ASVS 5 V6.3.8.
		a := forgot(e.userAcct.Email, nil)
		b := forgot("ghost-"+randomHex(t, 4)+"@example.com", nil)
		if a.status != http.StatusAccepted || b.status != a.status || string(a.body) != string(b.body) {
			t.Errorf("known %d %s, unknown %d %s", a.status, a.body, b.status, b.body)
		}
	})
	t.Run("a reset token is single-use and not a session", func(t *testing.T) {
		// Source: OWASP Forgot Password Cheat Sheet (single use); RFC 8725
		// section 3.11 (token confusion).
		before := len(links())
		forgot(e.userAcct.Email, nil).wantStatus(t, http.StatusAccepted)
		var got []string
		eventually(t, 5*time.Second, "the reset mail", func() bool { got = links(); return len(got) > before })
		i := strings.Index(got[len(got)-1], "token=")
		raw := got[len(got)-1][i+len("token="):]
		raw = strings.FieldsFunc(raw, func(r rune) bool { return r == ' ' || r == '\n' || r == '"' })[0]
		tok, _ := url.QueryUnescape(raw)
		r := e.do(t, "reset-token-bearer", request{method: http.MethodGet, path: "/api/items/r", bearer: tok})
		if r.status != http.StatusUnauthorized {
			t.Errorf("reset token as a Bearer token: %d", r.status)
		}
		e.mustNotReach(t, "reset-token-bearer")
		newPw := newPassword(t)
		in.d.secret(newPw)
		in.send(t, request{method: http.MethodPost, path: "/auth/password/reset", json: map[string]any{"token": tok, "new_password": newPw}}).wantStatus(t, http.StatusNoContent)
		if r := in.send(t, request{method: http.MethodPost, path: "/auth/password/reset", json: map[string]any{"token": tok, "new_password": newPassword(t)}}); r.status < 400 || r.status >= 500 {
			t.Errorf("second use of a reset token: status %d, want a 4xx", r.status)
		}
		e.userAcct.Password = newPw
	})
}

// TestSecurityLoginRedirect: the rd of the login form is honoured only for
// same-origin paths.
func TestSecurityLoginRedirect(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	cases := []struct{ name, source, rd string }{
		{"absolute URL", "CWE-601; OWASP Unvalidated Redirects Cheat Sheet", "https://evil.example/"},
		{"protocol-relative", "oauth2-proxy CVE-2020-5233 class ('//' redirects)", "//evil.example"},
		{"backslash", "oauth2-proxy CVE-2020-5233 ('/\\' is '//' to browsers)", `/\evil.example`},
		{"tab inside", "oauth2-proxy CVE-2020-4037 ('/<tab>/evil')", "/\t/evil.example"},
		{"encoded slashes", "oauth2-proxy GHSA-5m6c-jp6f-2vcv class", "/%2F%2Fevil.example"},
		{"double-encoded slashes", "CVE-2021-42013 class", "/%252F%252Fevil.example"},
		{"javascript scheme", "OWASP XSS via redirect (javascript: URLs)", "javascript:alert(1)"},
		{"userinfo", "CWE-601 (userinfo confusion)", "/@evil.example"},
		{"data URL", "CWE-601", "data:text/html,<script>alert(1)</script>"},
	}
	cl, _ := e.in.browser(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Source: see tc.source.
			form := url.Values{"email": {e.userAcct.Email}, "password": {e.userAcct.Password}, "rd": {tc.rd}}
			r := e.in.send(t, request{method: http.MethodPost, path: "/auth/login?rd=" + url.QueryEscape(tc.rd), client: cl,
				body: form.Encode(), contentType: "application/x-www-form-urlencoded", header: http.Header{"Sec-Fetch-Site": {"same-origin"}}})
			loc := r.header.Get("Location")
			if r.status != http.StatusSeeOther {
				t.Fatalf("status %d, want 303: %s", r.status, r.body)
			}
			u, err := url.Parse(loc)
			if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.Contains(loc, `\`) || strings.Contains(strings.ToLower(loc), "evil") {
				t.Errorf("rd %q redirected to %q", tc.rd, loc)
			}
		})
	}
	t.Run("same-origin path is honoured", func(t *testing.T) {
		// Source: control (SPEC 4).
		form := url.Values{"email": {e.userAcct.Email}, "password": {e.userAcct.Password}, "rd": {"/api/items/next?x=1"}}
		r := e.in.send(t, request{method: http.MethodPost, path: "/auth/login", client: cl, body: form.Encode(),
			contentType: "application/x-www-form-urlencoded", header: http.Header{"Sec-Fetch-Site": {"same-origin"}}})
		if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || loc != "/api/items/next?x=1" {
			t.Errorf("status %d Location %q, want 303 to the rd", r.status, loc)
		}
	})
}

// TestSecurityFailClosed: when Redis, the database or the policy file
// fails, nothing is let through that the policy in force would refuse, and
// what needs the failed store answers 503.
func TestSecurityFailClosed(t *testing.T) {
	t.Parallel()
	rds := testenv.StartRedis(t)
	pg := testenv.StartPostgres(t)
	e := newSecEnv(t, backendSQLite, func(c *config.Config) {
		c.Storage.DatabaseURL = pg.URL()
		c.Storage.Sessions = "redis"
		c.Storage.Redis = config.Redis{URL: rds.URL(), Addrs: []string{}, KeyPrefix: "gwtest:secfail:"}
		c.Policy.Watch = true
	})
	in := e.in
	t.Run("Redis down", func(t *testing.T) {
		// Source: OWASP ASVS 5 V16.5.2/V16.5.3 (fail securely); SPEC 9.
		rds.Stop()
		defer rds.Start()
		if r := in.send(t, request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": e.userAcct.Email, "password": e.userAcct.Password}}); r.status != http.StatusServiceUnavailable {
			t.Errorf("login with Redis down: %d, want 503", r.status)
		}
		if r := in.refresh(t, e.user.Refresh); r.status != http.StatusServiceUnavailable {
			t.Errorf("refresh with Redis down: %d, want 503", r.status)
		}
		// Access tokens still verify; the policy still decides.
		e.do(t, "redis-down-allowed", request{method: http.MethodGet, path: "/api/items/x", bearer: e.user.Access}).wantStatus(t, http.StatusOK)
		if r := e.do(t, "redis-down-denied", request{method: http.MethodGet, path: "/admin/x", bearer: e.user.Access}); r.status != http.StatusForbidden {
			t.Errorf("denied path with Redis down: %d", r.status)
		}
		e.mustNotReach(t, "redis-down-denied")
	})
	t.Run("database down", func(t *testing.T) {
		// Source: OWASP ASVS 5 V16.5.3 (fail closed); SPEC 9.
		pg.Stop()
		defer pg.Start()
		r := in.send(t, request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": e.userAcct.Email, "password": e.userAcct.Password}})
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("login with the database down: %d, want 503", r.status)
		}
		if r := e.do(t, "db-down-denied", request{method: http.MethodGet, path: "/admin/x", bearer: e.user.Access}); r.status != http.StatusForbidden {
			t.Errorf("denied path: %d", r.status)
		}
		e.mustNotReach(t, "db-down-denied")
		e.do(t, "db-down-allowed", request{method: http.MethodGet, path: "/api/items/x", bearer: e.user.Access}).wantStatus(t, http.StatusOK)
	})
	t.Run("policy file broken", func(t *testing.T) {
		// Source: OWASP ASVS 5 V16.5.3; SPEC 7 (an invalid file is refused
		// whole, the old policy stays). An attacker or a typo that writes
		// an allow-everything line into a broken file gains nothing.
		writeFileAtomic(t, in.cfg.Policy.File, "p, anonymous, /*, *\nthis line is not policy\n")
		eventually(t, 5*time.Second, "the refused reload logged", func() bool {
			return e.d.logs.Filter(func(le observer.LoggedEntry) bool { return strings.Contains(le.Message, "polic") && le.Level >= 1 }).Len() > 0
		})
		if r := e.do(t, "broken-policy", request{method: http.MethodGet, path: "/admin/x"}); r.status != http.StatusUnauthorized {
			t.Errorf("anonymous /admin/x after a broken policy: %d, want 401", r.status)
		}
		e.mustNotReach(t, "broken-policy")
	})
	t.Run("policy file removed", func(t *testing.T) {
		// Source: OWASP ASVS 5 V16.5.3 (fail closed, not open).
		if err := os.Remove(in.cfg.Policy.File); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2500 * time.Millisecond)
		if r := e.do(t, "removed-policy", request{method: http.MethodGet, path: "/admin/x", bearer: e.user.Access}); r.status != http.StatusForbidden {
			t.Errorf("/admin/x after the policy file went away: %d, want 403", r.status)
		}
		e.mustNotReach(t, "removed-policy")
		e.do(t, "removed-policy-allowed", request{method: http.MethodGet, path: "/api/items/x", bearer: e.user.Access}).wantStatus(t, http.StatusOK)
	})
	t.Run("gateway refuses to start without a policy", func(t *testing.T) {
		// Source: OWASP ASVS 5 V16.5.3: no policy must not mean allow-all.
		cfg := e.d.config(t, func(c *config.Config) { c.Policy.File = "/nonexistent/policy.csv" })
		if a, err := build(context.Background(), cfg, e.d.logger, nil, false); err == nil {
			a.close()
			t.Fatalf("build succeeded without a policy file")
		}
	})
}
