package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/gateway/token"
)

// TestAccessTokenEndsWithSession: an access token never outlives its
// session. With access_ttl 60 s and refresh_max_ttl 5 s, a refresh at
// 3 s used to issue a 60 s token; ending every session of the user after
// the session's expiry (logout everywhere, a password change) finds only
// live sessions, so nothing revoked that token and it stayed good for a
// minute. Now exp is capped at the session's expiry (the earlier of its
// idle and absolute expiry), and expires_in and the access cookie's
// Max-Age follow the capped exp.
func TestAccessTokenEndsWithSession(t *testing.T) {
	const accessTTL = time.Minute
	for _, backend := range allBackends {
		for _, tc := range []struct {
			name string
			opts session.Options
		}{
			{"absolute expiry", session.Options{IdleTTL: time.Hour, MaxTTL: 5 * time.Second}},
			{"idle expiry", session.Options{IdleTTL: 5 * time.Second, MaxTTL: time.Hour}},
		} {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				e := newBackendEnv(t, backend)
				e.useSessions(t, tc.opts)
				start := time.Now().Truncate(time.Second)
				e.setClock(start)
				issuer, verifier := clockedTokens(t, accessTTL, e.svc.now)
				e.svc.Issuer, e.svc.Verifier = issuer, verifier
				ctx := context.Background()
				u := e.register(t, "expiry@example.com", oldPW)

				check := func(what string, p *Pair) token.AccessClaims {
					t.Helper()
					c, err := verifier.Verify(p.AccessToken)
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					if end := p.Session.ExpiresAt(); c.ExpiresAt.After(end) {
						t.Errorf("%s: access token expires at +%v, after its session (+%v)", what, c.ExpiresAt.Sub(start), end.Sub(start))
					}
					if !p.AccessExpires.Equal(c.ExpiresAt) {
						t.Errorf("%s: AccessExpires %v, exp claim %v", what, p.AccessExpires, c.ExpiresAt)
					}
					return *c
				}
				login, err := e.svc.Login(ctx, u.Email, oldPW, client)
				if err != nil {
					t.Fatal(err)
				}
				check("login", login)
				e.setClock(start.Add(3 * time.Second))
				pair, err := e.svc.Refresh(ctx, login.RefreshToken, client)
				if err != nil {
					t.Fatal(err)
				}
				claims := check("refresh at 3 s", pair)

				// The answer says the same: expires_in and Max-Age.
				authn, err := NewAuthenticator(e.svc, config.Default().Cookies, nil)
				if err != nil {
					t.Fatal(err)
				}
				h := &Handlers{svc: e.svc, authn: authn, now: e.svc.now}
				want := int64(claims.ExpiresAt.Sub(e.svc.now()) / time.Second)
				for _, cookie := range []bool{false, true} {
					rec := httptest.NewRecorder()
					c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/auth/refresh", nil), rec)
					if err := h.tokens(c, pair, cookie); err != nil {
						t.Fatal(err)
					}
					var body tokenResponse
					if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
						t.Fatal(err)
					}
					if body.ExpiresIn != want {
						t.Errorf("cookie %v: expires_in %d, want %d", cookie, body.ExpiresIn, want)
					}
					if cookie {
						res := http.Response{Header: rec.Header()}
						for _, ck := range res.Cookies() {
							if ck.Name == authn.cookies.access && int64(ck.MaxAge) != want {
								t.Errorf("access cookie Max-Age %d, want %d", ck.MaxAge, want)
							}
						}
					}
				}

				// Past the session's end (and the verification leeway):
				// the session cannot be found to be revoked any more, and
				// its token has expired on its own.
				e.setClock(pair.Session.ExpiresAt().Add(token.MaxLeeway + time.Second))
				if err := e.svc.LogoutAll(ctx, u.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := verifier.Verify(pair.AccessToken); !errors.Is(err, token.ErrTokenExpired) {
					t.Errorf("the refreshed token after its session ended: %v, want expired", err)
				}
			})
		}
	}
}

// clockedTokens is hmacTokens on the clock now.
func clockedTokens(t *testing.T, accessTTL time.Duration, now func() time.Time) (*token.Issuer, *token.Verifier) {
	t.Helper()
	ks, err := token.NewHMACKeySet([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	opts := token.Options{Issuer: "test", Audience: "test", AccessTTL: accessTTL, Now: now}
	issuer, err := token.NewIssuer(ks, opts)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := token.NewVerifier(ks, opts)
	if err != nil {
		t.Fatal(err)
	}
	return issuer, verifier
}
