package main

// The abuse limits of SPEC section 3 (rate_limits) end to end: shared by
// replicas through Redis, per client IP as the gateway sees it (trusted
// proxies honoured, forged X-Forwarded-For from an untrusted peer not),
// failed logins per account-and-IP tighter than per account, and
// registration per IP.

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/problem"
)

// fromIP is the header a trusted proxy on 127.0.0.1 sends for a client.
func fromIP(ip string) http.Header {
	if ip == "" {
		return nil
	}
	return http.Header{"X-Forwarded-For": {ip}}
}

// loginAs posts a bearer login for email/pw with extra headers.
func (in *instance) loginAs(t testing.TB, email, pw string, h http.Header) *response {
	t.Helper()
	return in.send(t, request{method: http.MethodPost, path: "/auth/login", header: h,
		json: map[string]any{"email": email, "password": pw}})
}

// wantRateLimited checks a 429 rate_limited with a Retry-After of whole
// seconds, at least 1, and at most max.
func (r *response) wantRateLimited(t testing.TB, maxWait time.Duration) {
	t.Helper()
	r.wantProblem(t, http.StatusTooManyRequests, problem.RateLimited)
	ra := r.header.Get("Retry-After")
	secs, err := strconv.Atoi(ra)
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > maxWait+time.Second {
		t.Errorf("Retry-After %q, want whole seconds in [1, %v]", ra, maxWait)
	}
}

// rateLimitedAudits counts the audit lines of refusals by limit.
func (d *deployment) rateLimitedAudits(limit string) int {
	return d.logs.FilterLoggerName("audit").FilterField(zap.String("result", "rate_limited")).
		FilterField(zap.String("limit", limit)).Len()
}

// Two replicas on one Redis count the same attempts: the first login over
// login_per_ip from one address is refused by both, and logins work again
// after the window. So they do with sessions in SQL and Redis configured:
// the limits go to Redis whenever it is configured (they used to stay in
// each process unless the sessions were in Redis too).
func TestRateLimitLoginPerIPSharedByReplicas(t *testing.T) {
	t.Parallel()
	for _, sessions := range []string{"redis", "sql"} {
		t.Run("sessions="+sessions, func(t *testing.T) {
			t.Parallel()
			testLoginPerIPShared(t, sessions)
		})
	}
}

func testLoginPerIPShared(t *testing.T, sessions string) {
	d := newDeployment(t, backendPostgres)
	d.storage.Sessions = sessions
	rate := config.Rate{Limit: 3, Window: 2 * time.Second}
	mutate := func(c *config.Config) {
		c.RateLimits.LoginPerIP = rate
		// The test's requests come through a "proxy" on loopback, so
		// that each round can be a fresh client address.
		c.Server.TrustedProxies = []string{"127.0.0.1/32"}
	}
	a, b := d.start(t, mutate), d.start(t, mutate)
	u := a.register(t, "alice")

	// GCRA lets one more attempt through every window/limit (667 ms): a
	// round whose requests took longer than that proves nothing and is
	// run again from another address.
	for round := 1; ; round++ {
		ip := fmt.Sprintf("198.51.100.%d", round)
		start := time.Now()
		a.loginAs(t, u.Email, u.Password, fromIP(ip)).wantStatus(t, http.StatusOK)
		b.loginAs(t, u.Email, u.Password, fromIP(ip)).wantStatus(t, http.StatusOK)
		a.loginAs(t, u.Email, u.Password, fromIP(ip)).wantStatus(t, http.StatusOK)
		onB := b.loginAs(t, u.Email, u.Password, fromIP(ip))
		onA := a.loginAs(t, u.Email, u.Password, fromIP(ip))
		if time.Since(start) > 600*time.Millisecond {
			if round == 5 {
				t.Fatal("five rounds of five logins each took longer than 600 ms")
			}
			t.Logf("round %d took %v; again", round, time.Since(start))
			continue
		}
		onB.wantRateLimited(t, rate.Window)
		onA.wantRateLimited(t, rate.Window)
		// Another address is not limited.
		a.loginAs(t, u.Email, u.Password, fromIP("198.51.100.200")).wantStatus(t, http.StatusOK)

		// After the window, logins work again on both.
		eventually(t, 10*time.Second, "a login after the window", func() bool {
			return b.loginAs(t, u.Email, u.Password, fromIP(ip)).status == http.StatusOK
		})
		eventually(t, 10*time.Second, "a login after the window on the other replica", func() bool {
			return a.loginAs(t, u.Email, u.Password, fromIP(ip)).status == http.StatusOK
		})
		break
	}
	if n := d.rateLimitedAudits("login_per_ip"); n < 2 {
		t.Errorf("%d audit lines for login_per_ip refusals, want at least 2", n)
	}
}

