package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/password"
)

// loopResult is what runClients measured: the sorted latencies of the
// calls that counted, the number of overload answers (503) and of errors,
// with the first error, and in an open loop the sorted lags: how late each
// call was sent after it was due (the client's own delay, from its timers
// and scheduling or a previous call still running), which its latency
// includes. calls are the counted calls with when each started (or was
// due), in no order, to tell where in the run the slow ones fell; lat is
// their latencies, sorted.
type loopResult struct {
	lat, lag         []time.Duration
	calls            []timedCall
	overloaded, errs int64
	firstErr         string
}

// timedCall is one counted call: when it started (an open loop's: when it
// was due), counted from the start of the run, and its latency.
type timedCall struct{ at, lat time.Duration }

// runClients runs clients goroutines for d, each calling f in turn.
//
// With interval 0 it is a closed loop: each client calls again as soon as
// its call returns (no think time), and a latency is the call's duration.
// Otherwise it is an open loop: client c's calls are due every interval
// (clients/interval calls per second offered in all), the clients' phases
// spread evenly over one interval, and a latency counts from when the call
// was due. A client still busy with its previous call starts late and the
// lateness is counted, so a slow server cannot hide its queue by slowing
// the arrivals down (no coordinated omission).
func runClients(ctx context.Context, clients int, d, interval time.Duration, f func(ctx context.Context, client int) (status int, err error)) loopResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var res loopResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			var lags []time.Duration
			var timed []timedCall
			var ov, er int64
			var first string
			due := start.Add(interval * time.Duration(c) / time.Duration(clients))
			for ctx.Err() == nil {
				t0 := time.Now()
				if interval > 0 {
					if wait := time.Until(due); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
							continue
						}
					}
					lags = append(lags, max(0, time.Since(due)))
					t0 = due
					due = due.Add(interval)
				}
				status, err := f(ctx, c)
				el := time.Since(t0)
				switch {
				case ctx.Err() != nil:
				case err != nil:
					er++
					if first == "" {
						first = err.Error()
					}
				case status == http.StatusServiceUnavailable:
					ov++
				default:
					timed = append(timed, timedCall{t0.Sub(start), el})
				}
			}
			mu.Lock()
			res.lag = append(res.lag, lags...)
			res.calls = append(res.calls, timed...)
			res.overloaded += ov
			res.errs += er
			if res.firstErr == "" {
				res.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.lat = make([]time.Duration, len(res.calls))
	for i, c := range res.calls {
		res.lat[i] = c.lat
	}
	slices.Sort(res.lat)
	slices.Sort(res.lag)
	return res
}

// window is a stretch of a run and how many calls that started in it were
// slower than a threshold.
type window struct {
	at   time.Duration
	slow int
}

// slowWindows counts the calls slower than threshold and groups them by
// the window of length width they started in, the windows with the most
// first (then the earliest). Calls over a target spread evenly over a run
// mean a steady cost; bunched in a few windows they mean pauses: a GC
// cycle, or the machine not running the process for a moment.
func (r loopResult) slowWindows(threshold, width time.Duration) (slow int, windows []window) {
	count := map[time.Duration]int{}
	for _, c := range r.calls {
		if c.lat > threshold {
			slow++
			count[c.at.Truncate(width)]++
		}
	}
	for at, n := range count {
		windows = append(windows, window{at, n})
	}
	slices.SortFunc(windows, func(a, b window) int {
		if a.slow != b.slow {
			return b.slow - a.slow
		}
		return int(a.at - b.at)
	})
	return slow, windows
}

// accountResult is one account-endpoint measurement.
type accountResult struct {
	what    string
	clients int
	// offered is the open loop's calls per second; 0 for a closed loop.
	offered float64
	d       time.Duration
	loopResult
	// target is the p99 target; 0 for a floor run (see floor).
	target time.Duration
	// floor is the run without the gateway that this one is read against
	// (the same loop against the plain proxy, or the hashing alone), nil
	// if none.
	floor *accountResult
}

