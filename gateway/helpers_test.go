package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/authgate/gateway/config"
)

// recorded is what the recording upstream received.
type recorded struct {
	Method     string
	RequestURI string // raw request-target as received on the wire
	Header     http.Header
	Host       string
	Body       []byte
}

// recorder is an upstream that records every request and answers 200.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, recorded{
		Method: r.Method, RequestURI: r.RequestURI, Header: r.Header.Clone(), Host: r.Host, Body: body,
	})
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "upstream ok")
}

// last returns the most recent request, failing the test if there is none.
func (rec *recorder) last(t *testing.T) recorded {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("upstream received no request")
	}
	return rec.reqs[len(rec.reqs)-1]
}

// count returns how many requests reached the upstream.
func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

// testGateway is a gateway served on a real loopback listener.
type testGateway struct {
	URL    string // http://127.0.0.1:PORT
	Addr   string // 127.0.0.1:PORT
	Server *Server
	Config *config.Config
}

// startGateway serves a gateway in front of upstream (one upstream "app" on
// "/") with the defaults, after mutate has adjusted the configuration. The
// gateway runs through Serve, exactly as in production, and stops at the end
// of the test.
func startGateway(t testing.TB, upstream http.Handler, mutate func(*config.Config), opts ...func(*Options)) *testGateway {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)

	cfg := config.Default()
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Server.AdminAddr = ""
	cfg.Upstreams = []config.Upstream{{Name: "app", Prefix: "/", URL: up.URL, Timeout: 5 * time.Second}}
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test configuration invalid: %v", err)
	}
	o := Options{Config: &cfg, Logger: testLogger(t)}
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testGateway{URL: "http://" + ln.Addr().String(), Addr: ln.Addr().String(), Server: srv, Config: &cfg}
}

// testLogger logs to the test output at warn level and above, so failures
// show the gateway's view without drowning the output in access lines.
func testLogger(t testing.TB) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

// rawRequest sends req verbatim over a new TCP connection and returns the
// status code and the full response. Use it for requests that Go's client
// would normalise (paths, header names, duplicate headers).
func rawRequest(t testing.TB, addr, req string) (int, string) {
	t.Helper()
	resp, body := rawResponse(t, addr, req)
	return resp.StatusCode, body
}

// rawResponse is rawRequest with the parsed response (its body read).
func rawResponse(t testing.TB, addr, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", firstLine(req), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
