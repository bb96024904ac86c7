package token

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/gateway/gateway/scope"
)

// countVerifications makes v count its full verifications.
func countVerifications(v *Verifier) *atomic.Int64 {
	n := new(atomic.Int64)
	v.onVerify = func() { n.Add(1) }
	return n
}

func TestVerifyCachedHit(t *testing.T) {
	clock := newFakeClock()
	iss, ver := newPair(t, newTestSet(t, EdDSA), testOptions(clock))
	n := countVerifications(ver)
	tok := issue(t, iss, testIdentity())

	first, err := ver.VerifyCached(tok)
	if err != nil {
		t.Fatalf("VerifyCached: %v", err)
	}
	for range 100 {
		c, err := ver.VerifyCached(tok)
		if err != nil {
			t.Fatalf("VerifyCached: %v", err)
		}
		if c != first {
			t.Fatalf("a hit returned different claims")
		}
	}
	if got := n.Load(); got != 1 {
		t.Fatalf("%d full verifications for 101 calls, want 1", got)
	}
	// The cache holds the digest, never the token.
	k := sha256.Sum256([]byte(tok))
	if _, ok := ver.cache.shard(&k).m[k]; !ok {
		t.Errorf("no entry under the token's SHA-256")
	}
}

func TestVerifyCachedExpiry(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(clock)
	o.AccessTTL = time.Minute
	iss, ver := newPair(t, newTestSet(t, EdDSA), o)
	n := countVerifications(ver)
	tok := issue(t, iss, testIdentity())

	steps := []struct {
		at      time.Duration // since issue
		wantN   int64         // full verifications so far
		wantErr error
	}{
		{0, 1, nil},
		{59 * time.Second, 1, nil},                       // cached
		{60 * time.Second, 2, nil},                       // at exp the entry is dead; valid within the leeway
		{61 * time.Second, 3, nil},                       // and not cached again past exp
		{60*time.Second + MaxLeeway, 4, ErrTokenExpired}, // past the leeway
	}
	start := clock.Now()
	for _, s := range steps {
		clock.Advance(start.Add(s.at).Sub(clock.Now()))
		_, err := ver.VerifyCached(tok)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Fatalf("at +%v: err = %v, want %v", s.at, err, s.wantErr)
		}
		if got := n.Load(); got != s.wantN {
			t.Fatalf("at +%v: %d verifications, want %d", s.at, got, s.wantN)
		}
	}
}

func TestVerifyCachedDoesNotCacheFailures(t *testing.T) {
	clock := newFakeClock()
	_, ver := newPair(t, newTestSet(t, EdDSA), testOptions(clock))
	n := countVerifications(ver)
	forged := signRaw(t, goodHeader(ver.ks), goodClaims(clock.Now()), nil, nil)
	for range 3 {
		if _, err := ver.VerifyCached(forged); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("err = %v", err)
		}
	}
	if got := n.Load(); got != 3 {
		t.Errorf("%d verifications for 3 failures, want 3 (failures are not cached)", got)
	}
	if ver.cache.len() != 0 {
		t.Errorf("cache holds %d entries after failures only", ver.cache.len())
	}
}

func cacheKey(i int) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

func TestBoundedCacheCapacity(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		requested, effective int
	}{
		{1, cacheShards},
		{256, 256},
		{1000, 1024},
	} {
		t.Run(fmt.Sprint(tc.requested), func(t *testing.T) {
			c := newBoundedCache[int](tc.requested)
			if c.capacity() != tc.effective {
				t.Fatalf("capacity = %d, want %d", c.capacity(), tc.effective)
			}
			for i := range 10 * tc.effective {
				c.put(cacheKey(i), i, now.Add(time.Hour), now)
				if i%997 == 0 && c.len() > c.capacity() {
					t.Fatalf("after %d inserts: %d entries > capacity %d", i+1, c.len(), c.capacity())
				}
			}
			if c.len() > c.capacity() {
				t.Fatalf("%d entries > capacity %d", c.len(), c.capacity())
			}
			if c.len() < c.capacity()*9/10 {
				t.Errorf("only %d entries of %d: eviction is too eager", c.len(), c.capacity())
			}
			// The latest insert is always kept.
			last := 10*tc.effective - 1
			if v, ok := c.get(cacheKey(last), now); !ok || v != last {
				t.Errorf("the latest insert is missing")
			}
		})
	}
}

func TestDefaultCacheCapacity(t *testing.T) {
	if got := newBoundedCache[int](DefaultCacheSize).capacity(); got != DefaultCacheSize {
		t.Errorf("default capacity = %d, want %d", got, DefaultCacheSize)
	}
}

// sameShardKeys returns n distinct keys that all fall in shard 0.
func sameShardKeys(n int) [][32]byte {
	var keys [][32]byte
	for i := 0; len(keys) < n; i++ {
		k := cacheKey(i)
		k[0] = 0
		keys = append(keys, k)
	}
	return keys
}