// slowWindow is the width of the windows print groups slow calls in.
const slowWindow = 100 * time.Millisecond

func (r accountResult) print(w io.Writer) bool {
	p99 := percentile(r.lat, 99)
	ok := r.errs == 0 && r.overloaded == 0 && p99 < r.target
	verdict := "met"
	if !ok {
		verdict = "NOT met"
	}
	loop := "closed loop"
	if r.offered > 0 {
		loop = fmt.Sprintf("open loop, %.0f/s offered", r.offered)
	}
	judged := fmt.Sprintf("target p99 < %s: %s", fmtDur(r.target), verdict)
	if r.target == 0 {
		ok = r.errs == 0 && r.overloaded == 0
		judged = "floor, no target"
	}
	fmt.Fprintf(w, "  %-8s %-27s clients %-4d n %-6d %6.0f/s  p50 %8s  p99 %8s  max %8s  503 %-4d errors %-4d  %s\n",
		r.what, loop, r.clients, len(r.lat), float64(len(r.lat))/r.d.Seconds(),
		fmtDur(percentile(r.lat, 50)), fmtDur(p99), fmtDur(percentile(r.lat, 100)),
		r.overloaded, r.errs, judged)
	if r.floor != nil {
		if fp99 := percentile(r.floor.lat, 99); fp99 > 0 {
			fmt.Fprintf(w, "           against the %s floor just before: p50 %.2f×, p99 %.2f×\n", r.floor.what,
				ratio(percentile(r.lat, 50), percentile(r.floor.lat, 50)), ratio(p99, fp99))
		}
	}
	if r.target > 0 && len(r.calls) > 0 {
		if slow, windows := r.slowWindows(r.target, slowWindow); slow > 0 {
			var worst []string
			for _, win := range windows[:min(len(windows), 4)] {
				worst = append(worst, fmt.Sprintf("%.1fs (%d)", win.at.Seconds(), win.slow))
			}
			fmt.Fprintf(w, "           over the target: %d calls (%.1f%%) in %d of %d windows of %s; the most at %s\n",
				slow, 100*float64(slow)/float64(len(r.calls)), len(windows), int(r.d/slowWindow), slowWindow,
				strings.Join(worst, ", "))
		}
	}
	if r.offered > 0 {
		fmt.Fprintf(w, "           of which the client's own send lag: p50 %s, p99 %s, max %s\n",
			fmtDur(percentile(r.lag, 50)), fmtDur(percentile(r.lag, 99)), fmtDur(percentile(r.lag, 100)))
	}
	if r.firstErr != "" {
		fmt.Fprintf(w, "           first error: %s\n", r.firstErr)
	}
	return ok
}

// ratio is a/b, or 0 when b is 0.
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// measureHashing runs the gateway's own password.Hasher, with the gateway's
// default argon2id parameters and slots, in this process: clients
// goroutines verifying a password back to back for d, with no HTTP,
// database or session around it. It is the floor under the login run: what
// the same number of clients get from the password check alone on this
// machine at this moment.
func measureHashing(ctx context.Context, clients int, d time.Duration) (accountResult, error) {
	h, err := password.New(config.Default().Passwords, nil)
	if err != nil {
		return accountResult{}, err
	}
	const pw = "the hashing floor's password"
	encoded, err := h.Hash(ctx, pw)
	if err != nil {
		return accountResult{}, err
	}
	res := runClients(ctx, clients, d, 0, func(ctx context.Context, _ int) (int, error) {
		match, _, err := h.Verify(ctx, pw, encoded)
		var overloaded *password.OverloadedError
		switch {
		case errors.As(err, &overloaded):
			return http.StatusServiceUnavailable, nil
		case err != nil:
			return 0, err
		case !match:
			return 0, errors.New("the password did not verify")
		}
		return http.StatusOK, nil
	})
	return accountResult{what: "argon2id", clients: clients, d: d, loopResult: res}, nil
}

