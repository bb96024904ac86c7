package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/authgate/gateway/config"
)

// streamSize is how much each streaming test pushes through the gateway: far
// more than the heap limit below, so that any buffering of a whole body shows.
const streamSize = 256 << 20

// heapLimit bounds the whole test process's heap while a stream is in
// flight: client, gateway and upstream together.
const heapLimit = 32 << 20

// patternReader yields a deterministic byte stream of a given length without
// holding it: it cycles through a small pseudo-random block whose length
// (a prime) divides no buffer size, so that a dropped, repeated or reordered
// chunk changes the checksum.
type patternReader struct {
	remaining int64
	off       int
}

var patternBlock = func() []byte {
	b := make([]byte, 65521)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

func newPatternReader(n int64) *patternReader { return &patternReader{remaining: n} }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.remaining {
		b = b[:p.remaining]
	}
	n := copy(b, patternBlock[p.off:])
	p.off = (p.off + n) % len(patternBlock)
	p.remaining -= int64(n)
	return n, nil
}

// patternSum is the CRC-32 of the first n bytes of the pattern stream.
func patternSum(t *testing.T, n int64) uint32 {
	t.Helper()
	h := crc32.NewIEEE()
	if _, err := io.CopyBuffer(h, newPatternReader(n), make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
	return h.Sum32()
}

// countingHash counts and checksums what is written to it.
type countingHash struct {
	n int64
	h hash.Hash32
}

func newCountingHash() *countingHash { return &countingHash{h: crc32.NewIEEE()} }

func (c *countingHash) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return c.h.Write(b)
}

// heapSampler records the peak heap in use, sampled every 20 ms, until
// stopped.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
	n    int
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			s.peak = max(s.peak, ms.HeapInuse)
			s.n++
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peak HeapInuse and the sample count.
func (s *heapSampler) Stop() (peak uint64, samples int) {
	close(s.stop)
	<-s.done
	return s.peak, s.n
}

// TestStreamingBodiesStayOutOfMemory pushes 256 MiB through the gateway in
// each direction and checks that every byte arrives, in order, while the
// heap of the whole process (client, gateway, upstream) stays small: the
// gateway streams bodies and never buffers them.
func TestStreamingBodiesStayOutOfMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 512 MiB through loopback")
	}
	want := patternSum(t, streamSize)

	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/upload":
			// Count and checksum the body, answer with the result.
			got := newCountingHash()
			_, err := io.CopyBuffer(got, r.Body, make([]byte, 32<<10))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, "%d %d", got.n, got.h.Sum32())
		case "/download":
			// No Content-Length: a generated stream of unknown length.
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = io.CopyBuffer(w, newPatternReader(streamSize), make([]byte, 32<<10))
		default:
			http.NotFound(w, r)
		}
	})
	gw := startGateway(t, upstream, func(c *config.Config) { c.Upstreams[0].Timeout = 30 * time.Second })
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)

	tests := []struct {
		name string
		do   func(t *testing.T) (n int64, sum uint32)
	}{
		{
			name: "request body to upstream",
			do: func(t *testing.T) (int64, uint32) {
				req, err := http.NewRequest(http.MethodPost, gw.URL+"/upload", newPatternReader(streamSize))
				if err != nil {
					t.Fatal(err)
				}
				req.ContentLength = streamSize
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("upload: %v", err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("upload: status %d: %s", resp.StatusCode, body)
				}
				n, sum, ok := strings.Cut(string(body), " ")
				gotN, err1 := strconv.ParseInt(n, 10, 64)
				gotSum, err2 := strconv.ParseUint(sum, 10, 32)
				if !ok || err1 != nil || err2 != nil {
					t.Fatalf("upload: upstream answered %q", body)
				}
				return gotN, uint32(gotSum)
			},
		},
		{
			name: "response body to client",
			do: func(t *testing.T) (int64, uint32) {
				resp, err := client.Get(gw.URL + "/download")
				if err != nil {
					t.Fatalf("download: %v", err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("download: status %d", resp.StatusCode)
				}
				got := newCountingHash()
				if _, err := io.CopyBuffer(got, resp.Body, make([]byte, 32<<10)); err != nil {
					t.Fatalf("download: after %d bytes: %v", got.n, err)
				}
				return got.n, got.h.Sum32()
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			sampler := startHeapSampler()
			n, sum := tt.do(t)
			peak, samples := sampler.Stop()
			t.Logf("%d MiB in %v, peak HeapInuse %.1f MiB over %d samples",
				n>>20, time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20), samples)
			if n != streamSize || sum != want {
				t.Errorf("received %d bytes with CRC %08x, want %d bytes with CRC %08x", n, sum, streamSize, want)
			}
			if peak >= heapLimit {
				t.Errorf("peak HeapInuse %.1f MiB during the transfer, want < %d MiB: a body is being buffered",
					float64(peak)/(1<<20), heapLimit>>20)
			}
		})
	}
}

