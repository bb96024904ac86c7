package main

import (
	"context"
	"testing"
	"time"

	"github.com/authgate/gateway/gateway/session"
)

// catchingUpFeed delivers no events and reports caught up after delay
// (never with a negative delay): a feed's replay on start.
type catchingUpFeed struct{ delay time.Duration }

func (catchingUpFeed) Publish(context.Context, session.Event) error { return nil }

func (f catchingUpFeed) Run(ctx context.Context, _ time.Time, _ func(session.Event), caughtUp func()) error {
	if f.delay >= 0 {
		select {
		case <-time.After(f.delay):
			caughtUp()
		case <-ctx.Done():
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestWaitForView: serve waits for the revocation view's replay before it
// listens (tokens get 503 before it), but no longer than its bound when the
// feed does not answer.
func TestWaitForView(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quick, err := session.StartView(ctx, catchingUpFeed{delay: 50 * time.Millisecond}, session.ViewOptions{AccessTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	waitForView(ctx, quick, 10*time.Second)
	if !quick.Ready() {
		t.Error("waitForView returned before the replay")
	}

	never, err := session.StartView(ctx, catchingUpFeed{delay: -1}, session.ViewOptions{AccessTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitForView(ctx, never, 100*time.Millisecond)
	if took := time.Since(start); took < 100*time.Millisecond || took > 5*time.Second {
		t.Errorf("with a feed that never catches up, waitForView returned after %v, want its 100ms bound", took)
	}
}
