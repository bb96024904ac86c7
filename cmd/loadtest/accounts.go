package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loopResult is what runClients measured: the sorted latencies of the
// calls that counted, the number of overload answers (503) and of errors,
// with the first error, and in an open loop the sorted lags: how late each
// call was sent after it was due (the client's own delay, from its timers
// and scheduling or a previous call still running), which its latency
// includes.
type loopResult struct {
	lat, lag         []time.Duration
	overloaded, errs int64
	firstErr         string
}

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
			var my, lags []time.Duration
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
					my = append(my, el)
				}
			}
			mu.Lock()
			res.lat = append(res.lat, my...)
			res.lag = append(res.lag, lags...)
			res.overloaded += ov
			res.errs += er
			if res.firstErr == "" {
				res.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(res.lat)
	slices.Sort(res.lag)
	return res
}

// accountResult is one account-endpoint measurement.
type accountResult struct {
	what    string
	clients int
	// offered is the open loop's calls per second; 0 for a closed loop.
	offered float64
	d       time.Duration
	loopResult
	target time.Duration // p99 target
}

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
	fmt.Fprintf(w, "  %-8s %-27s clients %-4d n %-6d %6.0f/s  p50 %8s  p99 %8s  max %8s  503 %-4d errors %-4d  target p99 < %s: %s\n",
		r.what, loop, r.clients, len(r.lat), float64(len(r.lat))/r.d.Seconds(),
		fmtDur(percentile(r.lat, 50)), fmtDur(p99), fmtDur(percentile(r.lat, 100)),
		r.overloaded, r.errs, fmtDur(r.target), verdict)
	if r.offered > 0 {
		fmt.Fprintf(w, "           of which the client's own send lag: p50 %s, p99 %s, max %s\n",
			fmtDur(percentile(r.lag, 50)), fmtDur(percentile(r.lag, 99)), fmtDur(percentile(r.lag, 100)))
	}
	if r.firstErr != "" {
		fmt.Fprintf(w, "           first error: %s\n", r.firstErr)
	}
	return ok
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
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(clients) / rate * float64(time.Second))
	}
	res := runClients(ctx, clients, d, interval, func(ctx context.Context, c int) (int, error) {
		body, _ := json.Marshal(map[string]string{"refresh_token": tokens[c]})
		status, resp, err := call(ctx, client, http.MethodPost, base+"/auth/refresh", body, "")
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

// metricsSnapshot is the gateway's unlabelled Prometheus samples that
// explain a login's latency: time waiting for a hashing slot, and the Go
// GC's cycles and pauses.
type metricsSnapshot map[string]float64

var explainMetrics = []string{
	"gateway_password_hash_wait_seconds_sum", "gateway_password_hash_wait_seconds_count",
	"go_gc_duration_seconds_sum", "go_gc_duration_seconds_count",
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
		if !ok || !slices.Contains(explainMetrics, name) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			m[name] = v
		}
	}
	return m, nil
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