// TestServerSentEventsFlushAtOnce checks that each event reaches the client
// as soon as the upstream flushes it (the upstream waits for the client to
// have seen the first event before sending the second, so a buffering proxy
// deadlocks and the test times out), and that an event stream that outlives
// the upstream timeout is not cut: the timeout bounds only the wait for
// response headers.
func TestServerSentEventsFlushAtOnce(t *testing.T) {
	const upstreamTimeout = 300 * time.Millisecond
	const streamOpen = time.Second

	firstSeen := make(chan struct{})
	var closeFirstSeen sync.Once
	t.Cleanup(func() { closeFirstSeen.Do(func() { close(firstSeen) }) })
	upstreamErr := make(chan error, 1)

	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		fmt.Fprint(w, "id: 1\ndata: first\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			upstreamErr <- fmt.Errorf("flush: %w", err)
			return
		}
		select {
		case <-firstSeen:
		case <-r.Context().Done():
			upstreamErr <- errors.New("request ended before the client saw the first event")
			return
		case <-time.After(10 * time.Second):
			upstreamErr <- errors.New("client never saw the first event")
			return
		}
		// Keep the stream open well past the upstream timeout.
		select {
		case <-time.After(streamOpen):
		case <-r.Context().Done():
			upstreamErr <- errors.New("stream cut while open")
			return
		}
		fmt.Fprint(w, "id: 2\ndata: second\n\n")
		upstreamErr <- nil
	})
	gw := startGateway(t, upstream, func(c *config.Config) { c.Upstreams[0].Timeout = upstreamTimeout })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	start := time.Now()

	// The client runs in its own goroutine so that the 5 s deadline for the
	// first event covers the response headers too: a gateway that buffers
	// may hold those back as well.
	events := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		defer close(events)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			readErr <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			readErr <- fmt.Errorf("got %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
			return
		}
		br := bufio.NewReader(resp.Body)
		var ev strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				readErr <- err
				return
			}
			if line != "\n" {
				ev.WriteString(line)
				continue
			}
			select {
			case events <- ev.String():
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
			ev.Reset()
		}
	}()

	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatalf("stream ended before the first event: %v", <-readErr)
		}
		if ev != "id: 1\ndata: first\n" {
			t.Fatalf("first event = %q", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("timeout: the first event did not arrive within 5s while the upstream held the stream open; the gateway buffers event streams")
	}
	closeFirstSeen.Do(func() { close(firstSeen) })

	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatalf("stream ended after %v before the second event: %v", time.Since(start), <-readErr)
		}
		if ev != "id: 2\ndata: second\n" {
			t.Fatalf("second event = %q", ev)
		}
	case <-ctx.Done():
		t.Fatal("timeout waiting for the second event")
	}
	if open := time.Since(start); open < streamOpen {
		t.Fatalf("stream lasted %v, the test needs it open for %v", open, streamOpen)
	}
	if _, ok := <-events; ok {
		t.Error("unexpected third event")
	}
	if err := <-readErr; err != io.EOF {
		t.Errorf("stream ended with %v, want a clean end (EOF)", err)
	}
	if err := <-upstreamErr; err != nil {
		t.Errorf("upstream: %v", err)
	}
}

