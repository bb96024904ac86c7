package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/gateway/internal/testenv"
)

// fastFeed is the feed setting of the tests: production polling, quick
// retries.
var fastFeed = FeedOptions{MaxBackoff: 200 * time.Millisecond}

// deliveryBound is what the tests allow for an event to reach another
// replica; the target is 1 s, and the tests run on a shared, loaded machine.
const deliveryBound = 3 * time.Second

// recorder collects the events a Run delivers.
type recorder struct {
	mu       sync.Mutex
	events   []Event
	caughtUp chan struct{}
	changed  chan struct{}
}

func newRecorder() *recorder {
	return &recorder{caughtUp: make(chan struct{}), changed: make(chan struct{}, 1)}
}

func (r *recorder) apply(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) markCaughtUp() { close(r.caughtUp) } // a second call would panic: exactly once

func (r *recorder) snapshot() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// waitFor waits until n events were delivered and returns them.
func (r *recorder) waitFor(t *testing.T, n int, within time.Duration) []Event {
	t.Helper()
	deadline := time.After(within)
	for {
		if ev := r.snapshot(); len(ev) >= n {
			return ev
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("got %d events within %v, want %d: %+v", len(r.snapshot()), within, n, r.snapshot())
		}
	}
}

// run starts f.Run in the background until the test ends, and checks that
// it returns ctx's error.
func run(t *testing.T, f Feed, since time.Time, r *recorder) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, since, r.apply, r.markCaughtUp) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return within 5s of its context ending")
		}
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(stop) })
	return func() { once.Do(stop) }
}

func waitCaughtUp(t *testing.T, r *recorder) {
	t.Helper()
	select {
	case <-r.caughtUp:
	case <-time.After(deliveryBound):
		t.Fatalf("Run never reported that it caught up")
	}
}

func revokedEvent(sid string) Event {
	return Event{Kind: KindSessionRevoked, UserID: "u-" + sid, SessionID: sid, At: roundMS(time.Now())}
}

func sameEvents(t *testing.T, got, want []Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i].Kind != want[i].Kind || got[i].UserID != want[i].UserID || got[i].SessionID != want[i].SessionID ||
			got[i].Stamp != want[i].Stamp || !got[i].At.Equal(want[i].At) {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestFeedContract(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range feedContract {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, b.setup(t)) })
			}
		})
	}
}

