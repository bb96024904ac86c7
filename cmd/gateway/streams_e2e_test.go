package main

// Long-lived connections through a whole gateway (issue 8): an open
// WebSocket or Server-Sent Events stream ends with its session, wherever the
// session was ended, and outlives its access token only while the session
// stands.

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/authgate/gateway/config"
)

// streamDeadline is how soon a revoked stream must end: SPEC 5's second,
// plus room for the closing handshakes on a loaded machine.
const streamDeadline = revocationDeadline + 500*time.Millisecond

// streamUpstream serves a WebSocket echo at /live/ws and an event stream at
// /live/sse that sends one event and then stays silent (the hard case for
// ending it: no write ever fails). open counts the connections the upstream
// still holds.
type streamUpstream struct {
	url  string
	open atomic.Int64
}

func newStreamUpstream(t *testing.T) *streamUpstream {
	t.Helper()
	up := &streamUpstream{}
	mux := http.NewServeMux()
	mux.HandleFunc("/live/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		up.open.Add(1)
		defer up.open.Add(-1)
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
	mux.HandleFunc("/live/sse", func(w http.ResponseWriter, r *http.Request) {
		up.open.Add(1)
		defer up.open.Add(-1)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = fmt.Fprint(w, "data: hello\n\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, "plain ok")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	up.url = srv.URL
	return up
}

// route adds the upstream under /live to a gateway's configuration.
func (up *streamUpstream) route(cfg *config.Config) {
	cfg.Upstreams = append(cfg.Upstreams, config.Upstream{Name: "live", Prefix: "/live", URL: up.url, Timeout: 10 * time.Second})
}

// wsConn is a client WebSocket through the gateway.
type wsConn struct{ c *websocket.Conn }

func openWS(t *testing.T, in *instance, bearer string) *wsConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+in.host+"/live/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + bearer}},
	})
	if err != nil {
		t.Fatalf("WebSocket handshake through the gateway: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	ws := &wsConn{c}
	if err := ws.echo("hello"); err != nil {
		t.Fatalf("fresh WebSocket: %v", err)
	}
	return ws
}

// echo sends msg and reads it back.
func (ws *wsConn) echo(msg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ws.c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	_, got, err := ws.c.Read(ctx)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if string(got) != msg {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// waitClosed blocks until the connection fails (the gateway closed it) and
// returns how long that took from since; it fails t after 10 s.
func (ws *wsConn) waitClosed(t *testing.T, since time.Time) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, msg, err := ws.c.Read(ctx)
	if ctx.Err() != nil {
		t.Fatalf("the WebSocket is still open 10 s later")
	}
	if err == nil {
		t.Fatalf("unexpected message %q on a WebSocket that should close", msg)
	}
	return time.Since(since)
}

// sseConn is a client event stream through the gateway; ended is closed,
// and endedAt set, when the stream ends.
type sseConn struct {
	ended   chan struct{}
	endedAt time.Time
}

func openSSE(t *testing.T, in *instance, bearer string) *sseConn {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, in.URL+"/live/sse", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "text/event-stream")
	// No client timeout: the stream is meant to stay open.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("event stream through the gateway: %v", err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("event stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: hello\n" {
		t.Fatalf("first event line %q, %v", line, err)
	}
	s := &sseConn{ended: make(chan struct{})}
	go func() {
		defer close(s.ended)
		for {
			if _, err := br.ReadByte(); err != nil {
				s.endedAt = time.Now()
				return
			}
		}
	}()
	return s
}

// open reports whether the stream is still open.
func (s *sseConn) open() bool {
	select {
	case <-s.ended:
		return false
	default:
		return true
	}
}

// waitClosed returns how long after since the stream ended; it fails t
// after 10 s.
func (s *sseConn) waitClosed(t *testing.T, since time.Time) time.Duration {
	t.Helper()
	select {
	case <-s.ended:
		return s.endedAt.Sub(since)
	case <-time.After(10 * time.Second):
		t.Fatalf("the event stream is still open 10 s later")
		return 0
	}
}

// checkPlain sends an ordinary request through the gateway: it must be
// answered as usual while streams open and close around it.
func checkPlain(t *testing.T, in *instance, bearer string) {
	t.Helper()
	r := in.get(t, "/live/plain", bearer)
	r.wantStatus(t, http.StatusOK)
	if string(r.body) != "plain ok" {
		t.Errorf("ordinary request through the gateway: body %q", r.body)
	}
}

// TestStreamsEndWithTheirSession opens WebSockets and event streams on
// replica A and ends their sessions on replica B: each ends within a
// second, at both ends (the upstream's connection is closed too), while an
// unrelated user's streams and ordinary requests carry on.
func TestStreamsEndWithTheirSession(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		up := newStreamUpstream(t)
		a := d.start(t, up.route)
		b := d.start(t, up.route)

		bystander := a.login(t, a.register(t, "bystander"))
		otherWS := openWS(t, a, bystander.Access)
		otherSSE := openSSE(t, a, bystander.Access)

		// check waits for ws and sse to close, and then for the upstream
		// to hold wantOpen connections.
		check := func(t *testing.T, what string, ws *wsConn, sse *sseConn, since time.Time, wantOpen int64) {
			t.Helper()
			wsTook := ws.waitClosed(t, since)
			sseTook := sse.waitClosed(t, since)
			t.Logf("%s on B: the WebSocket on A closed after %v, the event stream after %v", what, wsTook, sseTook)
			if wsTook > streamDeadline || sseTook > streamDeadline {
				t.Errorf("%s: streams closed after %v and %v, want within %v", what, wsTook, sseTook, streamDeadline)
			}
			// The unrelated user's streams and ordinary requests are
			// untouched.
			if err := otherWS.echo("still here"); err != nil {
				t.Errorf("%s closed another user's WebSocket: %v", what, err)
			}
			if !otherSSE.open() {
				t.Errorf("%s closed another user's event stream", what)
			}
			checkPlain(t, a, bystander.Access)
			eventually(t, 5*time.Second, "the upstream's side of the ended streams closes", func() bool {
				return up.open.Load() == wantOpen
			})
		}

		t.Run("logout", func(t *testing.T) {
			u := a.register(t, "lena")
			tk := a.login(t, u)
			ws, sse := openWS(t, a, tk.Access), openSSE(t, a, tk.Access)
			// Another session of the same user is not the one logged out.
			second := a.login(t, u)
			keptWS := openWS(t, a, second.Access)
			checkPlain(t, a, tk.Access)

			start := time.Now()
			b.send(t, request{method: http.MethodPost, path: "/auth/logout", bearer: tk.Access}).wantStatus(t, http.StatusNoContent)
			check(t, "logout", ws, sse, start, 3)
			if err := keptWS.echo("other session"); err != nil {
				t.Errorf("the logout closed the user's other session's WebSocket: %v", err)
			}
			keptWS.c.CloseNow()
			eventually(t, 5*time.Second, "the upstream sees the client's close", func() bool { return up.open.Load() == 2 })
			// Reconnecting with the revoked token is refused.
			a.get(t, "/live/plain", tk.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
		})

		t.Run("admin disables the user", func(t *testing.T) {
			u := a.register(t, "mira")
			tk := a.login(t, u)
			ws, sse := openWS(t, a, tk.Access), openSSE(t, a, tk.Access)

			start := time.Now()
			// Any logged-in user is an admin under the harness's policy.
			b.send(t, request{method: http.MethodPatch, path: "/auth/admin/users/" + u.ID, bearer: bystander.Access,
				json: map[string]any{"disabled": true}}).wantStatus(t, http.StatusOK)
			check(t, "disabling the user", ws, sse, start, 2)
		})

		t.Run("logout everywhere", func(t *testing.T) {
			u := a.register(t, "nils")
			tk := a.login(t, u)
			ws, sse := openWS(t, a, tk.Access), openSSE(t, a, a.login(t, u).Access)

			start := time.Now()
			b.send(t, request{method: http.MethodPost, path: "/auth/logout?all=true", bearer: tk.Access}).wantStatus(t, http.StatusNoContent)
			check(t, "logout everywhere", ws, sse, start, 2)
		})
	})
}

// TestStreamsOutliveTheirTokenWhileTheSessionStands: with access_ttl 2s a
// stream is re-authorised when its token expires, for as long as its
// session stands in the store, and ends when the session does (here: its
// idle lifetime, which no event announces).
func TestStreamsOutliveTheirTokenWhileTheSessionStands(t *testing.T) {
	const accessTTL, idleTTL = 2 * time.Second, 5 * time.Second
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		up := newStreamUpstream(t)
		a := d.start(t, func(cfg *config.Config) {
			up.route(cfg)
			cfg.Tokens.AccessTTL = accessTTL
			cfg.Tokens.RefreshIdleTTL = idleTTL
		})
		u := a.register(t, "otto")
		loggedIn := time.Now()
		tk := a.login(t, u)
		ws, sse := openWS(t, a, tk.Access), openSSE(t, a, tk.Access)

		// Past the token's expiry (and its first re-authorisation).
		time.Sleep(time.Until(loggedIn.Add(accessTTL + 1500*time.Millisecond)))
		if err := ws.echo("after the token expired"); err != nil {
			t.Fatalf("the WebSocket did not outlive its access token although the session stands: %v", err)
		}
		if !sse.open() {
			t.Fatalf("the event stream did not outlive its access token although the session stands")
		}

		// The session's idle lifetime ends it: the streams close at the
		// re-authorisation that finds it gone.
		idleEnd := loggedIn.Add(idleTTL)
		wsTook := ws.waitClosed(t, idleEnd)
		sseTook := sse.waitClosed(t, idleEnd)
		t.Logf("streams closed %v and %v after the session's idle expiry", wsTook, sseTook)
		// Not before the expiry (the clock of the login answer is a
		// little later than loggedIn), and soon after it.
		if wsTook < -100*time.Millisecond || sseTook < -100*time.Millisecond {
			t.Errorf("streams closed before the session expired (%v, %v)", wsTook, sseTook)
		}
		if wsTook > streamDeadline || sseTook > streamDeadline {
			t.Errorf("streams closed %v and %v after the session expired, want within %v", wsTook, sseTook, streamDeadline)
		}
		eventually(t, 5*time.Second, "the upstream's side closes", func() bool { return up.open.Load() == 0 })
	})
}
