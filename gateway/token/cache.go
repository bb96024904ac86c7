package token

import (
	"crypto/sha256"
	"sync"
	"time"
)

const (
	// DefaultCacheSize is the verified-token cache's capacity when
	// Options.CacheSize is zero. An entry costs about 400 bytes (key, claims
	// and their strings, measured with UUID ids and two roles), so the
	// default bounds the cache near 40 MiB.
	DefaultCacheSize = 100_000

	cacheShards = 32 // a power of two
	// evictSample is how many entries eviction looks at: the expired ones
	// among them go, else the one that expires first.
	evictSample = 8
)

// VerifyCached is Verify with a bounded cache of verified tokens in front,
// so that the steady state costs a SHA-256 and a map lookup instead of a
// signature check. The cache is keyed by the SHA-256 of the token (the
// token itself is never kept) and an entry lives until the token's exp,
// never longer; failures are not cached. The claims of a hit are the same
// value every time: treat them as read-only.
//
// A hit says only that the token was genuine and unexpired. Revocation is
// the caller's check, made after this one on every request (see the package
// documentation).
func (v *Verifier) VerifyCached(token string) (*AccessClaims, error) {
	if token == "" || len(token) > MaxTokenLength {
		return v.Verify(token) // refused without hashing
	}
	k := tokenDigest(token)
	now := v.now()
	if c, ok := v.cache.get(k, now); ok {
		return c, nil
	}
	c, err := v.Verify(token)
	if err != nil {
		return nil, err
	}
	v.cache.put(k, c, c.ExpiresAt, now)
	return c, nil
}

// tokenDigest is the SHA-256 of token. Copying into a stack buffer instead
// of converting with []byte(token) saves a heap allocation per request for
// every token up to 1 KiB (ours are 450-760 bytes unless a user has dozens
// of roles); longer ones fall back to the heap.
func tokenDigest(token string) [32]byte {
	var buf [1 << 10]byte
	return sha256.Sum256(append(buf[:0], token...))
}

// boundedCache is a concurrency-safe map from a 32-byte digest to a value
// with an expiry, holding at most its capacity.
//
// It is split in cacheShards shards, each with its own lock and an equal
// share of the capacity, chosen by the first byte of the (uniformly
// distributed) digest. When a shard is full, an insert evicts by sampling:
// Go's map iteration starts at a random position, so the first
// evictSample entries are a cheap random sample; the expired ones among
// them are removed, or else the one closest to expiry. There is no
// background goroutine: expired entries also go when a lookup meets them.
// Memory is bounded by the capacity whatever the insertion pattern.
type boundedCache[V any] struct {
	perShard int
	shards   [cacheShards]cacheShard[V]
}

type cacheShard[V any] struct {
	mu sync.RWMutex
	m  map[[32]byte]cacheEntry[V]
	_  [64]byte // keep neighbouring shards' locks off one cache line
}

type cacheEntry[V any] struct {
	val     V
	expires int64 // Unix nanoseconds; the entry is dead from then on
}

// newBoundedCache returns a cache for capacity entries, rounded up to a
// multiple of cacheShards (at least cacheShards).
func newBoundedCache[V any](capacity int) *boundedCache[V] {
	c := &boundedCache[V]{perShard: max(1, (capacity+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]cacheEntry[V])
	}
	return c
}

func (c *boundedCache[V]) shard(k *[32]byte) *cacheShard[V] {
	return &c.shards[k[0]&(cacheShards-1)]
}

// get returns the live value of k at now.
func (c *boundedCache[V]) get(k [32]byte, now time.Time) (V, bool) {
	s := c.shard(&k)
	s.mu.RLock()
	e, ok := s.m[k]
	s.mu.RUnlock()
	if !ok {
		var zero V
		return zero, false
	}
	if t := now.UnixNano(); t >= e.expires {
		s.mu.Lock()
		if e, ok := s.m[k]; ok && t >= e.expires {
			delete(s.m, k)
		}
		s.mu.Unlock()
		var zero V
		return zero, false
	}
	return e.val, true
}

// put stores v under k until expires; a value already dead at now is not
// stored.
func (c *boundedCache[V]) put(k [32]byte, v V, expires, now time.Time) {
	exp, t := expires.UnixNano(), now.UnixNano()
	if exp <= t {
		return
	}
	s := c.shard(&k)
	s.mu.Lock()
	if _, ok := s.m[k]; !ok && len(s.m) >= c.perShard {
		s.evict(t)
	}
	s.m[k] = cacheEntry[V]{val: v, expires: exp}
	s.mu.Unlock()
}

// evict removes at least one entry; the caller holds the lock.
func (s *cacheShard[V]) evict(now int64) {
	var (
		victim  [32]byte
		soonest int64 = -1
		seen    int
		removed bool
	)
	for k, e := range s.m {
		switch {
		case e.expires <= now:
			delete(s.m, k) // deleting during range is allowed
			removed = true
		case soonest < 0 || e.expires < soonest:
			victim, soonest = k, e.expires
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if !removed {
		delete(s.m, victim)
	}
}

// len counts the entries, dead ones included.
func (c *boundedCache[V]) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// capacity is the most entries the cache holds.
func (c *boundedCache[V]) capacity() int { return c.perShard * cacheShards }
