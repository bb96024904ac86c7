package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
)

// StreamGuard watches long-lived connections: a WebSocket (an upgrade the
// upstream accepted) or a Server-Sent Events stream (an answer of type
// text/event-stream). Implementation: streams.Registry.
type StreamGuard interface {
	// Watch is called once per such connection, with the request's context
	// (its scope carries the identity and access token) and a function that
	// ends the connection. end may be called from any goroutine, any number
	// of times. The guard forgets the connection when ctx is done.
	Watch(ctx context.Context, end func())
}

// errStreamEnded is what the proxy's copy of an event stream reads once the
// StreamGuard ended it.
var errStreamEnded = errors.New("proxy: stream ended by the gateway: its credentials no longer hold")

// guardStream hands a WebSocket or an event stream to the StreamGuard. It
// runs in ModifyResponse, so that only these answers pay: an ordinary one
// costs a status comparison and a header lookup. The request context is
// left alone (a cancellable one for every request would cost allocations
// on the hot path); each kind of stream is ended at its upstream side
// instead:
//
//   - WebSocket: the upstream connection is closed. ReverseProxy's copy
//     loops then fail, and it closes the client's connection too.
//   - Event stream: the body the proxy copies is a pipe fed by a goroutine,
//     and ending closes the pipe, which wakes the copy at once even while
//     the upstream is silent. ReverseProxy aborts the answer
//     (http.ErrAbortHandler), and the end of the handler cancels the
//     request context, which ends the goroutine's read of the upstream.
func (rt *Route) guardStream(res *http.Response) {
	switch {
	case res.StatusCode == http.StatusSwitchingProtocols:
		// ReverseProxy itself requires the body to be the connection; a
		// net.Conn may be closed while other goroutines use it.
		if conn, ok := res.Body.(io.ReadWriteCloser); ok {
			rt.streams.Watch(res.Request.Context(), func() { _ = conn.Close() })
		}
	case isEventStream(res.Header.Get("Content-Type")):
		es := newEventStream(res.Body)
		res.Body = es
		rt.streams.Watch(res.Request.Context(), es.end)
	}
}

// isEventStream reports whether a Content-Type is text/event-stream (any
// parameters), without allocating.
func isEventStream(ct string) bool {
	const es = "text/event-stream"
	if len(ct) < len(es) || !strings.EqualFold(ct[:len(es)], es) {
		return false
	}
	return len(ct) == len(es) || ct[len(es)] == ';' || ct[len(es)] == ' ' || ct[len(es)] == '\t'
}

// eventStreamBuffer is the size of the read buffer of one event stream's
// feeding goroutine: events are small, and many streams may be open.
const eventStreamBuffer = 4 << 10

// eventStream is an upstream event-stream body that can be ended from
// another goroutine. A goroutine reads the upstream body into a pipe; the
// proxy reads the pipe. The upstream body is only ever touched by that
// goroutine, so ending needs no cooperation from a blocked Read.
type eventStream struct {
	pr *io.PipeReader
}

func newEventStream(upstream io.ReadCloser) *eventStream {
	pr, pw := io.Pipe()
	go func() {
		defer upstream.Close()
		// A Write fails once the reader is closed (the stream ended or
		// the proxy finished), which ends the loop; so does the upstream
		// read failing when the request context is cancelled.
		_, err := io.CopyBuffer(pw, struct{ io.Reader }{upstream}, make([]byte, eventStreamBuffer))
		pw.CloseWithError(err) // nil: EOF for the reader
	}()
	return &eventStream{pr: pr}
}

func (s *eventStream) Read(p []byte) (int, error) { return s.pr.Read(p) }

// Close is the proxy's: it has finished with the stream.
func (s *eventStream) Close() error { return s.pr.Close() }

// end is the guard's: the proxy's next (or current) Read fails.
func (s *eventStream) end() { _ = s.pr.CloseWithError(errStreamEnded) }
