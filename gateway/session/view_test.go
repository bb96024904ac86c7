package session

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

const (
	viewAccessTTL = 15 * time.Minute
	viewWindow    = viewAccessTTL + DefaultLeeway
)

func newTestView(t *testing.T, clk *clock) *View {
	t.Helper()
	v, err := NewView(ViewOptions{AccessTTL: viewAccessTTL, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestViewCheck(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	v := newTestView(t, clk)
	v.Apply(Event{Kind: KindSessionRevoked, UserID: "u1", SessionID: "s-revoked", At: now})
	v.Apply(Event{Kind: KindUserStamp, UserID: "u2", Stamp: 3, At: now})

	tests := []struct {
		name    string
		user    string
		session string
		stamp   int64
		want    error
	}{
		{"revoked session", "u1", "s-revoked", 0, ErrRevoked},
		{"revoked session, whatever the stamp", "u1", "s-revoked", 99, ErrRevoked},
		{"other session of the same user", "u1", "s-other", 0, nil},
		{"stale stamp", "u2", "s2", 2, ErrStale},
		{"much older stamp", "u2", "s2", 0, ErrStale},
		{"current stamp", "u2", "s2", 3, nil},
		{"newer stamp (a token issued after a bump this replica has not seen)", "u2", "s2", 4, nil},
		{"unknown user", "u3", "s3", 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := v.Check(tc.user, tc.session, tc.stamp); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Check(%s, %s, %d) = %v, want %v", tc.user, tc.session, tc.stamp, err, tc.want)
			}
		})
	}
}

func TestViewApply(t *testing.T) {
	tests := []struct {
		name   string
		events []Event // At offsets are relative to the clock's now (zero At: now)
		user   string
		stamp  int64
		want   error
	}{
		{"stamps out of order keep the highest", []Event{
			{Kind: KindUserStamp, UserID: "u", Stamp: 5}, {Kind: KindUserStamp, UserID: "u", Stamp: 2},
		}, "u", 4, ErrStale},
		{"a duplicate event is harmless", []Event{
			{Kind: KindUserStamp, UserID: "u", Stamp: 2}, {Kind: KindUserStamp, UserID: "u", Stamp: 2},
		}, "u", 2, nil},
		{"an event older than the window is ignored", []Event{
			{Kind: KindUserStamp, UserID: "u", Stamp: 9, At: time.Unix(1, 0)},
		}, "u", 0, nil},
		{"an unknown kind is ignored", []Event{
			{Kind: "future_kind", UserID: "u", Stamp: 9},
		}, "u", 0, nil},
		{"a revocation without a session id is ignored", []Event{
			{Kind: KindSessionRevoked, UserID: "u"},
		}, "u", 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestView(t, newClock())
			for _, e := range tc.events {
				v.Apply(e)
			}
			if err := v.Check(tc.user, "s", tc.stamp); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestViewPrune(t *testing.T) {
	clk := newClock()
	at := clk.Now()
	v := newTestView(t, clk)
	v.Apply(Event{Kind: KindSessionRevoked, UserID: "u1", SessionID: "s1", At: at})
	v.Apply(Event{Kind: KindUserStamp, UserID: "u2", Stamp: 1, At: at})
	later := at.Add(10 * time.Minute)
	v.Apply(Event{Kind: KindSessionRevoked, UserID: "u3", SessionID: "s3", At: later})

	v.Prune(at.Add(viewWindow - time.Millisecond))
	if s, u := v.Len(); s != 2 || u != 1 {
		t.Fatalf("Prune inside the window dropped entries: %d sessions, %d users left", s, u)
	}
	if err := v.Check("u1", "s1", 0); !errors.Is(err, ErrRevoked) {
		t.Errorf("before the window ends: Check = %v, want ErrRevoked", err)
	}
	v.Prune(at.Add(viewWindow))
	if s, u := v.Len(); s != 1 || u != 0 {
		t.Fatalf("after the window: %d sessions, %d users left; want 1, 0", s, u)
	}
	if err := v.Check("u1", "s1", 0); err != nil {
		t.Errorf("after the window: Check(s1) = %v, want nil (every token of s1 has expired)", err)
	}
	if err := v.Check("u2", "s2", 0); err != nil {
		t.Errorf("after the window: Check(u2 stamp 0) = %v, want nil", err)
	}
	if err := v.Check("u3", "s3", 0); !errors.Is(err, ErrRevoked) {
		t.Errorf("a later revocation was pruned early: Check = %v", err)
	}
	// A newer stamp event for a user extends the entry.
	v.Apply(Event{Kind: KindUserStamp, UserID: "u4", Stamp: 1, At: at})
	v.Apply(Event{Kind: KindUserStamp, UserID: "u4", Stamp: 2, At: later})
	v.Prune(at.Add(viewWindow))
	if err := v.Check("u4", "s", 1); !errors.Is(err, ErrStale) {
		t.Errorf("stamp entry extended by a later event: Check = %v, want ErrStale", err)
	}
}

func TestViewRevokeLocalAppliesAtOnce(t *testing.T) {
	clk := newClock()
	v := newTestView(t, clk)
	e := v.RevokeLocal(Event{Kind: KindSessionRevoked, UserID: "u", SessionID: "s"})
	if !e.At.Equal(clk.Now()) {
		t.Errorf("RevokeLocal stamped At %v, want the view's now %v", e.At, clk.Now())
	}
	if err := v.Check("u", "s", 0); !errors.Is(err, ErrRevoked) {
		t.Errorf("Check after RevokeLocal = %v, want ErrRevoked", err)
	}
	// Publish applies locally even when the feed is down.
	down := &fakeFeed{publishErr: errors.New("feed down")}
	if err := v.Publish(context.Background(), down, Event{Kind: KindUserStamp, UserID: "u", Stamp: 1}); err == nil {
		t.Errorf("Publish hid the feed's error")
	}
	if err := v.Check("u", "other", 0); !errors.Is(err, ErrStale) {
		t.Errorf("Check after a failed Publish = %v, want ErrStale (applied locally)", err)
	}
}

func TestStartViewReplaysThenFollows(t *testing.T) {
	clk := newClock()
	f := &fakeFeed{
		backlog: []Event{{Kind: KindSessionRevoked, UserID: "u", SessionID: "old", At: clk.Now().Add(-time.Minute)}},
		release: make(chan struct{}),
		live:    make(chan Event),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := StartView(ctx, f, ViewOptions{AccessTTL: viewAccessTTL, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if v.Ready() {
		t.Fatalf("ready before the replay")
	}
	if err := v.ReadyCheck().Check(ctx); err == nil {
		t.Errorf("readiness check passes before the replay")
	}
	close(f.release)
	waitReady(t, v)
	if err := v.ReadyCheck().Check(ctx); err != nil {
		t.Errorf("readiness check after the replay: %v", err)
	}
	if want := clk.Now().Add(-viewWindow); !f.since().Equal(want) {
		t.Errorf("replay since %v, want now - window = %v", f.since(), want)
	}
	if err := v.Check("u", "old", 0); !errors.Is(err, ErrRevoked) {
		t.Errorf("replayed revocation not applied: %v", err)
	}
	f.live <- Event{Kind: KindSessionRevoked, UserID: "u", SessionID: "new", At: clk.Now()}
	f.live <- Event{} // a second send returns only after the first was applied
	if err := v.Check("u", "new", 0); !errors.Is(err, ErrRevoked) {
		t.Errorf("followed revocation not applied: %v", err)
	}
	cancel()
	select {
	case <-v.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("StartView's goroutines did not end")
	}
}

// TestViewCheckBeforeReplay: a view that has not replayed its feed (a
// replica started while the feed was unreachable) cannot know which
// sessions were revoked, so Check answers ErrNotReady, never nil: the audit
// found an empty, never-replayed view accepting a token logged out on
// another replica. After the replay it answers as before, and it keeps
// answering from memory when the feed goes away later (SPEC 9).
func TestViewCheckBeforeReplay(t *testing.T) {
	clk := newClock()
	f := &fakeFeed{
		backlog: []Event{{Kind: KindSessionRevoked, UserID: "u", SessionID: "logged-out", At: clk.Now().Add(-time.Minute)}},
		release: make(chan struct{}),
		live:    make(chan Event),
		outage:  make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := StartView(ctx, f, ViewOptions{AccessTTL: viewAccessTTL, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}

	// The feed is unreachable: nothing replayed.
	for _, sid := range []string{"logged-out", "live"} {
		if err := v.Check("u", sid, 0); !errors.Is(err, ErrNotReady) {
			t.Errorf("before the replay, Check(u, %s) = %v, want ErrNotReady", sid, err)
		}
	}
	// What the view does know is still refused for what it is.
	v.RevokeLocal(Event{Kind: KindSessionRevoked, UserID: "u", SessionID: "local"})
	if err := v.Check("u", "local", 0); !errors.Is(err, ErrRevoked) {
		t.Errorf("before the replay, a locally revoked session: %v, want ErrRevoked", err)
	}

	close(f.release)
	waitReady(t, v)
	want := map[string]error{"logged-out": ErrRevoked, "local": ErrRevoked, "live": nil}
	check := func(when string) {
		t.Helper()
		for sid, w := range want {
			if err := v.Check("u", sid, 0); !errors.Is(err, w) || (w == nil && err != nil) {
				t.Errorf("%s, Check(u, %s) = %v, want %v", when, sid, err, w)
			}
		}
	}
	check("after the replay")

	// The feed goes away: the view keeps what it knew and stays ready.
	close(f.outage)
	for deadline := time.Now().Add(5 * time.Second); !f.ended(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the fake feed did not fail")
		}
	}
	if !v.Ready() {
		t.Errorf("not ready after a feed outage that followed the replay")
	}
	check("during a feed outage after the replay")
}

func TestNewViewNeedsAccessTTL(t *testing.T) {
	if _, err := NewView(ViewOptions{}); err == nil {
		t.Errorf("NewView without AccessTTL succeeded")
	}
}

// fakeFeed delivers a backlog once release is closed, then what arrives on
// live, until outage (if set) is closed: Run then fails, as a feed whose
// server went away.
type fakeFeed struct {
	publishErr error
	backlog    []Event
	release    chan struct{}
	live       chan Event
	outage     chan struct{}

	mu       sync.Mutex
	runSince time.Time
	runEnded bool
}

func (f *fakeFeed) ended() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runEnded
}

func (f *fakeFeed) Publish(context.Context, Event) error { return f.publishErr }

func (f *fakeFeed) since() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runSince
}

func (f *fakeFeed) Run(ctx context.Context, since time.Time, apply func(Event), caughtUp func()) error {
	f.mu.Lock()
	f.runSince = since
	f.mu.Unlock()
	select {
	case <-f.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, e := range f.backlog {
		apply(e)
	}
	caughtUp()
	for {
		select {
		case e := <-f.live:
			apply(e)
		case <-f.outage:
			f.mu.Lock()
			f.runEnded = true
			f.mu.Unlock()
			return errors.New("fake feed: unreachable")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func TestViewSubscribe(t *testing.T) {
	clk := newClock()
	v := newTestView(t, clk)
	var mu sync.Mutex
	var got []Event
	var checked []error
	cancel := v.Subscribe(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e)
		// The event is already in force when the subscriber hears of it.
		checked = append(checked, v.Check(e.UserID, e.SessionID, 0))
	})
	other := 0
	cancelOther := v.Subscribe(func(Event) { other++ })

	v.RevokeLocal(Event{Kind: KindSessionRevoked, UserID: "u", SessionID: "s"})
	v.Apply(Event{Kind: KindUserStamp, UserID: "u", Stamp: 2, At: clk.Now()})
	// Not recorded, so not delivered: malformed, and outside the window.
	v.Apply(Event{Kind: KindSessionRevoked, UserID: "u"})
	v.Apply(Event{Kind: KindSessionRevoked, UserID: "u", SessionID: "old", At: clk.Now().Add(-2 * viewWindow)})
	cancelOther()
	v.Apply(Event{Kind: KindSessionRevoked, UserID: "u", SessionID: "s2", At: clk.Now()})
	cancel()
	cancel() // idempotent
	v.Apply(Event{Kind: KindSessionRevoked, UserID: "u", SessionID: "s3", At: clk.Now()})

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0].SessionID != "s" || got[1].Kind != KindUserStamp || got[2].SessionID != "s2" {
		t.Fatalf("subscriber got %+v, want the revocation of s, the stamp, the revocation of s2", got)
	}
	if !errors.Is(checked[0], ErrRevoked) || !errors.Is(checked[1], ErrStale) || !errors.Is(checked[2], ErrRevoked) {
		t.Errorf("Check inside the subscriber = %v, want each event already in force", checked)
	}
	if other != 2 {
		t.Errorf("the cancelled subscriber heard %d events, want 2 (those before its cancel)", other)
	}
}
