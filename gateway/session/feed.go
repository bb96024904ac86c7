package session

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
)

// Kind is what a revocation event says.
type Kind string

// Event kinds.
const (
	// KindSessionRevoked: every access token with sid = SessionID is no
	// longer good (logout, session deleted, refresh-token reuse, password
	// change ending other sessions).
	KindSessionRevoked Kind = "session_revoked"
	// KindUserStamp: the user's security stamp is now Stamp; access tokens
	// of UserID carrying an older stamp are stale (roles changed, account
	// disabled, password reset).
	KindUserStamp Kind = "user_stamp"
)

// Event is one revocation, as carried by a Feed and applied by a View.
type Event struct {
	Kind      Kind
	UserID    string
	SessionID string // KindSessionRevoked only
	Stamp     int64  // KindUserStamp only
	// At is when the change happened on the publishing replica; Publish
	// fills it in when zero. A View keeps the event until At + the access
	// TTL + leeway.
	At time.Time
}

// Valid reports whether e is an event a View can apply.
func (e Event) Valid() bool {
	switch e.Kind {
	case KindSessionRevoked:
		return e.SessionID != ""
	case KindUserStamp:
		return e.UserID != ""
	default:
		return false
	}
}

// Feed carries revocation events to every replica. Implementations:
// SQLFeed (a table polled every 200 ms) and RedisFeed (a Redis Stream read
// with a blocking XREAD). Both deliver an event published on one replica to
// every other within a second, in publication order, and without gaps across
// reconnects: a reader resumes from the last event it delivered.
type Feed interface {
	// Publish appends e to the feed. An error means the other replicas may
	// not learn of e; the caller should answer 503 (the change itself, made
	// in the Store, already holds for refreshes).
	Publish(ctx context.Context, e Event) error
	// Run delivers, in order, every event published after since (by the
	// feed's clock, see the implementations) and then every new event, by
	// calling apply from one goroutine. Once the events that were already
	// published when Run connected have been delivered, it calls caughtUp
	// (if not nil), exactly once. Errors (a lost connection, a restarted
	// server) are logged and retried with backoff, resuming after the last
	// delivered event. Run returns ctx.Err() when ctx is done, and only
	// then.
	Run(ctx context.Context, since time.Time, apply func(Event), caughtUp func()) error
}

// FeedOptions tune a Feed. The zero value is the production setting.
type FeedOptions struct {
	// Logger receives one warning per failed read or malformed event. Nil
	// means no logging.
	Logger *zap.Logger
	// PollInterval is SQLFeed's poll period (default 200 ms) and RedisFeed's
	// XREAD BLOCK time (default 500 ms: a new event wakes the reader at
	// once; the block only bounds how long a cancelled Run takes to return).
	PollInterval time.Duration
	// MaxBackoff caps the wait between retries after an error (default 5s;
	// the first retry waits 100 ms, each next one twice as long, jittered).
	MaxBackoff time.Duration
}

func (o FeedOptions) withDefaults(poll time.Duration) FeedOptions {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.PollInterval <= 0 {
		o.PollInterval = poll
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	return o
}

// feedBatch is how many events one read fetches.
const feedBatch = 512

// backoff is the retry delay of a Run loop: exponential from 100 ms to max,
// with jitter so that replicas do not reconnect in lockstep.
type backoff struct {
	max, next time.Duration
}

func (b *backoff) reset() { b.next = 0 }

// wait sleeps for the next delay, or until ctx is done (then it returns
// false).
func (b *backoff) wait(ctx context.Context) bool {
	if b.next == 0 {
		b.next = 100 * time.Millisecond
	}
	d := b.next/2 + rand.N(b.next/2+1) // #nosec G404 -- reconnect jitter, not a secret
	if b.next *= 2; b.next > b.max {
		b.next = b.max
	}
	return sleep(ctx, d)
}

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// errMalformedEvent marks a stored event a reader cannot decode; it is
// logged and skipped, never retried.
var errMalformedEvent = errors.New("session: malformed revocation event")
