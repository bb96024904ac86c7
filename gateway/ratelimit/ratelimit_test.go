package ratelimit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/ratelimit"
	"github.com/authgate/gateway/internal/testenv"
)

// limiters runs f on both implementations.
func limiters(t *testing.T, f func(t *testing.T, l ratelimit.Limiter)) {
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		f(t, ratelimit.NewMemory(ratelimit.MemoryOptions{}))
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		l, _, _ := newRedis(t)
		f(t, l)
	})
}

func newRedis(t *testing.T) (*ratelimit.Redis, *redis.Client, string) {
	t.Helper()
	addr, prefix := testenv.RedisAddr(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return ratelimit.NewRedis(rdb, prefix), rdb, prefix
}

func allow(t *testing.T, l ratelimit.Limiter, key string, r config.Rate) ratelimit.Result {
	t.Helper()
	res, err := l.Allow(context.Background(), key, r)
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	if !res.Allowed && res.RetryAfter <= 0 {
		t.Fatalf("refused with RetryAfter %v, want > 0", res.RetryAfter)
	}
	return res
}

func check(t *testing.T, l ratelimit.Limiter, key string, r config.Rate) ratelimit.Result {
	t.Helper()
	res, err := l.Check(context.Background(), key, r)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}

// A long window: nothing is released during the test.
var slow = config.Rate{Limit: 3, Window: time.Hour}

func TestLimitReached(t *testing.T) {
	limiters(t, func(t *testing.T, l ratelimit.Limiter) {
		for i := range slow.Limit {
			if !check(t, l, "k", slow).Allowed {
				t.Fatalf("Check %d refused under the limit", i+1)
			}
			if !allow(t, l, "k", slow).Allowed {
				t.Fatalf("event %d refused under the limit", i+1)
			}
		}
		res := allow(t, l, "k", slow)
		if res.Allowed {
			t.Fatal("event over the limit allowed")
		}
		// GCRA: one more every window/limit = 20 minutes.
		if res.RetryAfter < 19*time.Minute || res.RetryAfter > 20*time.Minute {
			t.Errorf("RetryAfter %v, want about 20m", res.RetryAfter)
		}
		c := check(t, l, "k", slow)
		if c.Allowed || c.RetryAfter <= 0 {
			t.Errorf("Check over the limit = %+v, want refused with a RetryAfter", c)
		}
	})
}

func TestCheckRecordsNothing(t *testing.T) {
	limiters(t, func(t *testing.T, l ratelimit.Limiter) {
		for range 10 {
			if !check(t, l, "k", slow).Allowed {
				t.Fatal("Check refused on a fresh key")
			}
		}
		for i := range slow.Limit {
			if !allow(t, l, "k", slow).Allowed {
				t.Fatalf("event %d refused after Checks only", i+1)
			}
		}
		one := config.Rate{Limit: 1, Window: time.Hour}
		if !check(t, l, "one", one).Allowed || !allow(t, l, "one", one).Allowed {
			t.Fatal("limit 1: first event refused")
		}
		if check(t, l, "one", one).Allowed || allow(t, l, "one", one).Allowed {
			t.Fatal("limit 1: second event allowed")
		}
	})
}

func TestKeysIsolated(t *testing.T) {
	limiters(t, func(t *testing.T, l ratelimit.Limiter) {
		for range slow.Limit {
			allow(t, l, "a", slow)
		}
		if allow(t, l, "a", slow).Allowed {
			t.Fatal("a over the limit allowed")
		}
		for _, k := range []string{"b", "a\x00", "A", ""} {
			if !allow(t, l, k, slow).Allowed {
				t.Errorf("key %q refused: it shares a's count", k)
			}
		}
	})
}

func TestResetsAfterWindow(t *testing.T) {
	limiters(t, func(t *testing.T, l ratelimit.Limiter) {
		r := config.Rate{Limit: 2, Window: time.Second}
		allow(t, l, "k", r)
		allow(t, l, "k", r)
		if allow(t, l, "k", r).Allowed {
			t.Fatal("over the limit allowed")
		}
		// After the window the full burst is back. Poll: no timing is
		// asserted but "within a few windows".
		deadline := time.Now().Add(10 * time.Second)
		for !check(t, l, "k", r).Allowed {
			if time.Now().After(deadline) {
				t.Fatal("still refused 10s after a 1s window")
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(1100 * time.Millisecond)
		for i := range r.Limit {
			if !allow(t, l, "k", r).Allowed {
				t.Fatalf("event %d refused after the window", i+1)
			}
		}
	})
}

func TestConcurrentNeverOverLimit(t *testing.T) {
	limiters(t, func(t *testing.T, l ratelimit.Limiter) {
		r := config.Rate{Limit: 20, Window: time.Hour}
		var mu sync.Mutex
		allowed := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 10 {
					res, err := l.Allow(context.Background(), "k", r)
					if err != nil {
						t.Error(err)
						return
					}
					if res.Allowed {
						mu.Lock()
						allowed++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if allowed != r.Limit {
			t.Errorf("%d of 80 concurrent events allowed, want exactly %d", allowed, r.Limit)
		}
	})
}

// The Redis keys are under the configured prefix + "rl:", hashed (no raw
// email in a key name), expire, and are shared by every limiter on the same
// Redis and prefix (replicas) but not across prefixes.
func TestRedisKeys(t *testing.T) {
	l, rdb, prefix := newRedis(t)
	ctx := context.Background()
	email := "victim@example.com"
	allow(t, l, "login_account\x00"+email, slow)
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("keys under the prefix = %q, want one", keys)
	}
	k := keys[0]
	if !strings.HasPrefix(k, prefix+"rl:") || len(k) != len(prefix+"rl:")+64 || strings.Contains(k, "example") {
		t.Errorf("key %q: want %srl:<sha-256 hex>", k, prefix)
	}
	if ttl := rdb.TTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("key TTL %v, want within the window", ttl)
	}

	// A replica: same Redis, same prefix, its own client.
	replica := ratelimit.NewRedis(redis.NewClient(&redis.Options{Addr: rdb.Options().Addr}), prefix)
	allow(t, replica, "shared", slow)
	allow(t, l, "shared", slow)
	allow(t, replica, "shared", slow)
	if allow(t, l, "shared", slow).Allowed || allow(t, replica, "shared", slow).Allowed {
		t.Error("replicas do not share the count")
	}
	other := ratelimit.NewRedis(rdb, prefix+"other:")
	if !allow(t, other, "shared", slow).Allowed {
		t.Error("another key prefix shares the count")
	}
}

// Redis down: an error, which callers turn into a refusal.
func TestRedisDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	l := ratelimit.NewRedis(rdb, "x:")
	if _, err := l.Allow(context.Background(), "k", slow); err == nil {
		t.Error("Allow without Redis: no error")
	}
	if _, err := l.Check(context.Background(), "k", slow); err == nil {
		t.Error("Check without Redis: no error")
	}
}

// The in-process limiter holds at most MaxKeys keys however many are used,
// drops idle ones, and evicts the key nearest to idle first, never a
// refused one.
func TestMemoryBound(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	m := ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: 640, Now: clock})
	if m.MaxKeys() != 640 {
		t.Fatalf("MaxKeys %d, want 640", m.MaxKeys())
	}
	ctx := context.Background()
	short := config.Rate{Limit: 5, Window: time.Minute}
	one := config.Rate{Limit: 1, Window: time.Hour}

	// A key at its limit, used up before the flood.
	if res, _ := m.Allow(ctx, "attacker", one); !res.Allowed {
		t.Fatal("first event refused")
	}
	for i := range 20_000 {
		if _, err := m.Allow(ctx, fmt.Sprintf("ip-%d", i), short); err != nil {
			t.Fatal(err)
		}
		if n := m.Len(); n > m.MaxKeys() {
			t.Fatalf("%d keys held, cap %d", n, m.MaxKeys())
		}
	}
	if res, _ := m.Allow(ctx, "attacker", one); res.Allowed {
		t.Error("a refused key was evicted by a flood of fresh keys")
	}
	// Idle keys go at the next sweep.
	advance(2 * time.Hour)
	m.Allow(ctx, "fresh", short)
	if n := m.Len(); n > 1 {
		t.Errorf("%d keys held after every key went idle, want 1", n)
	}
	if m.Len() == 0 {
		t.Error("the fresh key is not held")
	}
}
