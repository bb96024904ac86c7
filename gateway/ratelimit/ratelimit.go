// Package ratelimit counts abuse-prone events (logins, registrations) per
// key against a config.Rate, with the GCRA (generic cell rate algorithm):
// a Rate{Limit: L, Window: W} allows a burst of L events, then one more
// every W/L; a key left alone for W is back to a full burst of L.
//
// Two implementations:
//   - Redis (NewRedis): shared by every replica, through
//     github.com/go-redis/redis_rate/v10 (one Lua script, one key per limit
//     and subject, so it works on Redis Cluster; the time is Redis's TIME,
//     so replica clocks do not matter). Keys expire on their own.
//   - Memory (NewMemory): this process only, with bounded memory (see
//     MemoryOptions).
//
// Keys are opaque to the limiters and never stored as given: both store the
// SHA-256 of the key, so an email address in a key (the per-account login
// limits) never appears in a Redis key name or in memory.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/authgate/gateway/config"
)

// Result is the outcome of Allow or Check.
type Result struct {
	// Allowed reports whether the event is (Allow) or would be (Check)
	// within the rate.
	Allowed bool
	// RetryAfter, when not Allowed, is how long until one more event is
	// allowed; it is positive.
	RetryAfter time.Duration
}

// Limiter is a rate limiter. Implementations are safe for concurrent use.
// An error means the limiter could not decide (its store is down); callers
// should fail closed.
type Limiter interface {
	// Allow records one event under key if r allows it now, and reports
	// whether it did. A refused event is not recorded.
	Allow(ctx context.Context, key string, r config.Rate) (Result, error)
	// Check reports whether Allow would allow one event now, recording
	// nothing. It lets a caller count only some events (failed logins)
	// while refusing every attempt once the limit is reached.
	Check(ctx context.Context, key string, r config.Rate) (Result, error)
}

// hashKey is the stored form of key: hex SHA-256.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// minRetry is the least RetryAfter of a refusal: GCRA may compute a few
// nanoseconds, and a refusal always says to wait.
const minRetry = time.Millisecond

func refused(retry time.Duration) Result {
	return Result{RetryAfter: max(retry, minRetry)}
}
