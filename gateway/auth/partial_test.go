package auth

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/internal/testenv"
)

// Partial application: a flow that changes the user database and the
// session store (PostgreSQL and Redis in a scaled-out deployment) must not
// answer 503 after doing half of its work in a way that a retry cannot
// finish. Each test makes a store fail at one step, expects the 503, then
// retries with the stores back and expects the whole outcome: the change
// made and its sessions ended (or access tokens stale) everywhere.

var errStoreDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

// failingSessions is a session store that fails the method named fail
// while down is set: Redis going away at that step.
type failingSessions struct {
	session.Store
	fail string
	down *atomic.Bool
}

func (f failingSessions) failing(method string) bool { return f.fail == method && f.down.Load() }

func (f failingSessions) RevokeUser(ctx context.Context, userID, exceptID string) ([]string, error) {
	if f.failing("RevokeUser") {
		return nil, errStoreDown
	}
	return f.Store.RevokeUser(ctx, userID, exceptID)
}

func (f failingSessions) BumpUserStamp(ctx context.Context, userID string) (int64, error) {
	if f.failing("BumpUserStamp") {
		return 0, errStoreDown
	}
	return f.Store.BumpUserStamp(ctx, userID)
}

// failingUsers is a user store that fails the method named fail (ByID or
// SetPasswordHash) while down is set: the user database going away at that
// step.
type failingUsers struct {
	Users
	fail string
	down *atomic.Bool
}

func (f failingUsers) failing(method string) bool { return f.fail == method && f.down.Load() }

func (f failingUsers) ByID(ctx context.Context, id string) (account.User, error) {
	if f.failing("ByID") {
		return account.User{}, errStoreDown
	}
	return f.Users.ByID(ctx, id)
}

func (f failingUsers) SetPasswordHash(ctx context.Context, id, hash string) error {
	if f.failing("SetPasswordHash") {
		return errStoreDown
	}
	return f.Users.SetPasswordHash(ctx, id, hash)
}

// failingResets fails ConsumeReset while down is set.
type failingResets struct {
	ResetTokens
	down *atomic.Bool
}

func (f failingResets) ConsumeReset(ctx context.Context, tokenHash []byte, newHash string, now time.Time) (string, error) {
	if f.down.Load() {
		return "", errStoreDown
	}
	return f.ResetTokens.ConsumeReset(ctx, tokenHash, newHash, now)
}

// outage is one way for a flow's stores to fail: set up makes the
// service's stores fail (from now until the returned restore) and returns
// restore.
type outage struct {
	name    string
	backend string
	set     func(t *testing.T, e *resetEnv) (restore func())
}

// sessionsFail fails the session store's method.
func sessionsFail(method string) func(t *testing.T, e *resetEnv) func() {
	return func(t *testing.T, e *resetEnv) func() {
		down := new(atomic.Bool)
		down.Store(true)
		orig := e.svc.Sessions
		e.svc.Sessions = failingSessions{Store: orig, fail: method, down: down}
		return func() { down.Store(false); e.svc.Sessions = orig }
	}
}

// usersFail fails the user store's method.
func usersFail(method string) func(t *testing.T, e *resetEnv) func() {
	return func(t *testing.T, e *resetEnv) func() {
		down := new(atomic.Bool)
		down.Store(true)
		orig := e.svc.Users
		e.svc.Users = failingUsers{Users: orig, fail: method, down: down}
		return func() { down.Store(false); e.svc.Users = orig }
	}
}

