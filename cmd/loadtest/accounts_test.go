package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOpenLoopCountsLateness: in an open loop, a call that holds its
// client past the next calls' due times makes them late, and their
// latencies count from when they were due, not from when they were sent;
// a closed loop has no due times. (Only lower bounds are asserted: a call
// cannot be sent before the previous one returned, however slow the
// machine.)
func TestOpenLoopCountsLateness(t *testing.T) {
	var calls atomic.Int64
	res := runClients(context.Background(), 1, 300*time.Millisecond, 20*time.Millisecond, func(context.Context, int) (int, error) {
		if calls.Add(1) == 1 {
			time.Sleep(70 * time.Millisecond)
		}
		return 200, nil
	})
	// Due at 0, 20, 40, 60 ms...: the first call returns at 70 ms or
	// later, so the calls due at 20, 40 and 60 ms are sent at 70 ms or
	// later: lags of at least 50, 30 and 10 ms, and latencies as long.
	if len(res.lat) < 4 || len(res.lag) < len(res.lat) {
		t.Fatalf("%d latencies, %d lags: want at least 4 calls", len(res.lat), len(res.lag))
	}
	if got := res.lag[len(res.lag)-1]; got < 50*time.Millisecond {
		t.Errorf("largest lag %s, want at least 50ms", got)
	}
	long := 0
	for _, l := range res.lat {
		if l >= 10*time.Millisecond {
			long++
		}
	}
	if long < 4 {
		t.Errorf("%d latencies of 10ms or more, want at least 4 (the slow call and the three it delayed): %v", long, res.lat)
	}

	closed := runClients(context.Background(), 2, 50*time.Millisecond, 0, func(context.Context, int) (int, error) {
		time.Sleep(time.Millisecond)
		return 200, nil
	})
	if len(closed.lat) == 0 || len(closed.lag) != 0 {
		t.Errorf("closed loop: %d latencies, %d lags; want some latencies and no lags", len(closed.lat), len(closed.lag))
	}
}

// TestSlowWindows: the calls over the threshold are counted and grouped
// by the window they started in, the fullest window first; calls at or
// under the threshold are not counted.
func TestSlowWindows(t *testing.T) {
	ms := time.Millisecond
	r := loopResult{calls: []timedCall{
		{at: 5 * ms, lat: 1 * ms},    // fast: not counted
		{at: 120 * ms, lat: 30 * ms}, // window 100 ms
		{at: 310 * ms, lat: 40 * ms}, // window 300 ms
		{at: 350 * ms, lat: 50 * ms}, // window 300 ms
		{at: 399 * ms, lat: 11 * ms}, // window 300 ms
		{at: 400 * ms, lat: 10 * ms}, // exactly the threshold: not counted
	}}
	slow, windows := r.slowWindows(10*ms, 100*ms)
	if slow != 4 {
		t.Errorf("slow = %d, want 4", slow)
	}
	want := []window{{300 * ms, 3}, {100 * ms, 1}}
	if !slices.Equal(windows, want) {
		t.Errorf("windows = %v, want %v", windows, want)
	}
}

// TestRunClientsTimesEveryCall: every counted call is also in calls, with
// its start within the run and the same latency as in lat.
func TestRunClientsTimesEveryCall(t *testing.T) {
	d := 200 * time.Millisecond
	res := runClients(context.Background(), 3, d, 10*time.Millisecond, func(context.Context, int) (int, error) {
		time.Sleep(time.Millisecond)
		return 200, nil
	})
	if len(res.calls) != len(res.lat) || len(res.calls) == 0 {
		t.Fatalf("%d timed calls, %d latencies: want as many, and some", len(res.calls), len(res.lat))
	}
	var lats []time.Duration
	for _, c := range res.calls {
		if c.at < 0 || c.at > d {
			t.Errorf("a call started at %s, outside the %s run", c.at, d)
		}
		lats = append(lats, c.lat)
	}
	slices.Sort(lats)
	if !slices.Equal(lats, res.lat) {
		t.Errorf("the timed calls' latencies differ from lat")
	}
}

// TestScrapeMetricsRoutes: the refresh route's answers of status 200 are
// read from the duration histogram, in all and within the 10 ms bucket;
// other statuses, routes and buckets are not mixed in.
func TestScrapeMetricsRoutes(t *testing.T) {
	const page = `# TYPE gateway_http_request_duration_seconds histogram
gateway_http_request_duration_seconds_bucket{method="POST",route="auth:/auth/refresh",status="200",le="0.005"} 70
gateway_http_request_duration_seconds_bucket{method="POST",route="auth:/auth/refresh",status="200",le="0.01"} 90
gateway_http_request_duration_seconds_bucket{method="POST",route="auth:/auth/refresh",status="200",le="+Inf"} 100
gateway_http_request_duration_seconds_count{method="POST",route="auth:/auth/refresh",status="200"} 100
gateway_http_request_duration_seconds_bucket{method="POST",route="auth:/auth/refresh",status="401",le="0.01"} 7
gateway_http_request_duration_seconds_count{method="POST",route="auth:/auth/refresh",status="401"} 9
gateway_http_request_duration_seconds_bucket{method="POST",route="auth:/auth/login",status="200",le="0.1"} 3
gateway_http_request_duration_seconds_count{method="POST",route="auth:/auth/login",status="200"} 4
go_gc_duration_seconds_count 12
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()
	m, err := scrapeMetrics(context.Background(), strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	want := metricsSnapshot{
		routeKey("auth:/auth/refresh", false): 100,
		routeKey("auth:/auth/refresh", true):  90,
		routeKey("auth:/auth/login", false):   4,
		routeKey("auth:/auth/login", true):    3,
		"go_gc_duration_seconds_count":        12,
	}
	if !maps.Equal(m, want) {
		t.Errorf("scraped %v, want %v", m, want)
	}
}

// TestRefreshRunKeepsTheRotatedTokens: a refresh still in flight when the
// run ends is let finish, so every session leaves the run holding the token
// the server rotated to last; a lost answer would leave it the old one,
// which a gateway takes for theft after reuse_grace.
func TestRefreshRunKeepsTheRotatedTokens(t *testing.T) {
	var mu sync.Mutex
	current := map[string]string{} // session's first token -> its current token
	owner := map[string]string{}   // current token -> session's first token
	for _, tok := range []string{"a0", "b0", "c0"} {
		current[tok], owner[tok] = tok, tok
	}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		first, ok := owner[in.RefreshToken]
		if !ok {
			mu.Unlock()
			http.Error(w, "stale token", http.StatusUnauthorized)
			return
		}
		n++
		next := fmt.Sprintf("%s-%d", first, n)
		delete(owner, in.RefreshToken)
		owner[next], current[first] = first, next
		mu.Unlock()
		time.Sleep(40 * time.Millisecond) // rotated; the answer is still on its way
		_ = json.NewEncoder(w).Encode(map[string]string{"refresh_token": next})
	}))
	defer srv.Close()

	var sessions []*userSession
	for _, tok := range []string{"a0", "b0", "c0"} {
		sessions = append(sessions, &userSession{refresh: tok})
	}
	r := measureRefresh(context.Background(), srv.URL, sessions, 3, 0, 100*time.Millisecond)
	if r.errs != 0 {
		t.Fatalf("%d errors: %s", r.errs, r.firstErr)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, first := range []string{"a0", "b0", "c0"} {
		if got := sessions[i].refresh; got != current[first] {
			t.Errorf("session %s holds %q after the run, the server's current token is %q", first, got, current[first])
		}
	}
}
