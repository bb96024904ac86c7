package main

// The security suite, part 2: forged and misused access tokens. Each
// attack token is sent as a Bearer token for an allowed path
// (/api/items/...): the answer must be 401 and the upstream must not see the
// request. The deployment's real signing key is used to build tokens whose
// only fault is a claim, as an insider holding an old key or a confused
// issuer would; attacker keys for the forgeries.

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSecurityTokens(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	in, d := e.in, e.d
	priv, kid := d.signingKey(t)
	access := e.user.Access
	payload := jwtPart(t, access, 1)
	now := time.Now().Unix()
	f := newForger(t, priv, kid, func() map[string]any {
		c := maps.Clone(payload)
		c["exp"], c["iat"], c["jti"] = now+300, now, randomHex(t, 8)
		return c
	})
	claims, header, ours, theirs, pub, pubPEM := f.claims, f.header, f.ours, f.theirs, f.pub, f.pubPEM
	jwks := in.send(t, request{method: http.MethodGet, path: "/.well-known/jwks.json"}).body
	attackerJWK := f.attackerJWK()

	// The control: a token built here with the real key and unchanged
	// claims passes, so each refusal below is due to its one fault.
	control := signJWS(t, header(nil), claims(nil), ours)
	d.secret(control)
	e.do(t, "token-control", request{method: http.MethodGet, path: "/api/items/token-control", bearer: control}).wantStatus(t, http.StatusOK)
	assertion := e.reachedOnce(t, "token-control").Header.Get(in.cfg.Headers.Assertion)

	parts := strings.Split(access, ".")
	escalated := jwtPart(t, access, 1)
	escalated["roles"] = []string{"admin"}
	raw, _ := json.Marshal(escalated)

	cases := []struct {
		name, source, token string
	}{
		{"alg none", "RFC 8725 section 2.1; CVE-2015-9235; OWASP ASVS 5 V9.1.2", signJWS(t, header(func(h map[string]any) { h["alg"] = "none" }), claims(nil), nil)},
		{"alg None in another case", "RFC 8725 section 2.1 (case variants of none)", signJWS(t, header(func(h map[string]any) { h["alg"] = "nOnE" }), claims(nil), nil)},
		{"HS256 keyed with the raw public key", "RFC 8725 section 2.1 (algorithm confusion); CVE-2016-10555", signJWS(t, header(func(h map[string]any) { h["alg"] = "HS256" }), claims(nil), hmacWith(pub))},
		{"HS256 keyed with the public key PEM", "CVE-2016-10555; CVE-2022-29217 (PyJWT)", signJWS(t, header(func(h map[string]any) { h["alg"] = "HS256" }), claims(nil), hmacWith(pubPEM))},
		{"HS256 keyed with the JWKS document", "RFC 8725 section 3.1", signJWS(t, header(func(h map[string]any) { h["alg"] = "HS256" }), claims(nil), hmacWith(jwks))},
		{"alg of another family (ES256)", "RFC 8725 section 3.1 (use appropriate algorithms)", signJWS(t, header(func(h map[string]any) { h["alg"] = "ES256" }), claims(nil), ours)},
		{"signed by an attacker's key", "OWASP ASVS 5 V9.1.1", signJWS(t, header(nil), claims(nil), theirs)},
		{"attacker key embedded as jwk", "CVE-2018-0114 (node-jose embedded jwk); OWASP ASVS 5 V9.1.3", signJWS(t, header(func(h map[string]any) { h["jwk"] = attackerJWK }), claims(nil), theirs)},
		{"jku pointing at the attacker", "RFC 8725 section 3.10; OWASP ASVS 5 V9.1.3", signJWS(t, header(func(h map[string]any) { h["jku"] = "http://evil.example/jwks.json" }), claims(nil), theirs)},
		{"x5u pointing at the attacker", "RFC 7515 section 4.1.5; OWASP ASVS 5 V9.1.3", signJWS(t, header(func(h map[string]any) { h["x5u"] = "http://evil.example/cert.pem" }), claims(nil), theirs)},
		{"kid path traversal with an empty HMAC key", "kid injection (PortSwigger JWT 'kid' path traversal to /dev/null)", signJWS(t, header(func(h map[string]any) { h["alg"], h["kid"] = "HS256", "../../../../../../dev/null" }), claims(nil), hmacWith(nil))},
		{"kid SQL injection", "kid injection (OWASP JWT Cheat Sheet)", signJWS(t, header(func(h map[string]any) { h["kid"] = "x' UNION SELECT 'evil" }), claims(nil), theirs)},
		{"unknown kid", "RFC 7515 section 4.1.4", signJWS(t, header(func(h map[string]any) { h["kid"] = "evil-kid" }), claims(nil), ours)},
		{"no kid", "SPEC 5 (kid required)", signJWS(t, map[string]any{"alg": "EdDSA", "typ": "at+jwt"}, claims(nil), ours)},
		{"crit with an unknown extension", "RFC 7515 section 4.1.11 (crit must be understood)", signJWS(t, header(func(h map[string]any) { h["crit"] = []string{"evil"}; h["evil"] = true }), claims(nil), ours)},
		{"typ JWT instead of at+jwt", "RFC 8725 section 3.11 (explicit typing); RFC 9068 section 2.1", signJWS(t, header(func(h map[string]any) { h["typ"] = "JWT" }), claims(nil), ours)},
		{"no typ", "RFC 9068 section 4 (typ required)", signJWS(t, map[string]any{"alg": "EdDSA", "kid": kid}, claims(nil), ours)},
		{"the upstream assertion used as an access token", "RFC 8725 section 3.11 (token substitution across types); OWASP ASVS 5 V9.2.2", assertion},
		{"signature stripped", "RFC 8725 section 3.1; OWASP JWT Cheat Sheet", parts[0] + "." + parts[1] + "."},
		{"payload changed, signature kept", "OWASP ASVS 5 V9.1.1 (tampering)", parts[0] + "." + b64url.EncodeToString(raw) + "." + parts[2]},
		{"two signatures (JWS JSON confusion)", "CVE-2022-21449 class: extra segments", access + "." + parts[2]},
		{"expired", "RFC 7519 section 4.1.4; OWASP ASVS 5 V9.2.1", signJWS(t, header(nil), claims(func(c map[string]any) { c["exp"] = now - 120 }), ours)},
		{"no exp", "SPEC 5 (exp required); RFC 8725 section 3.10", signJWS(t, header(nil), claims(func(c map[string]any) { delete(c, "exp") }), ours)},
		{"exp as a string", "golang-jwt CVE-2024-51744 class (claim type confusion)", signJWS(t, header(nil), claims(func(c map[string]any) { c["exp"] = "9999999999" }), ours)},
		{"nbf in the future", "RFC 7519 section 4.1.5; OWASP ASVS 5 V9.2.1", signJWS(t, header(nil), claims(func(c map[string]any) { c["nbf"] = now + 3600 }), ours)},
		{"iat in the future", "SPEC 5 (a future iat is refused)", signJWS(t, header(nil), claims(func(c map[string]any) { c["iat"] = now + 3600 }), ours)},
		{"wrong aud", "RFC 8725 section 3.9; OWASP ASVS 5 V9.2.3", signJWS(t, header(nil), claims(func(c map[string]any) { c["aud"] = []string{"another-service"} }), ours)},
		{"no aud", "RFC 8725 section 3.9", signJWS(t, header(nil), claims(func(c map[string]any) { delete(c, "aud") }), ours)},
		{"aud as an empty list", "golang-jwt CVE-2020-26160 ([]string aud bypass)", signJWS(t, header(nil), claims(func(c map[string]any) { c["aud"] = []string{} }), ours)},
		{"wrong iss", "RFC 8725 section 3.8", signJWS(t, header(nil), claims(func(c map[string]any) { c["iss"] = "https://evil.example" }), ours)},
		{"no iss", "RFC 8725 section 3.8", signJWS(t, header(nil), claims(func(c map[string]any) { delete(c, "iss") }), ours)},
		{"refresh token as a Bearer token", "RFC 9700 section 4.14 (refresh tokens are for the token endpoint only)", e.user.Refresh},
		{"garbage", "RFC 6750 section 3.1 (invalid_token)", "not-a-token"},
		{"oversized token", "golang-jwt CVE-2025-30204 (excessive memory in header parsing)", strings.Repeat("a.", 5000) + "a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Source: see tc.source.
			d.secret(tc.token)
			r := e.do(t, tc.name, request{method: http.MethodGet, path: "/api/items/token", bearer: tc.token})
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401: %s", tc.source, r.status, r.body)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("no Bearer challenge: %q", r.header.Get("WWW-Authenticate"))
			}
			e.mustNotReach(t, tc.name)
		})
	}

	t.Run("token in the query string", func(t *testing.T) {
		// Source: RFC 6750 section 5.3 / RFC 9700 section 4.3.2 (tokens in
		// URLs leak); SPEC 5 reads tokens from the header and cookies only.
		r := e.do(t, "query-token", request{method: http.MethodGet, path: "/api/items/q?access_token=" + access})
		if r.status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", r.status)
		}
		e.mustNotReach(t, "query-token")
	})
	t.Run("two Authorization headers", func(t *testing.T) {
		// Source: RFC 9110 section 5.3 (a field that is not a list must not
		// repeat); ambiguity between components.
		r := e.do(t, "two-authz", request{method: http.MethodGet, path: "/api/items/t",
			header: http.Header{"Authorization": {"Bearer " + access, "Bearer " + control}}})
		if r.status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", r.status)
		}
		e.mustNotReach(t, "two-authz")
	})
	t.Run("Basic credentials", func(t *testing.T) {
		// Source: RFC 7617; the gateway accepts Bearer only.
		r := e.do(t, "basic", request{method: http.MethodGet, path: "/api/items/t",
			header: http.Header{"Authorization": {"Basic ZXZpbDpldmls"}}})
		if r.status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", r.status)
		}
		e.mustNotReach(t, "basic")
	})
	t.Run("a bad Authorization header wins over a good cookie", func(t *testing.T) {
		// Source: OWASP ASVS 5 V9.1.1; no fallback that lets a forged header
		// ride on a session.
		cookies := e.cookieLogin(t)
		r := e.do(t, "authz-over-cookie", request{method: http.MethodGet, path: "/api/items/t",
			header: http.Header{"Authorization": {"Bearer forged"}, "Cookie": {cookies}}})
		if r.status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", r.status)
		}
		e.mustNotReach(t, "authz-over-cookie")
	})
	t.Run("token of a logged-out session", func(t *testing.T) {
		// Source: OWASP ASVS 5 V7.4.1 (logout invalidates the session);
		// SPEC 5 (within 1 s, no round trip).
		u, tk := in.registerAs(t, "leaver", nil)
		_ = u
		in.send(t, request{method: http.MethodPost, path: "/auth/logout", bearer: tk.Access}).wantStatus(t, http.StatusNoContent)
		eventually(t, 2*time.Second, "revoked token refused", func() bool {
			return e.do(t, "revoked", request{method: http.MethodGet, path: "/public/probe", bearer: tk.Access}).status == http.StatusUnauthorized
		})
		r := e.do(t, "revoked-item", request{method: http.MethodGet, path: "/api/items/t", bearer: tk.Access})
		if r.status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", r.status)
		}
		e.mustNotReach(t, "revoked-item")
	})
}

