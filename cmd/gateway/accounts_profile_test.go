package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestProfileAndSessions covers the authenticated account API: /auth/me,
// password change, the session list and its revocation, logout everywhere
// and the JWKS.
func TestProfileAndSessions(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, nil)
		u := gw.register(t, "liam")
		other := gw.register(t, "mia")
		otherTk := gw.login(t, other)

		t.Run("me", func(t *testing.T) {
			tk := gw.login(t, u)
			r := gw.get(t, "/auth/me", tk.Access)
			r.wantStatus(t, http.StatusOK)
			me := r.object(t)
			if me["id"] != u.ID || me["email"] != u.Email || me["name"] != "liam" {
				t.Errorf("GET /auth/me = %v", me)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("/auth/me Cache-Control %q, want no-store", cc)
			}
			gw.get(t, "/auth/me", "").wantProblem(t, http.StatusUnauthorized, "unauthenticated")

			r = gw.send(t, request{method: http.MethodPatch, path: "/auth/me", bearer: tk.Access,
				json: map[string]any{"name": "Liam Renamed"}})
			r.wantStatus(t, http.StatusOK)
			if got := r.object(t)["name"]; got != "Liam Renamed" {
				t.Errorf("PATCH name answered name %v", got)
			}
			gw.send(t, request{method: http.MethodPatch, path: "/auth/me", bearer: tk.Access,
				json: map[string]any{"roles": []string{"admin"}}}).wantProblem(t, http.StatusBadRequest, "bad_request")
			gw.send(t, request{method: http.MethodPatch, path: "/auth/me", bearer: tk.Access,
				json: map[string]any{"email": "not an email"}}).wantProblem(t, http.StatusBadRequest, "validation_failed")

			// Another user's address: 409, and nothing changes.
			r = gw.send(t, request{method: http.MethodPatch, path: "/auth/me", bearer: tk.Access,
				json: map[string]any{"email": "  " + other.Email}})
			r.wantProblem(t, http.StatusConflict, "email_taken")
			gw.get(t, "/api/me/1", tk.Access).wantStatus(t, http.StatusOK)

			// A new address: the access token, which carries the old one,
			// is stale; a refresh gets one with the new address.
			newEmail := "liam-new-" + randomHex(t, 4) + "@example.com"
			r = gw.send(t, request{method: http.MethodPatch, path: "/auth/me", bearer: tk.Access,
				json: map[string]any{"email": "LIAM" + newEmail[4:]}})
			r.wantStatus(t, http.StatusOK)
			if got := r.object(t)["email"]; got != newEmail {
				t.Fatalf("PATCH email answered %v, want %q", got, newEmail)
			}
			gw.get(t, "/api/me/2", tk.Access).wantProblem(t, http.StatusUnauthorized, "token_expired")
			r = gw.refresh(t, tk.Refresh)
			r.wantStatus(t, http.StatusOK)
			tk2 := d.tokensOf(t, r)
			if email := jwtPart(t, tk2.Access, 1)["email"]; email != newEmail {
				t.Errorf("refreshed token carries email %v, want %q", email, newEmail)
			}
			gw.get(t, "/api/me/3", tk2.Access).wantStatus(t, http.StatusOK)
			if got := d.up.last(t, "/api/me/3").Header.Get("X-Auth-User-Email"); got != newEmail {
				t.Errorf("upstream email %q, want %q", got, newEmail)
			}
			u.Email = newEmail
			gw.login(t, u)
		})

		t.Run("sessions", func(t *testing.T) {
			var sessions []tokens
			for range 3 {
				sessions = append(sessions, gw.login(t, u))
				time.Sleep(5 * time.Millisecond) // distinct creation times
			}
			current := sessions[2]
			r := gw.get(t, "/auth/sessions", current.Access)
			r.wantStatus(t, http.StatusOK)
			list := sessionList(t, r)
			if len(list) < 3 {
				t.Fatalf("GET /auth/sessions listed %d sessions, want at least 3", len(list))
			}
			if list[0].ID != sidOf(t, current.Access) || !list[0].Current {
				t.Errorf("first listed session %+v, want the current one (newest first)", list[0])
			}
			for i, s := range list {
				if i > 0 && s.Current {
					t.Errorf("session %d is also flagged current", i)
				}
				if i > 0 && s.CreatedAt.After(list[i-1].CreatedAt) {
					t.Errorf("sessions not newest first: %v after %v", s.CreatedAt, list[i-1].CreatedAt)
				}
				if s.ID == sidOf(t, otherTk.Access) {
					t.Error("another user's session is listed")
				}
			}

			// Another user's session is "not found", and stays alive.
			gw.send(t, request{method: http.MethodDelete, path: "/auth/sessions/" + sidOf(t, otherTk.Access), bearer: current.Access}).
				wantProblem(t, http.StatusNotFound, "not_found")
			gw.get(t, "/api/sessions/other", otherTk.Access).wantStatus(t, http.StatusOK)
			gw.send(t, request{method: http.MethodDelete, path: "/auth/sessions/nonsense", bearer: current.Access}).
				wantProblem(t, http.StatusNotFound, "not_found")

			// An own session ends: its tokens are refused at once.
			victim := sessions[0]
			gw.send(t, request{method: http.MethodDelete, path: "/auth/sessions/" + sidOf(t, victim.Access), bearer: current.Access}).
				wantStatus(t, http.StatusNoContent)
			gw.get(t, "/api/sessions/victim", victim.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			gw.refresh(t, victim.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			gw.send(t, request{method: http.MethodDelete, path: "/auth/sessions/" + sidOf(t, victim.Access), bearer: current.Access}).
				wantProblem(t, http.StatusNotFound, "not_found")
			for _, s := range sessionList(t, gw.get(t, "/auth/sessions", current.Access)) {
				if s.ID == sidOf(t, victim.Access) {
					t.Error("a revoked session is still listed")
				}
			}
			gw.get(t, "/api/sessions/current", current.Access).wantStatus(t, http.StatusOK)
		})

		t.Run("password change", func(t *testing.T) {
			keep, lose := gw.login(t, u), gw.login(t, u)
			change := func(current, next string) *response {
				return gw.send(t, request{method: http.MethodPost, path: "/auth/password", bearer: keep.Access,
					json: map[string]any{"current_password": current, "new_password": next}})
			}
			next := newPassword(t)
			d.secret(next)
			p := change("wrong-"+u.Password, next).wantProblem(t, http.StatusForbidden, "invalid_credentials")
			if p.Errors["current_password"] == "" {
				t.Errorf("errors %v do not name current_password", p.Errors)
			}
			change(u.Password, "qwerty123456").wantProblem(t, http.StatusBadRequest, "weak_password")
			change(u.Password, "short").wantProblem(t, http.StatusBadRequest, "validation_failed")
			change("", next).wantProblem(t, http.StatusBadRequest, "validation_failed")
			gw.send(t, request{method: http.MethodPost, path: "/auth/password",
				json: map[string]any{"current_password": u.Password, "new_password": next}}).
				wantProblem(t, http.StatusUnauthorized, "unauthenticated")
			// Nothing above changed anything.
			gw.get(t, "/api/pw/0", lose.Access).wantStatus(t, http.StatusOK)

			change(u.Password, next).wantStatus(t, http.StatusNoContent)
			// The other sessions end; this one keeps working, also after a
			// refresh.
			gw.get(t, "/api/pw/1", lose.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			gw.refresh(t, lose.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			gw.get(t, "/api/pw/2", keep.Access).wantStatus(t, http.StatusOK)
			r := gw.refresh(t, keep.Refresh)
			r.wantStatus(t, http.StatusOK)
			gw.get(t, "/api/pw/3", d.tokensOf(t, r).Access).wantStatus(t, http.StatusOK)

			gw.send(t, request{method: http.MethodPost, path: "/auth/login",
				json: map[string]any{"email": u.Email, "password": u.Password}}).
				wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
			u.Password = next
			gw.login(t, u)
		})

		t.Run("logout everywhere", func(t *testing.T) {
			a, b := gw.login(t, u), gw.login(t, u)
			gw.send(t, request{method: http.MethodPost, path: "/auth/logout?all=true", bearer: a.Access}).
				wantStatus(t, http.StatusNoContent)
			for i, tk := range []tokens{a, b} {
				gw.get(t, "/api/all/"+string(rune('a'+i)), tk.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
				gw.refresh(t, tk.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			}
			// By refresh token too.
			c, e := gw.login(t, u), gw.login(t, u)
			gw.send(t, request{method: http.MethodPost, path: "/auth/logout?all=true", json: map[string]any{"refresh_token": c.Refresh}}).
				wantStatus(t, http.StatusNoContent)
			gw.get(t, "/api/all/c", c.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			gw.get(t, "/api/all/e", e.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			// Other users are untouched.
			gw.get(t, "/api/all/other", otherTk.Access).wantStatus(t, http.StatusOK)
		})

		t.Run("jwks", func(t *testing.T) {
			r := gw.send(t, request{method: http.MethodGet, path: "/.well-known/jwks.json"})
			r.wantStatus(t, http.StatusOK)
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("JWKS Content-Type %q", ct)
			}
			keys := gw.jwks(t)
			_, kid := d.signingKey(t)
			tk := gw.login(t, u)
			pub, ok := keys[kid]
			if len(keys) != 1 || !ok {
				t.Fatalf("JWKS has %d keys, want the signing key %s", len(keys), kid)
			}
			if !verifyEd25519(tk.Access, pub) || jwtPart(t, tk.Access, 0)["kid"] != kid {
				t.Error("an access token does not verify with the published key")
			}
		})
	})
}

type sessionEntry struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Current   bool      `json:"current"`
}

func sessionList(t testing.TB, r *response) []sessionEntry {
	t.Helper()
	r.wantStatus(t, http.StatusOK)
	var doc struct {
		Sessions []sessionEntry `json:"sessions"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("session list: %v: %s", err, r.body)
	}
	return doc.Sessions
}
