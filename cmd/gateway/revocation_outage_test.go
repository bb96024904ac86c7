package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/internal/testenv"
)

// TestRevocationFeedOutageFailsClosed: replicas on PostgreSQL and a private
// Redis (the sessions and the revocation feed), which the test stops and
// starts again on the same port.
//
// Audit finding (reproduced): a replica started while Redis was
// unreachable had an empty revocation view that had never replayed the
// feed, and accepted an access token logged out on another replica (200,
// the upstream received the revoked session's identity) while its own
// /readyz said 503. Now such a replica answers 503 overloaded with
// Retry-After to every request whose token the view would have to clear,
// Bearer or cookie, proxied or /auth; anonymous requests are still decided
// by the policy; and once Redis is back and the feed replayed it refuses
// the logged-out token with 401. A replica that had replayed the feed
// before the outage keeps accepting valid tokens and refusing revoked ones
// from memory (SPEC 9).
func TestRevocationFeedOutageFailsClosed(t *testing.T) {
	t.Parallel()
	rds := testenv.StartRedis(t)
	d := newDeployment(t, backendSQLite)
	d.backend = "postgres+private redis"
	d.storage = config.Storage{
		DatabaseURL: testenv.PostgresURL(t),
		Sessions:    "redis",
		Redis:       config.Redis{URL: rds.URL(), Addrs: []string{}, KeyPrefix: "gwtest:feedoutage:"},
	}
	a := d.start(t, nil)
	c := d.start(t, nil)

	u := a.register(t, "olga")
	valid := a.login(t, u)
	gone := a.login(t, u)
	cookieLogin := a.send(t, request{method: http.MethodPost, path: "/auth/login",
		json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
	cookieLogin.wantStatus(t, http.StatusOK)
	accessName, refreshName := a.cfg.Cookies.AccessName, a.cfg.Cookies.RefreshName
	goneAccess, goneRefresh := cookieLogin.cookie(accessName), cookieLogin.cookie(refreshName)
	if goneAccess == nil || goneRefresh == nil {
		t.Fatalf("cookie login set %v, want %s and %s", cookieLogin.cookies, accessName, refreshName)
	}
	d.secret(goneAccess.Value, goneRefresh.Value)
	goneCookies := []*http.Cookie{{Name: accessName, Value: goneAccess.Value}, {Name: refreshName, Value: goneRefresh.Value}}

	// Both logged out on A; C refuses them within the second (SPEC 5).
	a.send(t, request{method: http.MethodPost, path: "/auth/logout", bearer: gone.Access}).wantStatus(t, http.StatusNoContent)
	a.send(t, request{method: http.MethodPost, path: "/auth/logout", cookies: goneCookies}).wantStatus(t, http.StatusNoContent)
	eventually(t, 2*time.Second, "C refuses the logged-out token", func() bool {
		return c.get(t, "/api/feed-outage/c-before", gone.Access).status == http.StatusUnauthorized
	})
	c.get(t, "/api/feed-outage/c-before-valid", valid.Access).wantStatus(t, http.StatusOK)

	// The private Redis restarts empty unless it saved: keep the sessions
	// and the feed across the outage, as a production Redis does.
	rc := redis.NewClient(&redis.Options{Addr: rds.Addr})
	if err := rc.Save(context.Background()).Err(); err != nil {
		t.Fatalf("redis SAVE: %v", err)
	}
	_ = rc.Close()
	rds.Stop()

	t.Run("ready replica keeps answering from memory", func(t *testing.T) {
		c.get(t, "/api/feed-outage/c-valid", valid.Access).wantStatus(t, http.StatusOK)
		if !d.up.received("/api/feed-outage/c-valid") {
			t.Errorf("the upstream did not receive the valid token's call during the outage")
		}
		c.get(t, "/api/feed-outage/c-gone", gone.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
		if r := c.send(t, request{method: http.MethodGet, path: "/api/feed-outage/c-gone-cookie", cookies: goneCookies}); r.status == http.StatusOK {
			t.Errorf("the logged-out cookie session was accepted during the outage: %d %s", r.status, r.body)
		}
		for _, p := range []string{"/api/feed-outage/c-gone", "/api/feed-outage/c-gone-cookie"} {
			if d.up.received(p) {
				t.Errorf("the upstream received %s, sent with a logged-out session", p)
			}
		}
	})

	// A replica that starts while Redis is unreachable.
	nw := d.launch(t, nil)
	if status, doc := nw.readiness(t); status != http.StatusServiceUnavailable || doc.Checks["revocations"] != "failed" {
		t.Fatalf("/readyz of the replica started during the outage: %d %+v, want 503 with revocations failed", status, doc)
	}

	t.Run("replica started during the outage does not fail open", func(t *testing.T) {
		cases := []struct {
			name string
			req  request
		}{
			{"logged-out bearer", request{method: http.MethodGet, path: "/api/feed-outage/new-gone", bearer: gone.Access}},
			{"logged-out cookies", request{method: http.MethodGet, path: "/api/feed-outage/new-gone-cookie", cookies: goneCookies}},
			{"logged-out access cookie alone", request{method: http.MethodGet, path: "/api/feed-outage/new-gone-access-cookie", cookies: goneCookies[:1]}},
			// Valid as far as anyone knows, but this replica cannot tell.
			{"valid bearer", request{method: http.MethodGet, path: "/api/feed-outage/new-valid", bearer: valid.Access}},
			{"logged-out bearer on /auth/me", request{method: http.MethodGet, path: "/auth/me", bearer: gone.Access}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := nw.send(t, tc.req)
				r.wantProblem(t, http.StatusServiceUnavailable, "overloaded")
				if r.header.Get("Retry-After") == "" {
					t.Errorf("503 without Retry-After")
				}
				if sc := r.header.Values("Set-Cookie"); len(sc) != 0 {
					t.Errorf("cookies changed while the replica cannot decide: %q", sc)
				}
				if d.up.received(tc.req.path) {
					t.Errorf("the upstream received %s", tc.req.path)
				}
			})
		}
		// No credentials: the policy decides, as before.
		nw.send(t, request{method: http.MethodGet, path: "/api/feed-outage/new-anonymous"}).wantProblem(t, http.StatusUnauthorized, "unauthenticated")
	})

	rds.Start()

	t.Run("replica started during the outage once the feed is back", func(t *testing.T) {
		eventually(t, 10*time.Second, "the new replica refuses the logged-out token with 401", func() bool {
			return nw.get(t, "/api/feed-outage/new-gone-after", gone.Access).status == http.StatusUnauthorized
		})
		nw.get(t, "/api/feed-outage/new-gone-after", gone.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
		nw.get(t, "/api/feed-outage/new-valid-after", valid.Access).wantStatus(t, http.StatusOK)
		if r := nw.send(t, request{method: http.MethodGet, path: "/api/feed-outage/new-gone-cookie-after", cookies: goneCookies}); r.status == http.StatusOK {
			t.Errorf("the logged-out cookie session was accepted after the replay: %d %s", r.status, r.body)
		}
		for _, p := range []string{"/api/feed-outage/new-gone-after", "/api/feed-outage/new-gone-cookie-after"} {
			if d.up.received(p) {
				t.Errorf("the upstream received %s, sent with a logged-out session", p)
			}
		}
	})
}
