package auth

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/ratelimit"
)

// gatheringUsers holds every ByEmail call until want calls are inside it
// at once, or until wait has passed: it lets concurrent logins pile up
// between the limit check and the password check, as they do when the
// hash takes tens of milliseconds.
type gatheringUsers struct {
	Users
	want int
	wait time.Duration

	mu     sync.Mutex
	inside int
	all    chan struct{}
}

func (g *gatheringUsers) ByEmail(ctx context.Context, email string) (account.User, error) {
	g.mu.Lock()
	g.inside++
	if g.inside == g.want {
		close(g.all)
	}
	g.mu.Unlock()
	select {
	case <-g.all:
	case <-time.After(g.wait):
	}
	return g.Users.ByEmail(ctx, email)
}

// TestLoginLimitHoldsAgainstConcurrentGuesses: 20 wrong passwords for one
// account sent at once from one address, with login_per_account_ip at 5.
// The limits are checked before the hash and a failure recorded after it,
// so all 20 used to pass the check and be hashed (the audit got 20 × 401);
// the attempts on one account now take turns, and exactly 5 are checked.
func TestLoginLimitHoldsAgainstConcurrentGuesses(t *testing.T) {
	e := newBackendEnv(t, backendSQLite)
	u := e.register(t, "target@example.com", oldPW)
	e.svc.Limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	e.svc.settings.Limits.LoginPerIP = config.Rate{Limit: 1000, Window: time.Hour}
	e.svc.settings.Limits.LoginPerAccountIP = config.Rate{Limit: 5, Window: time.Hour}
	e.svc.settings.Limits.LoginPerAccount = config.Rate{Limit: 100, Window: time.Hour}
	const guesses = 20
	e.svc.Users = &gatheringUsers{Users: e.svc.Users, want: guesses, wait: 200 * time.Millisecond, all: make(chan struct{})}

	var wg sync.WaitGroup
	statuses := make(chan int, guesses)
	for range guesses {
		wg.Go(func() {
			_, err := e.svc.Login(context.Background(), u.Email, "wrong password, guessed", client)
			p := problem.As(err)
			if p == nil {
				t.Errorf("a wrong password logged in: %v", err)
				return
			}
			statuses <- p.Status
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusUnauthorized] != 5 || count[http.StatusTooManyRequests] != guesses-5 {
		t.Errorf("answers %v: want 5 × 401 (checked) and %d × 429", count, guesses-5)
	}
	if n := e.svc.attempts.inUse(); n != 0 {
		t.Errorf("%d account locks left after the logins", n)
	}
}

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

// TestAccountLocks: one holder per key at a time, other keys free; a waiter
// whose context ends gives up with its error; nothing is left behind.
func TestAccountLocks(t *testing.T) {
	var l accountLocks
	ctx := context.Background()
	unlockA, err := l.lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	unlockB, err := l.lock(ctx, "b")
	if err != nil {
		t.Fatalf("another key waited: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := l.lock(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second holder of a: %v, want the context's deadline", err)
	}
	got := make(chan struct{})
	go func() {
		unlock, err := l.lock(ctx, "a")
		if err == nil {
			unlock()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a waiter got a held lock")
	case <-time.After(50 * time.Millisecond):
	}
	unlockA()
	<-got
	unlockB()
	if n := l.inUse(); n != 0 {
		t.Errorf("%d entries left, want 0", n)
	}
}

// TestFloodOnOneAccountIsTurnedAway: attempts waiting for an account's turn
// wait no longer than a caller waits for a hashing slot
// (passwords.max_wait), then get 503 overloaded with a Retry-After, as a
// flood on the hasher does (SPEC 9), instead of queueing for as long as
// their requests last.
func TestFloodOnOneAccountIsTurnedAway(t *testing.T) {
	t.Parallel()
	e := newBackendEnv(t, backendSQLite)
	u := e.register(t, "flooded@example.com", oldPW)
	unlock, err := e.svc.attempts.lock(context.Background(), u.Email) // an attempt in progress
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	start := time.Now()
	_, err = e.svc.Login(context.Background(), u.Email, oldPW, client)
	p := problem.As(err)
	if p == nil || p.Status != http.StatusServiceUnavailable || p.Code != problem.Overloaded || p.RetryAfter < time.Second {
		t.Fatalf("login while the account's turn is taken: %v, want 503 overloaded with a Retry-After", err)
	}
	if took, bound := time.Since(start), e.svc.Hasher.MaxWait(); took < bound || took > bound+5*time.Second {
		t.Errorf("turned away after %v, want about passwords.max_wait (%v)", took, bound)
	}
}
