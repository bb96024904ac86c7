package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/token"
)

// TestTokenAttacks presents forged, altered and malformed access tokens on
// a proxied route and on /auth/me: each is a 401 problem with a Bearer
// challenge, and none reaches the upstream. A control token, forged exactly
// as the gateway signs, is accepted, so that every refusal is due to the
// one thing its case changes.
func TestTokenAttacks(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, nil)
		u := gw.register(t, "mallory")
		tk := gw.login(t, u)
		sid := sidOf(t, tk.Access)
		priv, kid := d.signingKey(t)
		now := time.Now().Unix()
		f := newForger(t, priv, kid, func() map[string]any {
			return map[string]any{
				"iss": gw.cfg.IssuerOrDefault(), "aud": []string{gw.cfg.Tokens.Audience},
				"sub": u.ID, "sid": sid, "exp": now + 300, "iat": now, "jti": randomHex(t, 16),
				"roles": []string{"user"}, "email": u.Email,
			}
		})
		claims, header, ours, theirs, pub, pubPEM := f.claims, f.header, f.ours, f.theirs, f.pub, f.pubPEM
		jwks := gw.send(t, request{method: http.MethodGet, path: "/.well-known/jwks.json"}).body

		control := signJWS(t, header(nil), claims(nil), ours)
		d.secret(control)
		gw.get(t, "/api/attack/control", control).wantStatus(t, http.StatusOK)
		assertion := d.up.last(t, "/api/attack/control").Header.Get("X-Auth-Assertion")

		// The real token with its payload changed (roles: admin) and its
		// signature kept; and with its signature altered.
		parts := strings.Split(tk.Access, ".")
		payload := jwtPart(t, tk.Access, 1)
		payload["roles"] = []string{"admin"}
		raw, _ := json.Marshal(payload)
		tampered := parts[0] + "." + b64url.EncodeToString(raw) + "." + parts[2]
		sig, _ := b64url.DecodeString(parts[2])
		sig[0] ^= 1
		badSig := parts[0] + "." + parts[1] + "." + b64url.EncodeToString(sig)

		bearer := func(tok string) []string { return []string{"Bearer " + tok} }
		cases := []struct {
			name  string
			authz []string // Authorization header lines
			code  string
		}{
			{"alg none", bearer(signJWS(t, header(func(h map[string]any) { h["alg"] = "none" }), claims(nil), nil)), "invalid_token"},
			{"alg none, no kid", bearer(signJWS(t, map[string]any{"alg": "none", "typ": "at+jwt"}, claims(nil), nil)), "invalid_token"},
			{"HS256 keyed with the raw public key", bearer(signJWS(t, header(func(h map[string]any) { h["alg"] = "HS256" }), claims(nil), hmacWith(pub))), "invalid_token"},
			{"HS256 keyed with the public key PEM", bearer(signJWS(t, header(func(h map[string]any) { h["alg"] = "HS256" }), claims(nil), hmacWith(pubPEM))), "invalid_token"},
			{"HS256 keyed with the JWKS", bearer(signJWS(t, header(func(h map[string]any) { h["alg"] = "HS256" }), claims(nil), hmacWith(jwks))), "invalid_token"},
			{"alg RS256 over an EdDSA signature", bearer(signJWS(t, header(func(h map[string]any) { h["alg"] = "RS256" }), claims(nil), ours)), "invalid_token"},
			{"unknown kid", bearer(signJWS(t, header(func(h map[string]any) { h["kid"] = "attacker-key" }), claims(nil), theirs)), "invalid_token"},
			{"our kid, another key", bearer(signJWS(t, header(nil), claims(nil), theirs)), "invalid_token"},
			{"no kid", bearer(signJWS(t, header(func(h map[string]any) { delete(h, "kid") }), claims(nil), ours)), "invalid_token"},
			{"embedded jwk", bearer(signJWS(t, header(func(h map[string]any) {
				h["kid"] = "attacker-key"
				h["jwk"] = f.attackerJWK()
			}), claims(nil), theirs)), "invalid_token"},
			{"jku to a foreign key set", bearer(signJWS(t, header(func(h map[string]any) {
				h["kid"] = "attacker-key"
				h["jku"] = "http://127.0.0.1:1/jwks.json"
			}), claims(nil), theirs)), "invalid_token"},
			{"crit header", bearer(signJWS(t, header(func(h map[string]any) { h["crit"] = []string{"exp"} }), claims(nil), ours)), "invalid_token"},
			{"tampered payload", bearer(tampered), "invalid_token"},
			{"tampered signature", bearer(badSig), "invalid_token"},
			{"expired", bearer(signJWS(t, header(nil), claims(func(c map[string]any) { c["exp"], c["iat"] = now-120, now-1000 }), ours)), "token_expired"},
			{"expired with a wrong issuer", bearer(signJWS(t, header(nil), claims(func(c map[string]any) {
				c["exp"], c["iat"], c["iss"] = now-120, now-1000, "https://evil.example"
			}), ours)), "invalid_token"},
			{"wrong iss", bearer(signJWS(t, header(nil), claims(func(c map[string]any) { c["iss"] = "https://evil.example" }), ours)), "invalid_token"},
			{"no iss", bearer(signJWS(t, header(nil), claims(func(c map[string]any) { delete(c, "iss") }), ours)), "invalid_token"},
			{"wrong aud", bearer(signJWS(t, header(nil), claims(func(c map[string]any) { c["aud"] = []string{"another-service"} }), ours)), "invalid_token"},
			{"no aud", bearer(signJWS(t, header(nil), claims(func(c map[string]any) { delete(c, "aud") }), ours)), "invalid_token"},
			{"no exp", bearer(signJWS(t, header(nil), claims(func(c map[string]any) { delete(c, "exp") }), ours)), "invalid_token"},
			{"no sid", bearer(signJWS(t, header(nil), claims(func(c map[string]any) { delete(c, "sid") }), ours)), "invalid_token"},
			{"iat in the future", bearer(signJWS(t, header(nil), claims(func(c map[string]any) { c["iat"] = now + 600 }), ours)), "invalid_token"},
			{"nbf in the future", bearer(signJWS(t, header(nil), claims(func(c map[string]any) { c["nbf"] = now + 600 }), ours)), "invalid_token"},
			{"typ JWT", bearer(signJWS(t, header(func(h map[string]any) { h["typ"] = "JWT" }), claims(nil), ours)), "invalid_token"},
			{"no typ", bearer(signJWS(t, header(func(h map[string]any) { delete(h, "typ") }), claims(nil), ours)), "invalid_token"},
			{"the X-Auth-Assertion as an access token", bearer(assertion), "invalid_token"},
			{"the refresh token as an access token", bearer(tk.Refresh), "invalid_token"},
			{"garbage", bearer("not-a-token"), "invalid_token"},
			{"garbage with three parts", bearer("a.b.c"), "invalid_token"},
			{"oversized", bearer(strings.Repeat("a", 9000)), "invalid_token"},
			{"Bearer with no token", []string{"Bearer"}, "invalid_token"},
			{"Bearer and spaces", []string{"Bearer    "}, "invalid_token"},
			{"empty Authorization", []string{""}, "invalid_token"},
			{"token without a scheme", []string{tk.Access}, "invalid_token"},
			{"Basic scheme", []string{"Basic dXNlcjpwYXNzd29yZA=="}, "invalid_token"},
			{"two tokens in one header", []string{"Bearer " + tk.Access + " " + tk.Access}, "invalid_token"},
			{"two Authorization headers", []string{"Bearer " + tk.Access, "Bearer " + tk.Access}, "invalid_token"},
			{"a good and a bad Authorization header", []string{"Bearer " + tk.Access, "Bearer x"}, "invalid_token"},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				for _, path := range []string{"/api/attack/" + strconv.Itoa(i), "/auth/me"} {
					r := gw.send(t, request{method: http.MethodGet, path: path, header: http.Header{"Authorization": tc.authz}})
					r.wantProblem(t, http.StatusUnauthorized, tc.code)
					if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") {
						t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", path, ch)
					}
					if strings.HasPrefix(path, "/api/") && d.up.received(path) {
						t.Errorf("%s: the request reached the upstream", path)
					}
				}
			})
		}

		// The attacks did not harm the real session.
		gw.get(t, "/api/attack/after", tk.Access).wantStatus(t, http.StatusOK)
	})
}