// redisUnreachable points the service's session store and feed at a port
// nothing listens on, with the same key prefix: the real Redis store and
// feed with Redis gone.
func redisUnreachable(t *testing.T, e *resetEnv) func() {
	t.Helper()
	if e.redisPrefix == "" {
		t.Fatal("redisUnreachable needs the postgres+redis backend")
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
		DialTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	sessions, err := session.NewRedisStore(rdb, e.redisPrefix, e.sessOpts)
	if err != nil {
		t.Fatal(err)
	}
	origS, origF := e.svc.Sessions, e.svc.Feed
	e.svc.Sessions, e.svc.Feed = sessions, session.NewRedisFeed(rdb, e.redisPrefix, session.FeedOptions{})
	return func() { e.svc.Sessions, e.svc.Feed = origS, origF }
}

func want503(t *testing.T, what string, err error) {
	t.Helper()
	if p := problem.As(err); p == nil || p.Status != http.StatusServiceUnavailable {
		t.Fatalf("%s during the outage: %v, want 503", what, err)
	}
}

// check is what this replica answers to p's access token: nil when it is
// accepted.
func (e *resetEnv) check(t *testing.T, p *Pair) error {
	t.Helper()
	c, err := e.svc.Verifier.Verify(p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return e.view.Check(c.Subject, c.SessionID, c.Stamp)
}

// ended fails t unless every pair's session is over: its refresh token is
// refused and this replica refuses its access token.
func (e *resetEnv) ended(t *testing.T, what string, pairs ...*Pair) {
	t.Helper()
	for _, p := range pairs {
		if err := e.check(t, p); err == nil {
			t.Errorf("%s: the access token of session %s is still accepted", what, p.Session.ID)
		}
		if _, err := e.svc.Refresh(context.Background(), p.RefreshToken, client); err == nil {
			t.Errorf("%s: session %s still refreshes", what, p.Session.ID)
		}
	}
}

func (e *resetEnv) passwordIs(t *testing.T, userID, pw string) bool {
	t.Helper()
	u, err := e.users.ByID(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := e.svc.Hasher.Verify(context.Background(), pw, u.PasswordHash)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestPasswordChangeOutage: POST /auth/password with the session store or
// the user database failing. It used to set the password first and end
// the other sessions after: with Redis down it answered 503 with the
// password changed and the other sessions alive, and the retry was refused
// (the current password had changed). Now the other sessions end first:
// whatever fails, a 503 leaves the password as it was, and the retry
// finishes the change.
func TestPasswordChangeOutage(t *testing.T) {
	for _, tc := range []outage{
		{"session store fails to end sessions", backendSQLite, sessionsFail("RevokeUser")},
		{"user database fails to store the password", backendSQLite, usersFail("SetPasswordHash")},
		{"Redis unreachable", backendPostgres, redisUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newBackendEnv(t, tc.backend)
			ctx := context.Background()
			u := e.register(t, "change@example.com", oldPW)
			current, err := e.svc.Login(ctx, u.Email, oldPW, client)
			if err != nil {
				t.Fatal(err)
			}
			other, err := e.svc.Login(ctx, u.Email, oldPW, client)
			if err != nil {
				t.Fatal(err)
			}

			restore := tc.set(t, e)
			want503(t, "ChangePassword", e.svc.ChangePassword(ctx, u.ID, current.Session.ID, oldPW, newPW, client))
			restore()
			if !e.passwordIs(t, u.ID, oldPW) {
				t.Fatal("the 503 left the password changed: the retry is refused (current password incorrect)")
			}

			if err := e.svc.ChangePassword(ctx, u.ID, current.Session.ID, oldPW, newPW, client); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if !e.passwordIs(t, u.ID, newPW) {
				t.Error("the retry did not change the password")
			}
			e.ended(t, "after the retry", other)
			if err := e.check(t, current); err != nil {
				t.Errorf("the current session's token is refused: %v", err)
			}
		})
	}
}

// TestResetOutage: POST /auth/password/reset with the session store or the
// reset store failing. It used to consume the token and set the password
// in one commit and end the sessions after: with Redis down it answered
// 503 with the token used up and the old sessions alive, and the retry got
// invalid_token. Now the sessions end (and the stamp moves) before the
// token is consumed: a 503 leaves the token usable, and the retry
// finishes the reset.
func TestResetOutage(t *testing.T) {
	for _, tc := range []outage{
		{"session store fails to end sessions", backendSQLite, sessionsFail("RevokeUser")},
		{"session store fails to bump the stamp", backendSQLite, sessionsFail("BumpUserStamp")},
		{"reset store fails to consume the token", backendSQLite, func(t *testing.T, e *resetEnv) func() {
			down := new(atomic.Bool)
			down.Store(true)
			orig := e.svc.Resets
			e.svc.Resets = failingResets{ResetTokens: orig, down: down}
			return func() { down.Store(false); e.svc.Resets = orig }
		}},
		{"Redis unreachable", backendPostgres, redisUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newBackendEnv(t, tc.backend)
			ctx := context.Background()
			u := e.register(t, "reset.outage@example.com", oldPW)
			old, err := e.svc.Login(ctx, u.Email, oldPW, client)
			if err != nil {
				t.Fatal(err)
			}
			tok := e.requestToken(t, u.Email)

			restore := tc.set(t, e)
			want503(t, "ResetPassword", e.svc.ResetPassword(ctx, tok, newPW, client))
			restore()
			if err := e.svc.CheckResetToken(ctx, tok); err != nil {
				t.Fatalf("the 503 used the token up (%v): the retry cannot finish the reset", err)
			}

			if err := e.svc.ResetPassword(ctx, tok, newPW, client); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if !e.passwordIs(t, u.ID, newPW) {
				t.Error("the retry did not set the password")
			}
			e.ended(t, "after the retry", old)
		})
	}
}

// TestAdminDisableOutage: PATCH /auth/admin/users/{id} {"disabled": true}
// with the session store failing after the row was written. The retry
// used to be a no-op (the user was disabled already, so nothing was
// enforced) and the user's access tokens stayed good; now a patch that
// asks for disabled:true always ends the sessions and bumps the stamp.
// A roles change was already retried in full (SetRoles always bumps the
// stamp); it is here so that it stays so.
func TestAdminDisableOutage(t *testing.T) {
	for _, tc := range []struct {
		outage
		body map[string]any
	}{
		{outage{"disable: session store fails to end sessions", backendSQLite, sessionsFail("RevokeUser")}, map[string]any{"disabled": true}},
		{outage{"disable: session store fails to bump the stamp", backendSQLite, sessionsFail("BumpUserStamp")}, map[string]any{"disabled": true}},
		{outage{"disable: Redis unreachable", backendPostgres, redisUnreachable}, map[string]any{"disabled": true}},
		{outage{"roles: session store fails to bump the stamp", backendSQLite, sessionsFail("BumpUserStamp")}, map[string]any{"roles": []string{"user"}}},
		{outage{"roles: Redis unreachable", backendPostgres, redisUnreachable}, map[string]any{"roles": []string{"user"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newBackendEnv(t, tc.backend)
			ctx := context.Background()
			u := e.register(t, "victim@example.com", oldPW)
			if _, err := e.svc.SetRoles(ctx, "root", u.ID, []string{"user", "admin"}); err != nil {
				t.Fatal(err)
			}
			victim, err := e.svc.Login(ctx, u.Email, oldPW, client)
			if err != nil {
				t.Fatal(err)
			}
			admin := NewAdmin(e.svc, e.users, nil)
			patch := func() error {
				return adminCall(t, admin.patch, http.MethodPatch, "/auth/admin/users/"+u.ID, u.ID, tc.body)
			}

			restore := tc.set(t, e)
			want503(t, "PATCH", patch())
			restore()
			if err := patch(); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if err := e.check(t, victim); err == nil {
				t.Errorf("after the retry the user's access token is still accepted")
			}
			if _, disabled := tc.body["disabled"]; disabled {
				e.ended(t, "after the retry", victim)
			}
		})
	}
}

// TestEmailChangeOutage: PATCH /auth/me with a new email, the session store
// failing to move the stamp. The address is written first (the stamp must
// move after it, see SetRoles), so the 503 leaves the new address stored
// and the old tokens, which carry the old one, accepted. The retry used to
// compare the stored address before and after, see no change, and leave
// them so; it compares with the caller's token now and finishes. A save
// that changes nothing leaves the tokens alone.
func TestEmailChangeOutage(t *testing.T) {
	for _, tc := range []outage{
		{"session store fails to bump the stamp", backendSQLite, sessionsFail("BumpUserStamp")},
		{"Redis unreachable", backendPostgres, redisUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newBackendEnv(t, tc.backend)
			ctx := context.Background()
			u := e.register(t, "old@example.com", oldPW)
			before, err := e.svc.Login(ctx, u.Email, oldPW, client)
			if err != nil {
				t.Fatal(err)
			}
			next := "new@example.com"

			restore := tc.set(t, e)
			_, err = e.svc.UpdateMe(ctx, u.ID, before.User.Email, nil, &next)
			want503(t, "PATCH /auth/me", err)
			restore()
			if got, err := e.svc.UpdateMe(ctx, u.ID, before.User.Email, nil, &next); err != nil || got.Email != next {
				t.Fatalf("retry: %q, %v", got.Email, err)
			}
			if err := e.check(t, before); err == nil {
				t.Errorf("after the retry the token with the old address is still accepted")
			}

			after, err := e.svc.Login(ctx, next, oldPW, client)
			if err != nil {
				t.Fatal(err)
			}
			name := "Same Address"
			if _, err := e.svc.UpdateMe(ctx, u.ID, after.User.Email, &name, &next); err != nil {
				t.Fatal(err)
			}
			if err := e.check(t, after); err != nil {
				t.Errorf("a save that kept the address made the token stale: %v", err)
			}
		})
	}
}

// TestRefreshOutage: POST /auth/refresh with the user database failing
// after the rotation (the session store up). The rotation used to stay:
// the 503 left the client holding the previous generation's token, and a
// retry later than reuse_grace (the outage outlasting it) was taken for
// reuse and ended the session. Now the service undoes the rotation, and
// the same token refreshes at any time after the outage.
func TestRefreshOutage(t *testing.T) {
	for _, tc := range []outage{
		{"user database fails to read the user, SQL sessions", backendSQLite, usersFail("ByID")},
		{"user database fails to read the user, Redis sessions", backendPostgres, usersFail("ByID")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newBackendEnv(t, tc.backend)
			o := e.sessOpts
			o.ReuseGrace = 10 * time.Second // the default tokens.reuse_grace
			e.useSessions(t, o)
			ctx := context.Background()
			now := time.Now()
			e.setClock(now)
			u := e.register(t, "refresh.outage@example.com", oldPW)
			before, err := e.svc.Login(ctx, u.Email, oldPW, client)
			if err != nil {
				t.Fatal(err)
			}

			e.setClock(now.Add(time.Second))
			restore := tc.set(t, e)
			_, err = e.svc.Refresh(ctx, before.RefreshToken, client)
			want503(t, "Refresh", err)
			restore()

			// The outage outlasts the grace: the retry comes later.
			e.setClock(now.Add(time.Second + o.ReuseGrace + time.Second))
			after, err := e.svc.Refresh(ctx, before.RefreshToken, client)
			if err != nil {
				t.Fatalf("retry after the outage: %v (the 503 left the token rotated, and the retry was taken for reuse)", err)
			}
			if after.Session.ID != before.Session.ID || after.RefreshToken == "" {
				t.Fatalf("retry: session %s, want %s with a new token", after.Session.ID, before.Session.ID)
			}
			if _, err := e.svc.Sessions.Get(ctx, before.Session.ID); err != nil {
				t.Fatalf("the session is not alive after the retry: %v", err)
			}
			if err := e.check(t, after); err != nil {
				t.Errorf("the retry's access token is refused: %v", err)
			}
			e.setClock(now.Add(time.Second + o.ReuseGrace + 2*time.Second))
			if _, err := e.svc.Refresh(ctx, after.RefreshToken, client); err != nil {
				t.Errorf("the retry's refresh token does not refresh: %v", err)
			}
		})
	}
}

// TestLogoutAllEndsTokensOfEndedSessions: "log out everywhere" (and the
// admin's "end every session") stops every access token of the user, also
// one whose session the store no longer names: a session that expired a
// moment ago, whose token the verifier still takes within its clock leeway.
// Here the store forgets the session without telling the view, as an
// expiry does. Such a token used to stay good (audit: 29 s after a logout
// of everywhere); the stamp now moves too.
func TestLogoutAllEndsTokensOfEndedSessions(t *testing.T) {
	for _, backend := range []string{backendSQLite, backendPostgres} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			e := newBackendEnv(t, backend)
			ctx := context.Background()
			u := e.register(t, "everywhere@example.com", oldPW)
			ended, err := e.svc.Login(ctx, u.Email, oldPW, client)
			if err != nil {
				t.Fatal(err)
			}
			current, err := e.svc.Login(ctx, u.Email, oldPW, client)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.svc.Sessions.Revoke(ctx, ended.Session.ID); err != nil { // gone from the store, unknown to the view
				t.Fatal(err)
			}
			if err := e.check(t, ended); err != nil {
				t.Fatalf("before the logout the token was refused already: %v", err)
			}
			if err := e.svc.LogoutAll(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			if err := e.check(t, ended); err == nil {
				t.Error("after logging out everywhere, the token of the ended session is still accepted")
			}
			e.ended(t, "after logging out everywhere", current)
		})
	}
}