// measureProxy sends GET url through the plain proxy from clients clients
// for d, back to back with rate 0, else rate calls per second in all (as
// measureRefresh). It is the floor under a refresh run: what the same
// loop gets from the machine, the client and a proxied round trip alone.
func measureProxy(ctx context.Context, url string, clients int, rate float64, d time.Duration) accountResult {
	client := setupClient(clients)
	res := runClients(ctx, clients, d, interval(clients, rate), func(ctx context.Context, _ int) (int, error) {
		status, resp, err := call(ctx, client, http.MethodGet, url, nil, "")
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("GET %s: status %d: %s", url, status, resp)
		}
		return status, err
	})
	return accountResult{what: "proxy", clients: clients, offered: rate, d: d, loopResult: res}
}

// interval is each client's period in an open loop of clients sharing rate
// calls per second; 0 (a closed loop) for rate 0.
func interval(clients int, rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(clients) / rate * float64(time.Second))
}

// measureLogin logs users in back to back from clients clients for d
// (client c as user c mod len(users)), at the gateway's configured argon2id
// cost.
func measureLogin(ctx context.Context, base string, users []*loadUser, clients int, d time.Duration) accountResult {
	client := setupClient(clients)
	res := runClients(ctx, clients, d, 0, func(ctx context.Context, c int) (int, error) {
		u := users[c%len(users)]
		body, _ := json.Marshal(map[string]any{"email": u.email, "password": u.password})
		status, resp, err := call(ctx, client, http.MethodPost, base+"/auth/login", body, "")
		if err == nil && status != http.StatusOK && status != http.StatusServiceUnavailable {
			err = fmt.Errorf("POST /auth/login: status %d: %s", status, resp)
		}
		return status, err
	})
	return accountResult{what: "login", clients: clients, d: d, loopResult: res, target: 100 * time.Millisecond}
}

// measureRefresh refreshes clients sessions for d, each client its own
// session (API mode: the refresh token in the body, rotated on every call):
// back to back with rate 0, else rate refreshes per second in all (an open
// loop; see runClients).
func measureRefresh(ctx context.Context, base string, sessions []*userSession, clients int, rate float64, d time.Duration) accountResult {
	client := setupClient(clients)
	tokens := make([]string, clients)
	for i := range tokens {
		tokens[i] = sessions[i%len(sessions)].refresh
	}
	// A refresh still in flight when the run ends is let finish, with the
	// run's parent context rather than the loop's: cancelled, it could be
	// rotated on the gateway with the answer lost, and the next run would
	// present the old token after reuse_grace, which the gateway rightly
	// takes for theft and ends the session. (runClients does not count a
	// call that returns after the end.)
	outer := ctx
	res := runClients(ctx, clients, d, interval(clients, rate), func(_ context.Context, c int) (int, error) {
		body, _ := json.Marshal(map[string]string{"refresh_token": tokens[c]})
		status, resp, err := call(outer, client, http.MethodPost, base+"/auth/refresh", body, "")
		if err != nil {
			return 0, err
		}
		if status != http.StatusOK {
			if status == http.StatusServiceUnavailable {
				return status, nil
			}
			return status, fmt.Errorf("POST /auth/refresh: status %d: %s", status, resp)
		}
		var tok struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(resp, &tok); err != nil || tok.RefreshToken == "" {
			return status, fmt.Errorf("POST /auth/refresh: no refresh_token in %s", resp)
		}
		tokens[c] = tok.RefreshToken // only client c's goroutine touches it
		return status, nil
	})
	// The sessions' tokens are the rotated ones now, for the next run.
	for i := range min(clients, len(sessions)) {
		sessions[i].refresh = tokens[i]
	}
	return accountResult{what: "refresh", clients: clients, offered: rate, d: d, loopResult: res, target: 10 * time.Millisecond}
}