// TestRemovedSigningKey rotates the signing key as an operator does: a new
// key that sorts first signs while the old one still verifies; once the old
// key file is removed (and the gateway restarted), its tokens are refused.
func TestRemovedSigningKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, nil)
		u := gw.register(t, "oscar")
		old := gw.login(t, u)
		oldKid := jwtPart(t, old.Access, 0)["kid"].(string)
		gw.get(t, "/api/keys/1", old.Access).wantStatus(t, http.StatusOK)
		gw.stop()

		// Step 1: a new key signs; the old one still verifies.
		_, newKid, err := token.Generate("EdDSA", d.keysDir)
		if err != nil {
			t.Fatal(err)
		}
		gw = d.start(t, nil)
		if keys := gw.jwks(t); len(keys) != 2 || keys[oldKid] == nil || keys[newKid] == nil {
			t.Fatalf("JWKS during rotation has %d keys, want the old and the new one", len(keys))
		}
		gw.get(t, "/api/keys/2", old.Access).wantStatus(t, http.StatusOK)
		fresh := gw.login(t, u)
		if kid := jwtPart(t, fresh.Access, 0)["kid"]; kid != newKid {
			t.Fatalf("new tokens are signed by %v, want the new key %s", kid, newKid)
		}
		gw.stop()

		// Step 2: the old key file is removed.
		ks, _, err := token.Load(d.keysDir, "EdDSA")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks.Keys() {
			if k.ID == oldKid {
				if err := os.Remove(filepath.Join(d.keysDir, k.File)); err != nil {
					t.Fatal(err)
				}
			}
		}
		gw = d.start(t, nil)
		if keys := gw.jwks(t); len(keys) != 1 || keys[newKid] == nil {
			t.Fatalf("JWKS after removal has %d keys, want only the new one", len(keys))
		}
		for _, path := range []string{"/api/keys/3", "/auth/me"} {
			gw.get(t, path, old.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
		}
		if d.up.received("/api/keys/3") {
			t.Error("a token of a removed key reached the upstream")
		}
		gw.get(t, "/api/keys/4", fresh.Access).wantStatus(t, http.StatusOK)
	})
}

