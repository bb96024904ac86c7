package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrkOptions is one wrk invocation.
type wrkOptions struct {
	URL         string
	Connections int
	Threads     int
	Duration    time.Duration
	Timeout     time.Duration // wrk's per-request timeout; 0 = wrk's default (2s)
	Headers     []string      // "Name: value"
	Script      string        // optional Lua script (the load users' requests)
}

// wrkResult is what the harness reads from wrk's report.
type wrkResult struct {
	Requests   int64
	Elapsed    time.Duration
	RPS        float64
	LatencyAvg time.Duration
	LatencyMax time.Duration
	// Percentiles from --latency: keys 50, 75, 90, 99.
	Percentiles map[int]time.Duration
	// Socket errors.
	Connect, Read, Write, Timeout int64
	// Responses with a status outside 2xx/3xx.
	Non2xx3xx int64
}

// Errors is every failed request wrk counted.
func (r *wrkResult) Errors() int64 {
	return r.Connect + r.Read + r.Write + r.Timeout + r.Non2xx3xx
}

// P returns the latency percentile p (50, 75, 90 or 99).
func (r *wrkResult) P(p int) time.Duration { return r.Percentiles[p] }

// runWrk runs wrk and parses its report.
func runWrk(ctx context.Context, o wrkOptions) (*wrkResult, string, error) {
	threads := max(1, min(o.Threads, o.Connections))
	args := []string{
		"-t", strconv.Itoa(threads),
		"-c", strconv.Itoa(o.Connections),
		"-d", fmt.Sprintf("%ds", max(1, int(o.Duration.Round(time.Second)/time.Second))),
		"--latency",
	}
	if o.Timeout > 0 {
		args = append(args, "--timeout", fmt.Sprintf("%ds", max(1, int(o.Timeout/time.Second))))
	}
	for _, h := range o.Headers {
		args = append(args, "-H", h)
	}
	if o.Script != "" {
		args = append(args, "-s", o.Script)
	}
	args = append(args, o.URL)

	// wrk stops by itself after Duration; the deadline only guards a hang.
	ctx, cancel := context.WithTimeout(ctx, o.Duration+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wrk", args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 2 * time.Second
	// Own process group: a terminal's ^C reaches only the harness, which
	// then stops wrk through ctx (wrk would otherwise print a partial
	// report that looks like a finished run). Killed if the harness dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return nil, out.String(), fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	res, err := parseWrk(out.String())
	if err != nil {
		return nil, out.String(), fmt.Errorf("parsing wrk output: %w\n%s", err, out.String())
	}
	return res, out.String(), nil
}

// parseWrk reads the report of `wrk --latency`.
//
//	Running 10s test @ http://127.0.0.1:8080/
//	  2 threads and 100 connections
//	  Thread Stats   Avg      Stdev     Max   +/- Stdev
//	    Latency    11.93ms    3.37ms  61.41ms   80.15%
//	    Req/Sec     4.23k   422.43     5.23k    72.00%
//	  Latency Distribution
//	     50%   11.53ms
//	     ...
//	  84193 requests in 10.01s, 16.06MB read
//	  Socket errors: connect 0, read 0, write 0, timeout 12
//	  Non-2xx or 3xx responses: 3
//	Requests/sec:   8413.43
//	Transfer/sec:      1.60MB
func parseWrk(s string) (*wrkResult, error) {
	r := &wrkResult{Percentiles: map[int]time.Duration{}}
	var sawRPS, sawRequests bool
	inDist := false
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "Latency Distribution"):
			inDist = true
			continue
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			p, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
			if err != nil {
				return nil, fmt.Errorf("percentile %q: %w", line, err)
			}
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return nil, fmt.Errorf("percentile %q: %w", line, err)
			}
			r.Percentiles[int(p)] = d
			continue
		}
		inDist = false
		switch {
		case f[0] == "Latency" && len(f) >= 4:
			var err error
			if r.LatencyAvg, err = parseWrkDuration(f[1]); err != nil {
				return nil, fmt.Errorf("latency line %q: %w", line, err)
			}
			if r.LatencyMax, err = parseWrkDuration(f[3]); err != nil {
				return nil, fmt.Errorf("latency line %q: %w", line, err)
			}
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("requests line %q: %w", line, err)
			}
			r.Requests = n
			if r.Elapsed, err = parseWrkDuration(strings.TrimSuffix(f[3], ",")); err != nil {
				return nil, fmt.Errorf("requests line %q: %w", line, err)
			}
			sawRequests = true
		case strings.HasPrefix(line, "Socket errors:"):
			// "Socket errors: connect 0, read 0, write 0, timeout 12"
			rest := strings.TrimPrefix(line, "Socket errors:")
			for _, part := range strings.Split(rest, ",") {
				kv := strings.Fields(part)
				if len(kv) != 2 {
					return nil, fmt.Errorf("socket errors line %q", line)
				}
				n, err := strconv.ParseInt(kv[1], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("socket errors line %q: %w", line, err)
				}
				switch kv[0] {
				case "connect":
					r.Connect = n
				case "read":
					r.Read = n
				case "write":
					r.Write = n
				case "timeout":
					r.Timeout = n
				}
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("non-2xx line %q: %w", line, err)
			}
			r.Non2xx3xx = n
		case f[0] == "Requests/sec:" && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return nil, fmt.Errorf("requests/sec line %q: %w", line, err)
			}
			r.RPS = v
			sawRPS = true
		}
	}
	if !sawRPS || !sawRequests {
		return nil, errors.New("no Requests/sec or request count in the output (did wrk run?)")
	}
	for _, p := range []int{50, 99} {
		if _, ok := r.Percentiles[p]; !ok {
			return nil, fmt.Errorf("no %d%% latency percentile (run wrk with --latency)", p)
		}
	}
	return r, nil
}

// parseWrkDuration reads wrk's time format: a number and one of us, ms, s,
// m, h ("512.00us", "1.23ms", "2.00s", "1.50m").
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("duration %q: unknown unit", s)
}
