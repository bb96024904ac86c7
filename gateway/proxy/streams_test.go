package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/authgate/gateway/config"
)

// recordingGuard remembers the streams the proxy hands it.
type recordingGuard struct {
	mu   sync.Mutex
	ends []func()
}

func (g *recordingGuard) Watch(_ context.Context, end func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ends = append(g.ends, end)
}

func (g *recordingGuard) watched() []func() {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]func(){}, g.ends...)
}

// streamProxy serves a proxy with guard in front of an upstream that
// answers /ws (WebSocket echo), /sse (one event, then silence) and anything
// else (plain text). upstreamDone receives the path of every upstream
// handler that has returned.
func streamProxy(t *testing.T, guard StreamGuard) (gatewayURL string, upstreamDone <-chan string) {
	t.Helper()
	done := make(chan string, 16)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- r.URL.Path }()
		switch r.URL.Path {
		case "/ws":
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			for {
				typ, msg, err := c.Read(r.Context())
				if err != nil || c.Write(r.Context(), typ, msg) != nil {
					return
				}
			}
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			_, _ = fmt.Fprint(w, "data: one\n\n")
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
		default:
			w.Header().Set("Content-Type", "text/plain")
			_, _ = fmt.Fprint(w, "plain")
		}
	}))
	t.Cleanup(up.Close)
	p, err := New(Options{
		Upstreams: []config.Upstream{{Name: "app", Prefix: "/", URL: up.URL, Timeout: 5 * time.Second}},
		Headers:   config.Default().Headers,
		Streams:   guard,
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Match(r.URL.Path).ServeHTTP(w, r)
	}))
	t.Cleanup(gw.Close)
	return gw.URL, done
}

func waitUpstreamDone(t *testing.T, done <-chan string, path string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case p := <-done:
			if p == path {
				return
			}
		case <-timeout:
			t.Fatalf("the upstream's %s connection is still open", path)
		}
	}
}

func TestStreamGuardEndsEventStreams(t *testing.T) {
	guard := &recordingGuard{}
	url, upstreamDone := streamProxy(t, guard)

	res, err := http.Get(url + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if n := len(guard.watched()); n != 0 {
		t.Fatalf("an ordinary answer was handed to the guard (%d)", n)
	}

	res, err = http.Get(url + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	if ev, err := br.ReadString('\n'); err != nil || ev != "data: one\n" {
		t.Fatalf("first event %q, %v", ev, err)
	}
	if blank, err := br.ReadString('\n'); err != nil || blank != "\n" {
		t.Fatalf("first event's end %q, %v", blank, err)
	}
	ends := guard.watched()
	if len(ends) != 1 {
		t.Fatalf("guard watches %d streams, want 1", len(ends))
	}
	ended := make(chan error, 1)
	go func() {
		_, err := br.ReadString('\n')
		ended <- err
	}()
	select {
	case err := <-ended:
		t.Fatalf("the stream ended before the guard ended it: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	start := time.Now()
	ends[0]()
	ends[0]() // any number of times
	select {
	case err := <-ended:
		if err == nil {
			t.Fatalf("read a line after the stream was ended")
		}
		t.Logf("the client saw the end after %v: %v", time.Since(start), err)
	case <-time.After(2 * time.Second):
		t.Fatalf("the event stream is still open 2 s after the guard ended it")
	}
	waitUpstreamDone(t, upstreamDone, "/sse")
}

func TestStreamGuardEndsWebSockets(t *testing.T) {
	guard := &recordingGuard{}
	url, upstreamDone := streamProxy(t, guard)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+url[len("http"):]+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hi" {
		t.Fatalf("echo %q, %v", msg, err)
	}
	ends := guard.watched()
	if len(ends) != 1 {
		t.Fatalf("guard watches %d streams, want 1", len(ends))
	}
	start := time.Now()
	ends[0]()
	if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("Read after the guard ended the WebSocket: %v (context: %v)", err, ctx.Err())
	}
	t.Logf("the client saw the end after %v", time.Since(start))
	waitUpstreamDone(t, upstreamDone, "/ws")
}

func TestIsEventStream(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/event-stream":                true,
		"TEXT/Event-Stream":                true,
		"text/event-stream; charset=utf-8": true,
		"text/event-stream;charset=utf-8":  true,
		"text/event-streams":               false,
		"text/plain":                       false,
		"":                                 false,
		"application/json":                 false,
	} {
		if got := isEventStream(ct); got != want {
			t.Errorf("isEventStream(%q) = %v, want %v", ct, got, want)
		}
	}
}

// BenchmarkModifyResponsePlain is the guard's cost for an ordinary answer.
func BenchmarkModifyResponsePlain(b *testing.B) {
	p, err := New(Options{
		Upstreams: []config.Upstream{{Name: "app", Prefix: "/", URL: "http://127.0.0.1:1", Timeout: time.Second}},
		Headers:   config.Default().Headers,
		Streams:   &recordingGuard{},
	})
	if err != nil {
		b.Fatal(err)
	}
	rt := p.Routes()[0]
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	res := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Request: req}
	b.ReportAllocs()
	for b.Loop() {
		_ = rt.modifyResponse(res)
	}
}