// An attacker guessing a victim's password from one address is stopped
// there after login_per_account_ip failures, even with the right password,
// while the victim still logs in from their own address; the victim's own
// successful logins are never counted.
func TestRateLimitFailedLoginsPerAccountAndIP(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		in := d.start(t, func(c *config.Config) {
			c.RateLimits.LoginPerAccountIP = config.Rate{Limit: 5, Window: 15 * time.Minute}
			c.RateLimits.LoginPerAccount = config.Rate{Limit: 10, Window: 15 * time.Minute}
			c.Server.TrustedProxies = []string{"127.0.0.1/32"}
		})
		victim := in.register(t, "victim")
		const victimIP = "203.0.113.7"

		// The victim logs in more often than the per-account limits: only
		// failures count.
		for range 6 {
			in.loginAs(t, victim.Email, victim.Password, fromIP(victimIP)).wantStatus(t, http.StatusOK)
		}
		// The attacker, on 127.0.0.1 (no forwarded header).
		for i := range 5 {
			r := in.loginAs(t, victim.Email, "wrong-"+randomHex(t, 4), nil)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("failed login %d: status %d, want 401; %s", i+1, r.status, r.body)
			}
		}
		in.loginAs(t, victim.Email, "wrong-guess", nil).wantRateLimited(t, 15*time.Minute)
		// Refused before the password is looked at: the right one too.
		in.loginAs(t, victim.Email, victim.Password, nil).wantRateLimited(t, 15*time.Minute)
		// The victim from their own address is not locked out.
		in.loginAs(t, victim.Email, victim.Password, fromIP(victimIP)).wantStatus(t, http.StatusOK)
		// Nor is another account from the attacker's address.
		other := in.register(t, "other")
		in.loginAs(t, other.Email, other.Password, nil).wantStatus(t, http.StatusOK)
		// An unknown address is limited the same way (no enumeration).
		ghost := "ghost-" + randomHex(t, 4) + "@example.com"
		for range 5 {
			in.loginAs(t, ghost, "wrong-guess", nil).wantStatus(t, http.StatusUnauthorized)
		}
		in.loginAs(t, ghost, "wrong-guess", nil).wantRateLimited(t, 15*time.Minute)

		if n := d.rateLimitedAudits("login_per_account_ip"); n < 3 {
			t.Errorf("%d audit lines for login_per_account_ip refusals, want 3", n)
		}
	})
}

// With no trusted proxy (the default), X-Forwarded-For is the client's own
// claim: forging a new one per attempt does not escape the per-IP limit.
func TestRateLimitForgedForwardedForIgnored(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		in := d.start(t, func(c *config.Config) {
			c.RateLimits.LoginPerIP = config.Rate{Limit: 3, Window: time.Hour}
			c.RateLimits.LoginPerAccountIP = config.Rate{Limit: 2, Window: time.Hour}
		})
		u := in.register(t, "alice")
		for i := range 3 {
			in.loginAs(t, u.Email, u.Password, fromIP(fmt.Sprintf("192.0.2.%d", i+1))).wantStatus(t, http.StatusOK)
		}
		in.loginAs(t, u.Email, u.Password, fromIP("192.0.2.99")).wantRateLimited(t, time.Hour)
		in.loginAs(t, u.Email, u.Password, nil).wantRateLimited(t, time.Hour)
	})
}

// register_per_ip refuses the registration over the limit.
func TestRateLimitRegisterPerIP(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		in := d.start(t, func(c *config.Config) {
			c.RateLimits.RegisterPerIP = config.Rate{Limit: 2, Window: time.Hour}
		})
		in.register(t, "one")
		in.register(t, "two")
		pw := newPassword(t)
		d.secret(pw)
		r := in.send(t, request{method: http.MethodPost, path: "/auth/register",
			json: map[string]any{"email": "three-" + randomHex(t, 4) + "@example.com", "password": pw, "name": "three"}})
		r.wantRateLimited(t, time.Hour)
		if n := d.rateLimitedAudits("register_per_ip"); n != 1 {
			t.Errorf("%d audit lines for register_per_ip refusals, want 1", n)
		}
	})
}
