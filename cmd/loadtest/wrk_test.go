package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
)

// Captured from wrk 4.1.0 (Debian) on this machine.
const (
	// c=100 against the test upstream: no errors, so wrk prints no error lines.
	wrkClean = `Running 3s test @ http://127.0.0.1:18081/api/items/1
  2 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.09ms   12.80ms 121.90ms   93.87%
    Req/Sec     8.54k     2.75k   13.84k    68.33%
  Latency Distribution
     50%    4.91ms
     75%    9.04ms
     90%   15.28ms
     99%   80.29ms
  51599 requests in 3.09s, 9.05MB read
Requests/sec:  16683.68
Transfer/sec:      2.93MB
`
	// c=1: latencies in microseconds.
	wrkSerial = `Running 2s test @ http://127.0.0.1:18081/
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   459.32us    2.66ms  35.78ms   97.96%
    Req/Sec     7.74k     1.53k   10.77k    76.19%
  Latency Distribution
     50%  109.00us
     75%  167.00us
     90%  198.00us
     99%   13.98ms
  16161 requests in 2.10s, 2.84MB read
Requests/sec:   7696.62
Transfer/sec:      1.35MB
`
	// c=1000 through a proxy whose upstream is down (every answer 502) with
	// too few file descriptors for wrk (connect errors).
	wrkErrors = `Running 2s test @ http://127.0.0.1:18082/x
  2 threads and 1000 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   153.98ms   87.62ms 493.39ms   72.63%
    Req/Sec     1.85k     1.17k    4.64k    63.16%
  Latency Distribution
     50%  131.00ms
     75%  210.92ms
     90%  268.21ms
     99%  407.29ms
  7289 requests in 2.07s, 597.93KB read
  Socket errors: connect 407, read 0, write 0, timeout 0
  Non-2xx or 3xx responses: 7289
Requests/sec:   3521.81
Transfer/sec:    288.90KB
`
)

func TestParseWrk(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	us := func(f float64) time.Duration { return time.Duration(f * float64(time.Microsecond)) }
	tests := []struct {
		name string
		in   string
		want wrkResult
	}{
		{"clean", wrkClean, wrkResult{
			Requests: 51599, Elapsed: ms(3090), RPS: 16683.68,
			LatencyAvg: ms(8.09), LatencyMax: ms(121.90),
			Percentiles: map[int]time.Duration{50: ms(4.91), 75: ms(9.04), 90: ms(15.28), 99: ms(80.29)},
		}},
		{"serial", wrkSerial, wrkResult{
			Requests: 16161, Elapsed: ms(2100), RPS: 7696.62,
			LatencyAvg: us(459.32), LatencyMax: ms(35.78),
			Percentiles: map[int]time.Duration{50: us(109), 75: us(167), 90: us(198), 99: ms(13.98)},
		}},
		{"errors", wrkErrors, wrkResult{
			Requests: 7289, Elapsed: ms(2070), RPS: 3521.81,
			LatencyAvg: ms(153.98), LatencyMax: ms(493.39),
			Percentiles: map[int]time.Duration{50: ms(131), 75: ms(210.92), 90: ms(268.21), 99: ms(407.29)},
			Connect:     407, Non2xx3xx: 7289,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if got.Requests != w.Requests || got.RPS != w.RPS {
				t.Errorf("requests %d rps %v, want %d %v", got.Requests, got.RPS, w.Requests, w.RPS)
			}
			for name, pair := range map[string][2]time.Duration{
				"elapsed": {got.Elapsed, w.Elapsed}, "avg": {got.LatencyAvg, w.LatencyAvg}, "max": {got.LatencyMax, w.LatencyMax},
			} {
				if !near(pair[0], pair[1]) {
					t.Errorf("%s = %v, want %v", name, pair[0], pair[1])
				}
			}
			for p, d := range w.Percentiles {
				if !near(got.P(p), d) {
					t.Errorf("p%d = %v, want %v", p, got.P(p), d)
				}
			}
			if got.Connect != w.Connect || got.Read != w.Read || got.Write != w.Write || got.Timeout != w.Timeout || got.Non2xx3xx != w.Non2xx3xx {
				t.Errorf("errors %+v, want connect %d read %d write %d timeout %d non2xx %d",
					got, w.Connect, w.Read, w.Write, w.Timeout, w.Non2xx3xx)
			}
			if got.Errors() != w.Errors() {
				t.Errorf("Errors() = %d, want %d", got.Errors(), w.Errors())
			}
		})
	}
}

// near allows for float rounding in the unit conversion.
func near(a, b time.Duration) bool {
	d := a - b
	return d > -time.Microsecond/100 && d < time.Microsecond/100
}

func TestParseWrkAllSocketErrors(t *testing.T) {
	in := strings.Replace(wrkClean, "Requests/sec:",
		"  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 5\nRequests/sec:", 1)
	got, err := parseWrk(in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Connect != 1 || got.Read != 2 || got.Write != 3 || got.Timeout != 4 || got.Non2xx3xx != 5 || got.Errors() != 15 {
		t.Errorf("got %+v, want 1,2,3,4,5 (15 in all)", got)
	}
}

func TestParseWrkRefusesIncompleteOutput(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          "",
		"connect failed": "unable to connect to 127.0.0.1:18099 Connection refused\n",
		"no --latency":   strings.Join(strings.Split(wrkClean, "\n")[:5], "\n") + "\n  51599 requests in 3.09s, 9.05MB read\nRequests/sec:  16683.68\n",
		"bad unit":       strings.Replace(wrkClean, "80.29ms", "80.29xs", 1),
	} {
		if _, err := parseWrk(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"512.00us": 512 * time.Microsecond,
		"1.23ms":   1230 * time.Microsecond,
		"2.00s":    2 * time.Second,
		"1.50m":    90 * time.Second,
		"1.00h":    time.Hour,
	} {
		got, err := parseWrkDuration(in)
		if err != nil || !near(got, want) {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{4, 2}, 3}, {[]float64{5, 1, 3}, 3}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestGatewayConfigIsLoopbackOnly(t *testing.T) {
	cfg := gatewayConfig(gatewaySettings{addr: "127.0.0.1:1", upstream: "http://127.0.0.1:2", level: "warn", accessTTL: 90 * time.Minute})
	for _, want := range []string{`addr: "127.0.0.1:1"`, `admin_addr: ""`, `url: "http://127.0.0.1:2"`, "level: warn", "prefix: /", "access_ttl: 1h30m0s"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	// The gateway must accept what the harness generates.
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("the generated configuration does not load: %v", err)
	}
	if loaded.Server.Addr != "127.0.0.1:1" || loaded.Server.AdminAddr != "" || loaded.Log.Level != "warn" || loaded.Tokens.AccessTTL != 90*time.Minute ||
		len(loaded.Upstreams) != 1 || loaded.Upstreams[0].URL != "http://127.0.0.1:2" {
		t.Errorf("loaded %+v %+v %+v", loaded.Server, loaded.Log, loaded.Upstreams)
	}
	if err := requireLoopback("0.0.0.0:80"); err == nil {
		t.Error("requireLoopback accepted 0.0.0.0")
	}
	if err := requireLoopback("127.0.0.1:0"); err != nil {
		t.Error(err)
	}
}