var feedContract = []struct {
	name string
	run  func(t *testing.T, inst backendInstance)
}{
	{"an event published on one replica reaches another in order", func(t *testing.T, inst backendInstance) {
		pub, sub := inst.openFeed(fastFeed), inst.openFeed(fastFeed)
		r := newRecorder()
		run(t, sub, time.Now(), r)
		waitCaughtUp(t, r)
		ctx := context.Background()
		want := []Event{
			revokedEvent("s1"),
			{Kind: KindUserStamp, UserID: "u9", Stamp: 4, At: roundMS(time.Now())},
			revokedEvent("s2"),
		}
		start := time.Now()
		for _, e := range want {
			if err := pub.Publish(ctx, e); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		got := r.waitFor(t, len(want), deliveryBound)
		t.Logf("3 events delivered to another replica in %v", time.Since(start))
		sameEvents(t, got, want)
	}},
	{"run replays the events since a past time", func(t *testing.T, inst backendInstance) {
		pub, sub := inst.openFeed(fastFeed), inst.openFeed(fastFeed)
		ctx := context.Background()
		before := time.Now().Add(-time.Second)
		old := revokedEvent("old")
		if err := pub.Publish(ctx, old); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
		since := time.Now()
		time.Sleep(20 * time.Millisecond)
		var want []Event
		for i := range 3 {
			e := revokedEvent(fmt.Sprint("s", i))
			if err := pub.Publish(ctx, e); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			want = append(want, e)
		}
		r := newRecorder()
		run(t, sub, since, r)
		waitCaughtUp(t, r)
		// Everything published before Run is delivered before caughtUp.
		sameEvents(t, r.snapshot(), want)

		all := newRecorder()
		run(t, inst.openFeed(fastFeed), before, all)
		waitCaughtUp(t, all)
		if got := all.snapshot(); len(got) != 4 || got[0].SessionID != "old" {
			t.Errorf("replay from before the first event: got %+v, want old, s0, s1, s2", got)
		}
	}},
	{"run caught up on an empty feed", func(t *testing.T, inst backendInstance) {
		r := newRecorder()
		run(t, inst.openFeed(fastFeed), time.Now().Add(-time.Hour), r)
		waitCaughtUp(t, r)
		if got := r.snapshot(); len(got) != 0 {
			t.Errorf("empty feed delivered %+v", got)
		}
	}},
	{"many events, more than one read batch", func(t *testing.T, inst backendInstance) {
		pub := inst.openFeed(fastFeed)
		ctx := context.Background()
		since := time.Now().Add(-time.Second)
		const n = feedBatch + 100
		for i := range n {
			if err := pub.Publish(ctx, revokedEvent(fmt.Sprint("s", i))); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
		r := newRecorder()
		run(t, inst.openFeed(fastFeed), since, r)
		waitCaughtUp(t, r)
		got := r.snapshot()
		if len(got) != n {
			t.Fatalf("caught up after %d events, want %d", len(got), n)
		}
		for i, e := range got {
			if e.SessionID != fmt.Sprint("s", i) {
				t.Fatalf("event %d is %s: out of order", i, e.SessionID)
			}
		}
	}},
	{"invalid events are not published", func(t *testing.T, inst backendInstance) {
		f := inst.openFeed(fastFeed)
		for _, e := range []Event{{}, {Kind: "other", UserID: "u"}, {Kind: KindSessionRevoked, UserID: "u"}, {Kind: KindUserStamp}} {
			if err := f.Publish(context.Background(), e); err == nil {
				t.Errorf("Publish(%+v) succeeded", e)
			}
		}
	}},
	{"a view on another replica refuses a revoked session within the bound", func(t *testing.T, inst backendInstance) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		v, err := StartView(ctx, inst.openFeed(fastFeed), ViewOptions{AccessTTL: 15 * time.Minute})
		if err != nil {
			t.Fatalf("StartView: %v", err)
		}
		waitReady(t, v)
		other, err := NewView(ViewOptions{AccessTTL: 15 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := other.Publish(ctx, inst.openFeed(fastFeed), Event{Kind: KindSessionRevoked, UserID: "u1", SessionID: "s1"}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if err := other.Check("u1", "s1", 0); !errors.Is(err, ErrRevoked) {
			t.Errorf("publishing replica: Check = %v, want ErrRevoked at once", err)
		}
		for v.Check("u1", "s1", 0) == nil {
			if time.Since(start) > deliveryBound {
				t.Fatalf("the other replica still accepts the revoked session after %v", deliveryBound)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("revocation applied on the other replica after %v", time.Since(start))
		cancel()
		select {
		case <-v.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("StartView's goroutines did not end")
		}
	}},
}

func waitReady(t *testing.T, v *View) {
	t.Helper()
	deadline := time.Now().Add(deliveryBound)
	for !v.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("view not ready after %v", deliveryBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRedisFeedResumesAfterConnectionLoss cuts the reader's connection to
// Redis (through a proxy it dials), publishes while the reader cannot read,
// and checks that the reader delivers those events, in order, once the
// connection is back. This is why the feed is a stream and not pub/sub.
func TestRedisFeedResumesAfterConnectionLoss(t *testing.T) {
	addr, prefix := testenv.RedisAddr(t)
	px := newToggleProxy(t, addr)
	reader := redis.NewClient(&redis.Options{Addr: px.addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer reader.Close()
	writer := redis.NewClient(&redis.Options{Addr: addr})
	defer writer.Close()
	pub := NewRedisFeed(writer, prefix, fastFeed)
	sub := NewRedisFeed(reader, prefix, fastFeed)

	r := newRecorder()
	run(t, sub, time.Now(), r)
	waitCaughtUp(t, r)
	ctx := context.Background()
	first := revokedEvent("before")
	if err := pub.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, 1, deliveryBound)

	px.cut() // the reader's connection drops, and new ones are refused
	var want = []Event{first}
	for i := range 3 {
		e := revokedEvent(fmt.Sprint("during-", i))
		if err := pub.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
	}
	time.Sleep(700 * time.Millisecond) // the reader retries and fails meanwhile
	if got := r.snapshot(); len(got) != 1 {
		t.Fatalf("events delivered while the connection was cut: %+v", got)
	}
	px.restore()
	after := revokedEvent("after")
	if err := pub.Publish(ctx, after); err != nil {
		t.Fatal(err)
	}
	want = append(want, after)
	sameEvents(t, r.waitFor(t, len(want), 10*time.Second), want)
}

// toggleProxy forwards TCP connections to a target until cut, which closes
// every open connection and refuses new ones until restore.
type toggleProxy struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	up    bool
	conns map[net.Conn]struct{}
}

func newToggleProxy(t *testing.T, target string) *toggleProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &toggleProxy{t: t, ln: ln, target: target, up: true, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *toggleProxy) addr() string { return p.ln.Addr().String() }

func (p *toggleProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if !up {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[u] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, u); u.Close(); c.Close() }()
	}
}

func (p *toggleProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = false
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *toggleProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = true
}

func TestSQLFeedPrune(t *testing.T) {
	for _, b := range sqlBackends() {
		t.Run(b.name, func(t *testing.T) {
			inst := b.setup(t)
			f := inst.openFeed(fastFeed).(*SQLFeed)
			ctx := context.Background()
			now := roundMS(time.Now())
			for i, at := range []time.Time{now.Add(-2 * time.Hour), now.Add(-90 * time.Minute), now} {
				if err := f.Publish(ctx, Event{Kind: KindSessionRevoked, UserID: "u", SessionID: fmt.Sprint("s", i), At: at}); err != nil {
					t.Fatal(err)
				}
			}
			n, err := f.Prune(ctx, now.Add(-time.Hour))
			if err != nil || n != 2 {
				t.Fatalf("Prune = %d, %v; want 2", n, err)
			}
			r := newRecorder()
			run(t, f, now.Add(-3*time.Hour), r)
			waitCaughtUp(t, r)
			if got := r.snapshot(); len(got) != 1 || got[0].SessionID != "s2" {
				t.Errorf("after Prune the feed holds %+v, want only s2", got)
			}
			// New events after a prune get new sequence numbers.
			if err := f.Publish(ctx, revokedEvent("s3")); err != nil {
				t.Fatal(err)
			}
			if got := r.waitFor(t, 2, deliveryBound); got[1].SessionID != "s3" {
				t.Errorf("after Prune, new event = %+v", got[1])
			}
		})
	}
}