// TestLoweredAccessTTL: after tokens.access_ttl is lowered and the gateway
// restarted, access tokens issued under the old, longer lifetime are
// answered as expired (401 token_expired, with the invalid_token
// challenge), on the proxy and on /auth alike, and the client's refresh
// gets a token of the new lifetime that works. Without this, the
// revocation view, which keeps a logout for the current lifetime plus a
// minute only, would forget a revocation that such a token outlives, and
// the logged-out token would work again.
func TestLoweredAccessTTL(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, func(c *config.Config) { c.Tokens.AccessTTL = time.Hour })
		u := gw.register(t, "ttl")
		old := gw.login(t, u)
		gw.get(t, "/api/ttl/1", old.Access).wantStatus(t, http.StatusOK)
		gw.stop()

		gw = d.start(t, func(c *config.Config) { c.Tokens.AccessTTL = 10 * time.Minute })
		for i, path := range []string{"/api/ttl/2", "/auth/me"} {
			for range 2 { // the second time from the verified-token cache, if it were cached
				r := gw.get(t, path, old.Access)
				r.wantProblem(t, http.StatusUnauthorized, "token_expired")
				if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
					t.Errorf("%s: WWW-Authenticate %q, want error=\"invalid_token\"", path, ch)
				}
			}
			if i == 0 && d.up.received(path) {
				t.Errorf("%s: a token older than access_ttl reached the upstream", path)
			}
		}
		r := gw.refresh(t, old.Refresh)
		r.wantStatus(t, http.StatusOK)
		fresh := d.tokensOf(t, r)
		if fresh.ExpiresIn > 600 {
			t.Errorf("refreshed expires_in %v, want at most the new 600 s", fresh.ExpiresIn)
		}
		gw.get(t, "/api/ttl/3", fresh.Access).wantStatus(t, http.StatusOK)
	})
}