// TestSecurityChallenges checks that every 401 the gateway writes carries a
// Bearer challenge, not only those of protected resources: RFC 9110 section
// 15.5.2 requires WWW-Authenticate on every 401, and the OpenAPI document's
// Unauthorized answer lists it. A refused token gets error="invalid_token"
// (RFC 6750 section 3.1); a missing one or a wrong password the bare
// challenge.
func TestSecurityChallenges(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, backendSQLite)
	in := d.start(t, nil)
	u := in.register(t, "challenged")
	wrong := "Wr0ng-" + randomHex(t, 6) + "-password"
	d.secret(wrong)
	const bare, invalid = `Bearer realm="gateway"`, `Bearer realm="gateway", error="invalid_token"`
	cases := []struct {
		name      string
		req       request
		code      string // problem code; "" for a page
		challenge string
	}{
		{"login with a wrong password", request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": u.Email, "password": wrong}}, "invalid_credentials", bare},
		{"login form with a wrong password", request{method: http.MethodPost, path: "/auth/login",
			contentType: "application/x-www-form-urlencoded", body: "email=" + url.QueryEscape(u.Email) + "&password=" + url.QueryEscape(wrong)}, "", bare},
		{"refresh without a token", request{method: http.MethodPost, path: "/auth/refresh"}, "unauthenticated", bare},
		{"refresh with an invalid token", request{method: http.MethodPost, path: "/auth/refresh",
			json: map[string]any{"refresh_token": "nope"}}, "invalid_token", invalid},
		{"refresh with an invalid cookie", request{method: http.MethodPost, path: "/auth/refresh",
			cookies: []*http.Cookie{{Name: in.cfg.Cookies.RefreshName, Value: "nope"}}}, "invalid_token", invalid},
		{"logout with an invalid refresh token", request{method: http.MethodPost, path: "/auth/logout",
			json: map[string]any{"refresh_token": "nope"}}, "invalid_token", invalid},
		{"logout without credentials", request{method: http.MethodPost, path: "/auth/logout"}, "unauthenticated", bare},
		{"me without credentials", request{method: http.MethodGet, path: "/auth/me"}, "unauthenticated", bare},
		{"me with an invalid token", request{method: http.MethodGet, path: "/auth/me", bearer: "nope"}, "invalid_token", invalid},
		// SPEC 6: a request presenting a Bearer token is an API client,
		// even one that accepts HTML: 401, not 303 to the login page.
		{"page load with an invalid Bearer token", request{method: http.MethodGet, path: "/app/page", bearer: "nope",
			header: http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}}, "invalid_token", invalid},
		{"navigation with Basic credentials", request{method: http.MethodGet, path: "/app/page",
			header: http.Header{"Accept": {"text/html"}, "Sec-Fetch-Dest": {"document"}, "Authorization": {"Basic ZXZpbDpldmls"}}}, "invalid_token", invalid},
		{"admin page load with an invalid Bearer token", request{method: http.MethodGet, path: "/auth/admin/users", bearer: "nope",
			header: http.Header{"Accept": {"text/html"}}}, "invalid_token", invalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := in.send(t, tc.req)
			if tc.code != "" {
				r.wantProblem(t, http.StatusUnauthorized, tc.code)
			} else {
				r.wantStatus(t, http.StatusUnauthorized)
			}
			if got := r.header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want [%q]", got, tc.challenge)
			}
		})
	}
}
