package main

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
)

// TestLoginFlood sends 200 concurrent logins at the production argon2 cost
// with two hashing slots: the excess is answered 503 "overloaded" with
// Retry-After after max_wait, some logins succeed, the flood ends in
// bounded time, and the process heap stays near max_concurrent × the hash
// memory. Not parallel (and the backends one after the other): it measures
// the whole process's heap.
func TestLoginFlood(t *testing.T) {
	const (
		n             = 200
		memoryKiB     = 19456 // production default
		maxConcurrent = 2
		maxWait       = 500 * time.Millisecond
		hashMiB       = 19
		// Two hashes per slot may be garbage not yet collected while
		// the next runs, plus two for slack, plus the rest of the
		// process (test binary, race detector's Go-side state, pools).
		heapBound = (2*maxConcurrent+2)*hashMiB<<20 + 64<<20
	)
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) {
			d := newDeployment(t, backend)
			gw := d.start(t, func(c *config.Config) {
				c.Passwords.MemoryKiB = memoryKiB
				c.Passwords.Iterations = 2
				c.Passwords.MaxConcurrent = maxConcurrent
				c.Passwords.MaxWait = maxWait
				c.Log.Level = "info"
			})
			u := gw.register(t, "flood")

			runtime.GC()
			var peak atomic.Uint64
			stopSampling := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				var ms runtime.MemStats
				tick := time.NewTicker(5 * time.Millisecond)
				defer tick.Stop()
				for {
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > peak.Load() {
						peak.Store(ms.HeapInuse)
					}
					select {
					case <-stopSampling:
						return
					case <-tick.C:
					}
				}
			}()

			results := make([]*response, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				email := u.Email
				if i%4 == 3 {
					email = "unknown-" + strconv.Itoa(i) + "@example.com" // costs the same hash
				}
				wg.Go(func() {
					<-start
					results[i], errs[i] = gw.sendErr(request{method: http.MethodPost, path: "/auth/login",
						json: map[string]any{"email": email, "password": u.Password}})
				})
			}
			began := time.Now()
			close(start)
			wg.Wait()
			took := time.Since(began)
			close(stopSampling)
			<-sampled

			var ok, unknown, overloaded int
			for i, r := range results {
				if errs[i] != nil {
					t.Fatalf("login %d: %v", i, errs[i])
				}
				switch r.status {
				case http.StatusOK:
					ok++
					d.tokensOf(t, r)
				case http.StatusUnauthorized:
					unknown++
					r.wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
				case http.StatusServiceUnavailable:
					overloaded++
					r.wantProblem(t, http.StatusServiceUnavailable, "overloaded")
					if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
						t.Fatalf("503 with Retry-After %q, want a positive number of seconds", r.header.Get("Retry-After"))
					}
				default:
					t.Fatalf("login %d: %d %s", i, r.status, r.body)
				}
			}
			t.Logf("%d logins in %v: %d ok, %d unknown email, %d overloaded; peak heap in use %d MiB (bound %d MiB)",
				n, took.Round(time.Millisecond), ok, unknown, overloaded, peak.Load()>>20, heapBound>>20)
			if ok == 0 {
				t.Error("no login succeeded during the flood")
			}
			if overloaded == 0 {
				t.Error("no login was turned away: the hashing bound did not hold")
			}
			if overloaded < n/2 {
				t.Errorf("only %d of %d logins were turned away with 2 slots and a %v wait", overloaded, n, maxWait)
			}
			if p := peak.Load(); p > heapBound {
				t.Errorf("peak heap in use %d MiB, want at most %d MiB", p>>20, heapBound>>20)
			}
			if took > 30*time.Second {
				t.Errorf("the flood took %v; waiting callers must give up after max_wait", took)
			}

			// The gateway recovers at once.
			gw.login(t, u)
		})
	}
}
