package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The soak and the account measurements are driven by Go clients in the
// harness rather than wrk: a browser session's cookies change when the
// gateway refreshes them at the edge, and only a client with a cookie jar
// per user follows that (wrk's Lua cannot tell which user a response
// belongs to).

// soakResult is what one soak run saw.
type soakResult struct {
	requests, ok     int64
	errors           int64 // transport errors, 5xx and other unexpected statuses
	loggedOut        int64 // 401 answers and redirects (to the login page)
	usersLoggedOut   int   // distinct users that got one
	refreshes        int64 // answers that set a new access cookie: edge refreshes
	lat              []time.Duration
	rss              []rssSample
	firstErr         string
	users, conc      int
	duration, period time.Duration
}

type rssSample struct {
	at  time.Duration
	rss int64
}

// runSoak drives gw for d with conc clients, client w acting as user
// w mod len(sessions) with that user's cookie jar (so with conc ≥ users
// every user is busy, and with conc > users some users have several
// "tabs" refreshing at once), and samples the gateway's RSS every period.
func runSoak(ctx context.Context, gw *target, sessions []*userSession, conc int, d, period time.Duration, accessCookie string) *soakResult {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conc
	tr.MaxConnsPerHost = 0
	defer tr.CloseIdleConnections()
	res := &soakResult{users: len(sessions), conc: conc, duration: d, period: period}
	var mu sync.Mutex
	loggedOut := make([]atomic.Bool, len(sessions))

	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			if m, err := readMemory(gw.proc.pid()); err == nil {
				res.rss = append(res.rss, rssSample{time.Since(start), m.RSS})
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	for w := range conc {
		wg.Go(func() {
			u := w % len(sessions)
			s := sessions[u]
			client := &http.Client{Transport: tr, Jar: s.jar, Timeout: 30 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			lat := make([]time.Duration, 0, 4096)
			var n, ok, errs, out, refreshed int64
			var firstErr string
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gw.base+s.user.path, nil)
				req.Header.Set("Accept", "application/json")
				req.Header.Set("User-Agent", "authgate-loadtest/1")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						break // the run ended mid-request
					}
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					n++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				n++
				for _, c := range resp.Header.Values("Set-Cookie") {
					if strings.HasPrefix(c, accessCookie+"=") {
						refreshed++
						break
					}
				}
				switch {
				case resp.StatusCode == http.StatusOK:
					ok++
				case resp.StatusCode == http.StatusUnauthorized || (resp.StatusCode >= 300 && resp.StatusCode < 400):
					out++
					loggedOut[u].Store(true)
				default:
					errs++
					if firstErr == "" {
						firstErr = fmt.Sprintf("GET %s: status %d", s.user.path, resp.StatusCode)
					}
				}
			}
			mu.Lock()
			res.requests += n
			res.ok += ok
			res.errors += errs
			res.loggedOut += out
			res.refreshes += refreshed
			res.lat = append(res.lat, lat...)
			if res.firstErr == "" {
				res.firstErr = firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	for i := range loggedOut {
		if loggedOut[i].Load() {
			res.usersLoggedOut++
		}
	}
	slices.Sort(res.lat)
	return res
}

// print writes the soak's report and returns whether it met the target:
// no errors, nobody logged out, RSS stable.
func (r *soakResult) print(w io.Writer, name string) bool {
	fmt.Fprintf(w, "\nSOAK %s: %s at c=%d, %d distinct users in cookie mode\n", name, r.duration, r.conc, r.users)
	rps := float64(r.requests) / r.duration.Seconds()
	fmt.Fprintf(w, "  requests %d (%.0f rps), 200 %d, p50 %s, p99 %s\n", r.requests, rps, r.ok,
		fmtDur(percentile(r.lat, 50)), fmtDur(percentile(r.lat, 99)))
	fmt.Fprintf(w, "  edge refreshes (answers with a new access cookie) %d\n", r.refreshes)
	fmt.Fprintf(w, "  errors %d, 401/redirects %d, users logged out %d\n", r.errors, r.loggedOut, r.usersLoggedOut)
	if r.firstErr != "" {
		fmt.Fprintf(w, "  first error: %s\n", r.firstErr)
	}
	var series []string
	for _, s := range r.rss {
		series = append(series, fmt.Sprintf("%.0fs %.1f", s.at.Seconds(), float64(s.rss)/(1<<20)))
	}
	fmt.Fprintf(w, "  RSS MiB every %s: %s\n", r.period, strings.Join(series, ", "))
	stable, verdict := rssStable(r.rss)
	fmt.Fprintf(w, "  RSS %s\n", verdict)
	return r.errors == 0 && r.usersLoggedOut == 0 && stable
}

// rssStable compares the peak RSS of the run's second half with its first
// half: a leak keeps growing, a warmed-up process plateaus. Stable means
// at most 10% growth.
func rssStable(ss []rssSample) (bool, string) {
	if len(ss) < 4 {
		return true, "too few samples to judge (run longer or sample more often)"
	}
	half := len(ss) / 2
	var first, second int64
	for i, s := range ss {
		if i < half {
			first = max(first, s.rss)
		} else {
			second = max(second, s.rss)
		}
	}
	growth := float64(second)/float64(first) - 1
	if growth > 0.10 {
		return false, fmt.Sprintf("NOT stable: peak of the second half %s is %+.1f%% over the first half's %s", fmtMiB(second), 100*growth, fmtMiB(first))
	}
	return true, fmt.Sprintf("stable: peak of the second half %s, %+.1f%% against the first half's %s", fmtMiB(second), 100*growth, fmtMiB(first))
}

// percentile of sorted durations (p in 0..100), 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}
