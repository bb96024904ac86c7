package main

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// revocationDeadline is SPEC 5's bound: logout, disabling and role changes
// take effect on every replica within 1 s.
const revocationDeadline = time.Second

// TestReplicas runs two gateways on one deployment (shared database,
// sessions and keys): what is ended on B is refused on A within a second,
// although A has already verified (and cached) the token. The backends run
// one after the other, so that the timing is not the other's load.
func TestReplicas(t *testing.T) {
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) {
			d := newDeployment(t, backend)
			a := d.start(t, nil)
			b := d.start(t, nil)
			ctx := context.Background()

			t.Run("logout on B", func(t *testing.T) {
				u := a.register(t, "nora")
				tk := a.login(t, u)
				a.get(t, "/api/rep/logout/0", tk.Access).wantStatus(t, http.StatusOK)
				b.send(t, request{method: http.MethodPost, path: "/auth/logout", bearer: tk.Access}).wantStatus(t, http.StatusNoContent)
				took := eventually(t, revocationDeadline, "A refuses the logged-out token", func() bool {
					return a.get(t, "/api/rep/logout/poll", tk.Access).status == http.StatusUnauthorized
				})
				t.Logf("replica A refused the token %v after the logout on B", took)
				a.get(t, "/api/rep/logout/1", tk.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
				a.refresh(t, tk.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			})

			t.Run("disable on B", func(t *testing.T) {
				u := a.register(t, "olga")
				tk := a.login(t, u)
				a.get(t, "/api/rep/disable/0", tk.Access).wantStatus(t, http.StatusOK)
				browser, jar := a.browser(t)
				a.send(t, request{method: http.MethodPost, path: "/auth/login", client: browser,
					json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}}).wantStatus(t, http.StatusOK)
				d.secret(a.jarCookie(jar, "gw_access"), a.jarCookie(jar, "gw_refresh"))
				if _, err := b.app.auth.SetDisabled(ctx, "test-admin", u.ID, true); err != nil {
					t.Fatalf("SetDisabled: %v", err)
				}
				took := eventually(t, revocationDeadline, "A refuses the disabled user's token", func() bool {
					return a.get(t, "/api/rep/disable/poll", tk.Access).status == http.StatusUnauthorized
				})
				t.Logf("replica A refused the token %v after disabling on B", took)
				a.refresh(t, tk.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")
				// The browser is anonymous now, and forgets its cookies.
				a.send(t, request{method: http.MethodGet, path: "/api/rep/disable/browser", client: browser}).
					wantProblem(t, http.StatusUnauthorized, "unauthenticated")
				if a.jarCookie(jar, "gw_access") != "" || a.jarCookie(jar, "gw_refresh") != "" {
					t.Error("the disabled user's browser still holds the gateway's cookies")
				}
				a.send(t, request{method: http.MethodPost, path: "/auth/login",
					json: map[string]any{"email": u.Email, "password": u.Password}}).
					wantProblem(t, http.StatusForbidden, "account_disabled")

				if _, err := b.app.auth.SetDisabled(ctx, "test-admin", u.ID, false); err != nil {
					t.Fatalf("SetDisabled(false): %v", err)
				}
				a.get(t, "/api/rep/disable/1", a.login(t, u).Access).wantStatus(t, http.StatusOK)
			})

			t.Run("roles on B", func(t *testing.T) {
				u := a.register(t, "pia")
				tk := a.login(t, u)
				a.get(t, "/api/rep/roles/0", tk.Access).wantStatus(t, http.StatusOK)
				if got := d.up.last(t, "/api/rep/roles/0").Header.Get("X-Auth-User-Roles"); got != "user" {
					t.Fatalf("roles before the change %q, want user", got)
				}
				// The same user in a browser on A.
				browser, jar := a.browser(t)
				a.send(t, request{method: http.MethodPost, path: "/auth/login", client: browser,
					json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}}).wantStatus(t, http.StatusOK)
				d.secret(a.jarCookie(jar, "gw_access"), a.jarCookie(jar, "gw_refresh"))
				if _, err := b.app.auth.SetRoles(ctx, "test-admin", u.ID, []string{"user", "editor"}); err != nil {
					t.Fatalf("SetRoles: %v", err)
				}
				took := eventually(t, revocationDeadline, "A refuses the token with the old roles", func() bool {
					return a.get(t, "/api/rep/roles/poll", tk.Access).status == http.StatusUnauthorized
				})
				t.Logf("replica A refused the stale token %v after the role change on B", took)
				a.get(t, "/api/rep/roles/1", tk.Access).wantProblem(t, http.StatusUnauthorized, "token_expired")

				// The browser's next request on A is refreshed at the edge
				// and carries the new roles.
				r := a.send(t, request{method: http.MethodGet, path: "/api/rep/roles/browser", client: browser})
				r.wantStatus(t, http.StatusOK)
				if r.cookie("gw_access") == nil {
					t.Error("the stale access cookie was not refreshed at the edge")
				}
				d.secret(a.jarCookie(jar, "gw_access"), a.jarCookie(jar, "gw_refresh"))
				if got := d.up.last(t, "/api/rep/roles/browser").Header.Get("X-Auth-User-Roles"); got != "user,editor" {
					t.Errorf("browser roles after the change %q, want user,editor", got)
				}

				// A refresh on A gets the new roles, and both replicas
				// accept the new token.
				r = a.refresh(t, tk.Refresh)
				r.wantStatus(t, http.StatusOK)
				fresh := d.tokensOf(t, r)
				for i, gw := range []*instance{a, b} {
					path := "/api/rep/roles/new/" + string(rune('a'+i))
					gw.get(t, path, fresh.Access).wantStatus(t, http.StatusOK)
					if got := d.up.last(t, path).Header.Get("X-Auth-User-Roles"); got != "user,editor" {
						t.Errorf("replica %d: roles after refresh %q, want user,editor", i, got)
					}
				}
			})
		})
	}
}