// TestWebSocketEcho proves that a WebSocket upgrade passes the gateway and
// that frames flow both ways through the hijacked connection.
func TestWebSocketEcho(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	})
	gw := startGateway(t, upstream, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws://"+gw.Addr+"/ws/echo", nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial through the gateway: status %d: %v", status, err)
	}
	defer conn.CloseNow()

	msgs := []struct {
		typ  websocket.MessageType
		data string
	}{
		{websocket.MessageText, "hello"},
		{websocket.MessageBinary, "\x00\x01\x02\xff"},
		{websocket.MessageText, strings.Repeat("long message ", 1500)},
	}
	for i, m := range msgs {
		if err := conn.Write(ctx, m.typ, []byte(m.data)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		typ, got, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if typ != m.typ || string(got) != m.data {
			t.Errorf("message %d: got %v of %d bytes, want %v of %d bytes", i, typ, len(got), m.typ, len(m.data))
		}
	}
	if err := conn.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Errorf("close: %v", err)
	}
}

// TestShutdownEndsStreams checks the end of graceful shutdown: an event
// stream and a WebSocket that are still open when server.shutdown_timeout
// expires are closed on both sides, rather than holding the process (or an
// upstream connection) open.
func TestShutdownEndsStreams(t *testing.T) {
	upstreamDone := make(chan string, 2)
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/events":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: hello\n\n")
			_ = http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				upstreamDone <- "events: cancelled"
			case <-time.After(10 * time.Second):
				upstreamDone <- "events: still open 10s after the test"
			}
		case "/ws":
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				upstreamDone <- "ws: " + err.Error()
				return
			}
			defer c.CloseNow()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for {
				typ, msg, err := c.Read(ctx)
				if err != nil {
					if ctx.Err() != nil {
						upstreamDone <- "ws: still open 10s after the test"
					} else {
						upstreamDone <- "ws: closed"
					}
					return
				}
				_ = c.Write(ctx, typ, msg)
			}
		}
	})

	streamEnded := make(chan error, 1)
	wsEnded := make(chan error, 1)
	t.Run("open streams, then shut down", func(t *testing.T) {
		gw := startGateway(t, upstream, func(c *config.Config) { c.Server.ShutdownTimeout = 300 * time.Millisecond })

		resp, err := http.Get(gw.URL + "/events")
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); err != nil || line != "data: hello\n" {
			t.Fatalf("first event line %q, %v", line, err)
		}
		go func() {
			defer resp.Body.Close()
			_, err := io.Copy(io.Discard, br)
			streamEnded <- err
		}()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, "ws://"+gw.Addr+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := conn.Read(ctx); err != nil || string(msg) != "ping" {
			t.Fatalf("echo: %q, %v", msg, err)
		}
		go func() {
			defer conn.CloseNow()
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _, err := conn.Read(rctx)
			if rctx.Err() != nil {
				err = rctx.Err()
			}
			wsEnded <- err
		}()
		// The subtest's cleanup shuts the gateway down, then the upstream.
	})

	for name, ch := range map[string]chan error{"event stream": streamEnded, "WebSocket": wsEnded} {
		select {
		case err := <-ch:
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: still open 10s after shutdown", name)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the client's end is still open after shutdown", name)
		}
	}
	for range 2 {
		select {
		case got := <-upstreamDone:
			if strings.Contains(got, "still open") {
				t.Errorf("upstream %s", got)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("an upstream handler never finished")
		}
	}
}

// TestOnlyWebSocketUpgrades checks that any other protocol switch (h2c in
// particular, which lets a client tunnel requests past the gateway) reaches
// the upstream as a plain request.
func TestOnlyWebSocketUpgrades(t *testing.T) {
	tests := []struct {
		name    string
		upgrade string
	}{
		{"h2c", "h2c"},
		{"h2c in capitals", "H2C"},
		{"TLS upgrade", "TLS/1.2"},
	}
	rec := &recorder{}
	gw := startGateway(t, rec, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := "GET /api/items HTTP/1.1\r\nHost: " + gw.Addr + "\r\n" +
				"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: " + tt.upgrade + "\r\n" +
				"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
			status, body := rawRequest(t, gw.Addr, req)
			if status != http.StatusOK || body != "upstream ok" {
				t.Fatalf("got %d %q, want the upstream's plain 200", status, body)
			}
			h := rec.last(t).Header
			for _, name := range []string{"Upgrade", "Http2-Settings", "Connection"} {
				if v := h.Values(name); len(v) != 0 {
					t.Errorf("upstream received %s: %q", name, v)
				}
			}
		})
	}
}
