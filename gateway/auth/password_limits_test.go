package auth

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/ratelimit"
)

// TestChangePasswordCountsAgainstLoginLimits: guesses at current_password
// (with a stolen access token, say) count as failed logins of the account:
// once login_per_account_ip is used up, the password change is refused
// with 429 whatever the password, and so is a login from that address.
// They used to be unlimited.
func TestChangePasswordCountsAgainstLoginLimits(t *testing.T) {
	e := newBackendEnv(t, backendSQLite)
	u := e.register(t, "target@example.com", oldPW)
	pair, err := e.svc.Login(context.Background(), u.Email, oldPW, client)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	e.svc.settings.Limits.LoginPerAccountIP = config.Rate{Limit: 3, Window: time.Hour}
	e.svc.settings.Limits.LoginPerAccount = config.Rate{Limit: 100, Window: time.Hour}
	e.svc.settings.Limits.LoginPerIP = config.Rate{Limit: 1000, Window: time.Hour}
	ctx := context.Background()
	const next = "a brand new passphrase 2"
	for i := range 3 {
		err := e.svc.ChangePassword(ctx, u.ID, pair.Session.ID, "not the password at all", next, client)
		if p := problem.As(err); p == nil || p.Status != http.StatusForbidden {
			t.Fatalf("guess %d: %v, want 403 invalid_credentials", i+1, err)
		}
	}
	err = e.svc.ChangePassword(ctx, u.ID, pair.Session.ID, oldPW, next, client)
	if p := problem.As(err); p == nil || p.Status != http.StatusTooManyRequests || p.RetryAfter < time.Second {
		t.Fatalf("after 3 wrong guesses, the right password: %v, want 429 with a Retry-After", err)
	}
	if !e.passwordIs(t, u.ID, oldPW) {
		t.Errorf("the refused change changed the password")
	}
	_, err = e.svc.Login(ctx, u.Email, oldPW, client)
	if p := problem.As(err); p == nil || p.Status != http.StatusTooManyRequests {
		t.Errorf("login from the same address after the guesses: %v, want 429", err)
	}
}