// metricsSnapshot is the gateway's samples that explain a run's latency:
// time waiting for a hashing slot, the Go GC's cycles and pauses, and per
// account route the answers counted by its duration histogram, in all and
// within the latency target (keys from routeKey).
type metricsSnapshot map[string]float64

var explainMetrics = []string{
	"gateway_password_hash_wait_seconds_sum", "gateway_password_hash_wait_seconds_count",
	"go_gc_duration_seconds_sum", "go_gc_duration_seconds_count",
}

// accountRoutes are the route classes and latency targets whose duration
// histograms scrapeMetrics keeps: the bucket bound ("le") of each target
// is one of the histogram's (Prometheus' default buckets).
var accountRoutes = map[string]string{
	"auth:/auth/login":   "0.1",
	"auth:/auth/refresh": "0.01",
}

// routeKey names a route's sample in a metricsSnapshot: its answers of
// status 200 in all (within false) or within its target (within true).
func routeKey(route string, within bool) string {
	if within {
		return route + " within"
	}
	return route + " count"
}

// scrapeMetrics reads those samples from the gateway's admin listener.
func scrapeMetrics(ctx context.Context, admin string) (metricsSnapshot, error) {
	status, body, err := callLimit(ctx, setupClient(1), http.MethodGet, "http://"+admin+"/metrics", 8<<20)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", status)
	}
	m := metricsSnapshot{}
	for _, line := range strings.Split(string(body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		if slices.Contains(explainMetrics, name) {
			m[name] = v
			continue
		}
		for route, le := range accountRoutes {
			if !strings.Contains(name, `route="`+route+`"`) || !strings.Contains(name, `status="200"`) {
				continue
			}
			switch {
			case strings.HasPrefix(name, "gateway_http_request_duration_seconds_count{"):
				m[routeKey(route, false)] = v
			case strings.HasPrefix(name, "gateway_http_request_duration_seconds_bucket{") && strings.Contains(name, `le="`+le+`"`):
				m[routeKey(route, true)] = v
			}
		}
	}
	return m, nil
}

// printInsideGateway writes the share of route's answers between before
// and after that took longer than the target by the gateway's own clock
// (its duration histogram: from reading the request to the end of the
// answer), next to the share at the client. Few over the target inside
// and many at the client means the time went outside the handlers:
// waiting for the process or the client to run, or in the sockets.
func printInsideGateway(w io.Writer, route string, before, after metricsSnapshot, r accountResult) {
	if before == nil || after == nil || len(r.calls) == 0 {
		return
	}
	count := after[routeKey(route, false)] - before[routeKey(route, false)]
	within := after[routeKey(route, true)] - before[routeKey(route, true)]
	if count <= 0 {
		return
	}
	slow, _ := r.slowWindows(r.target, slowWindow)
	fmt.Fprintf(w, "           over the target inside the gateway (its /metrics histogram): %.1f%% of %.0f answers; at the client: %.1f%%\n",
		100*(count-within)/count, count, 100*float64(slow)/float64(len(r.calls)))
}

// printLoginExplained writes, per login of the run between before and
// after, the mean wait for a hashing slot and the GC cycles and pause time.
func printLoginExplained(w io.Writer, before, after metricsSnapshot, logins int) {
	if logins == 0 || before == nil || after == nil {
		return
	}
	d := func(k string) float64 { return after[k] - before[k] }
	waits := d("gateway_password_hash_wait_seconds_count")
	meanWait := 0.0
	if waits > 0 {
		meanWait = d("gateway_password_hash_wait_seconds_sum") / waits
	}
	fmt.Fprintf(w, "           per login: slot wait %s (mean), GC cycles %.2f, GC pause %s (gateway /metrics)\n",
		fmtDur(time.Duration(meanWait*float64(time.Second))),
		d("go_gc_duration_seconds_count")/float64(logins),
		fmtDur(time.Duration(d("go_gc_duration_seconds_sum")/float64(logins)*float64(time.Second))))
}
