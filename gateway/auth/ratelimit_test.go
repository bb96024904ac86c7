package auth

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/ratelimit"
)

// downLimiter is a limiter whose store is unreachable.
type downLimiter struct{}

func (downLimiter) Allow(context.Context, string, config.Rate) (ratelimit.Result, error) {
	return ratelimit.Result{}, errors.New("redis: connection refused")
}

func (downLimiter) Check(context.Context, string, config.Rate) (ratelimit.Result, error) {
	return ratelimit.Result{}, errors.New("redis: connection refused")
}

// TestRateLimiterDownFailsClosed: a limiter that cannot answer refuses
// logins and registrations with 503, before any user lookup (noUsers
// panics) or hashing.
func TestRateLimiterDownFailsClosed(t *testing.T) {
	svc, _, _ := newReuseService(t, reusingStore{}, &recordingFeed{})
	svc.Limiter = downLimiter{}
	events := &storeErrors{}
	svc.Events = events
	svc.settings.RegistrationEnabled = true
	_, err := svc.Login(context.Background(), "a@example.com", "pw", Client{IP: "192.0.2.1"})
	if p := problem.As(err); p == nil || p.Status != http.StatusServiceUnavailable {
		t.Errorf("login: error %v, want 503", err)
	}
	_, err = svc.Register(context.Background(), "a@example.com", "pw", "", Client{IP: "192.0.2.1"})
	if p := problem.As(err); p == nil || p.Status != http.StatusServiceUnavailable {
		t.Errorf("register: error %v, want 503", err)
	}
	// Operators see the failing store (gateway_store_errors_total).
	if got := events.stores; len(got) != 2 || got[0] != "ratelimit" || got[1] != "ratelimit" {
		t.Errorf("store errors %q, want two for ratelimit", got)
	}
}

// storeErrors records the store failures a Service reports.
type storeErrors struct{ stores []string }

func (*storeErrors) AuthEvent(string, string)  {}
func (e *storeErrors) StoreError(store string) { e.stores = append(e.stores, store) }

// TestRateLimitedLoginIsRefusedFirst: over login_per_ip, a login is 429
// with a Retry-After of at least 1 s, before any user lookup, and audited.
func TestRateLimitedLoginIsRefusedFirst(t *testing.T) {
	svc, _, logs := newReuseService(t, reusingStore{}, &recordingFeed{})
	svc.Limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	svc.settings.Limits.LoginPerIP = config.Rate{Limit: 1, Window: time.Hour}
	if _, err := svc.Limiter.Allow(context.Background(), keyLoginIP+"192.0.2.1", svc.settings.Limits.LoginPerIP); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Login(context.Background(), "a@example.com", "pw", Client{IP: "192.0.2.1"})
	p := problem.As(err)
	if p == nil || p.Status != http.StatusTooManyRequests || p.Code != problem.RateLimited || p.RetryAfter < time.Second {
		t.Fatalf("error %v, want 429 rate_limited with a Retry-After", err)
	}
	if n := logs.FilterLoggerName("audit").FilterMessage("login").Len(); n != 1 {
		t.Errorf("%d login audit lines, want 1", n)
	}
}