func TestBoundedCacheEviction(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	t.Run("expired entries go first", func(t *testing.T) {
		c := newBoundedCache[int](evictSample * cacheShards) // 8 per shard
		keys := sameShardKeys(evictSample + 1)
		for i := range evictSample - 1 {
			c.put(keys[i], i, now.Add(time.Hour), now)
		}
		c.put(keys[evictSample-1], -1, now.Add(time.Second), now) // full shard, one about to expire
		later := now.Add(2 * time.Second)
		c.put(keys[evictSample], evictSample, now.Add(time.Hour), later)
		for i := range evictSample - 1 {
			if _, ok := c.get(keys[i], later); !ok {
				t.Errorf("live entry %d was evicted while an expired one was there", i)
			}
		}
		if _, ok := c.get(keys[evictSample], later); !ok {
			t.Errorf("the new entry is missing")
		}
	})
	t.Run("else the soonest to expire", func(t *testing.T) {
		c := newBoundedCache[int](evictSample * cacheShards)
		keys := sameShardKeys(evictSample + 1)
		for i := range evictSample {
			c.put(keys[i], i, now.Add(time.Hour+time.Duration(i+1)*time.Minute), now)
		}
		c.put(keys[evictSample], evictSample, now.Add(2*time.Hour), now)
		if _, ok := c.get(keys[0], now); ok {
			t.Errorf("the entry closest to expiry survived")
		}
		for i := 1; i <= evictSample; i++ {
			if _, ok := c.get(keys[i], now); !ok {
				t.Errorf("entry %d was evicted", i)
			}
		}
	})
	t.Run("dead values are neither stored nor returned", func(t *testing.T) {
		c := newBoundedCache[int](64)
		c.put(cacheKey(1), 1, now, now)
		if c.len() != 0 {
			t.Errorf("an entry expiring now was stored")
		}
		c.put(cacheKey(2), 2, now.Add(time.Second), now)
		if _, ok := c.get(cacheKey(2), now.Add(time.Second)); ok {
			t.Errorf("an entry was returned at its expiry")
		}
		if c.len() != 0 {
			t.Errorf("an expired entry met by get was not removed")
		}
	})
}

// TestVerifyCachedBoundUnderOverInsertion: ten times more live tokens than
// the capacity keep the cache at its capacity, and every token verifies.
func TestVerifyCachedBoundUnderOverInsertion(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(clock)
	o.CacheSize = 64
	iss, ver := newPair(t, newTestSet(t, HS256), o)
	for i := range 10 * ver.cache.capacity() {
		id := testIdentity()
		id.SessionID = fmt.Sprint("s", i)
		if _, err := ver.VerifyCached(issue(t, iss, id)); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		if ver.cache.len() > ver.cache.capacity() {
			t.Fatalf("after %d tokens the cache holds %d > %d", i+1, ver.cache.len(), ver.cache.capacity())
		}
	}
}

// TestVerifyCachedConcurrent runs under -race: readers, writers and
// evictions on a small cache, each answer checked.
func TestVerifyCachedConcurrent(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(clock)
	o.CacheSize = 32                                // one entry a shard: constant eviction
	iss, ver := newPair(t, newTestSet(t, HS256), o) // cheap misses: the cache is under test
	type pair struct {
		token string
		sid   string
	}
	var tokens []pair
	for i := range 100 {
		id := &scope.Identity{UserID: "u", SessionID: fmt.Sprint("s", i), Roles: []string{"user"}}
		tokens = append(tokens, pair{issue(t, iss, id), id.SessionID})
	}
	bad := signRaw(t, goodHeader(ver.ks), goodClaims(clock.Now()), nil, nil)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				if i%50 == 0 {
					clock.Advance(time.Millisecond) // the clock moves under the readers
				}
				p := tokens[(i*7+g*13)%len(tokens)]
				c, err := ver.VerifyCached(p.token)
				if err != nil || c.SessionID != p.sid {
					errs <- fmt.Errorf("goroutine %d: %v, claims %+v, want sid %s", g, err, c, p.sid)
					return
				}
				if i%100 == 0 {
					if _, err := ver.VerifyCached(bad); !errors.Is(err, ErrTokenInvalid) {
						errs <- fmt.Errorf("forged token: %v", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ver.cache.len() > ver.cache.capacity() {
		t.Errorf("cache holds %d > %d", ver.cache.len(), ver.cache.capacity())
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	iss, ver := newPair(b, newTestSet(b, EdDSA), Options{Issuer: testIssuer, Audience: testAudience})
	tok := issue(b, iss, testIdentity())
	if _, err := ver.VerifyCached(tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ver.VerifyCached(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCachedParallel(b *testing.B) {
	iss, ver := newPair(b, newTestSet(b, EdDSA), Options{Issuer: testIssuer, Audience: testAudience})
	var tokens []string
	for i := range 1024 {
		id := testIdentity()
		id.SessionID = fmt.Sprint("s", i)
		tok := issue(b, iss, id)
		if _, err := ver.VerifyCached(tok); err != nil {
			b.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := ver.VerifyCached(tokens[i%len(tokens)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
