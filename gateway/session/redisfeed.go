package session

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// RedisFeed is a Feed on a Redis Stream, key P+"revocations".
//
// A stream and not pub/sub: a pub/sub message reaches only the subscribers
// connected at that instant, so a replica whose connection drops for a
// moment (a network blip, a Sentinel failover) would silently miss a logout
// and keep honouring the revoked access tokens. A stream keeps the events;
// a reader remembers the id of the last one it delivered and, after
// reconnecting, reads on from there. XREAD BLOCK wakes the reader as soon as
// an event is added, so delivery takes a round trip, not a poll period.
//
// Publish uses XADD with MAXLEN ~ 100000: the stream holds far more than one
// access-token lifetime of revocations (a reader that falls further behind
// than that would anyway only learn of events whose tokens have expired).
// Entry ids come from the Redis server's clock, so Run's since is compared
// with Redis's time (milliseconds); a few seconds of skew between the
// replicas and Redis is covered by the View's leeway.
//
// In Cluster the stream is one key, on one node. If Redis loses the stream
// (a restart without persistence), readers continue: new entries get ids
// from the current time, which are above every id read before.
type RedisFeed struct {
	c    redis.UniversalClient
	key  string
	opts FeedOptions
}

var _ Feed = (*RedisFeed)(nil)

// RedisFeedMaxLen is the approximate length the stream is trimmed to.
const RedisFeedMaxLen = 100_000

// NewRedisFeed returns the feed of key prefix+"revocations" on c.
func NewRedisFeed(c redis.UniversalClient, prefix string, o FeedOptions) *RedisFeed {
	return &RedisFeed{c: c, key: prefix + "revocations", opts: o.withDefaults(500 * time.Millisecond)}
}

// Publish implements Feed.
func (f *RedisFeed) Publish(ctx context.Context, e Event) error {
	if !e.Valid() {
		return fmt.Errorf("session: publish: invalid event (kind %q)", e.Kind)
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	err := f.c.XAdd(ctx, &redis.XAddArgs{
		Stream: f.key,
		MaxLen: RedisFeedMaxLen,
		Approx: true,
		Values: []any{
			"k", string(e.Kind), "u", e.UserID, "s", e.SessionID,
			"st", strconv.FormatInt(e.Stamp, 10), "at", strconv.FormatInt(e.At.UnixMilli(), 10),
		},
	}).Err()
	if err != nil {
		return fmt.Errorf("session: publish revocation: %w", err)
	}
	return nil
}

// Run implements Feed. It reads with XREAD BLOCK (PollInterval) from the
// first entry whose id time is at or after since.
func (f *RedisFeed) Run(ctx context.Context, since time.Time, apply func(Event), caughtUp func()) error {
	// The greatest id of the millisecond before since: XREAD returns the
	// entries after it, i.e. from since's millisecond on.
	last := strconv.FormatInt(since.UnixMilli()-1, 10) + "-18446744073709551615"
	if since.UnixMilli() <= 0 {
		last = "0-0"
	}
	bo := backoff{max: f.opts.MaxBackoff}
	for ctx.Err() == nil {
		streams, err := f.c.XRead(ctx, &redis.XReadArgs{
			Streams: []string{f.key, last},
			Count:   feedBatch,
			Block:   f.opts.PollInterval,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() != nil {
				break
			}
			f.opts.Logger.Warn("revocation feed: read failed; retrying", zap.Error(err))
			bo.wait(ctx)
			continue
		}
		bo.reset()
		n := 0
		for _, s := range streams {
			for _, m := range s.Messages {
				n++
				last = m.ID
				e, err := decodeStreamEvent(m.Values)
				if err != nil {
					f.opts.Logger.Warn("revocation feed: skipping event", zap.String("id", m.ID), zap.Error(err))
					continue
				}
				apply(e)
			}
		}
		if n < feedBatch && caughtUp != nil {
			caughtUp()
			caughtUp = nil
		}
	}
	return ctx.Err()
}

func decodeStreamEvent(v map[string]any) (Event, error) {
	str := func(k string) string { s, _ := v[k].(string); return s }
	e := Event{Kind: Kind(str("k")), UserID: str("u"), SessionID: str("s")}
	var err1, err2 error
	e.Stamp, err1 = strconv.ParseInt(str("st"), 10, 64)
	at, err2 := strconv.ParseInt(str("at"), 10, 64)
	if err1 != nil || err2 != nil || !e.Valid() {
		return Event{}, fmt.Errorf("%w: fields %s", errMalformedEvent, strings.Join(slices.Sorted(maps.Keys(v)), ","))
	}
	e.At = time.UnixMilli(at).UTC()
	return e, nil
}
