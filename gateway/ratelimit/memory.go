package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgate/gateway/config"
)

// MemoryOptions bound a Memory limiter.
type MemoryOptions struct {
	// MaxKeys caps how many keys are tracked at once; 0 means
	// DefaultMaxKeys. Each key costs about 64 bytes (a 16-byte digest,
	// an 8-byte time and the map's overhead), so the default bounds the
	// limiter to roughly 6-7 MB however many clients or emails are tried.
	MaxKeys int
	// Now is the clock; nil means time.Now (tests).
	Now func() time.Time
}

// DefaultMaxKeys is the default key cap of a Memory limiter.
const DefaultMaxKeys = 100_000

// shards spread the keys over independently locked maps.
const shards = 64

// sweepEvery is how often the idle keys of every shard are dropped (by the
// first call after it elapsed: there is no background goroutine).
const sweepEvery = time.Minute

// Memory is a Limiter local to this process: a sharded map from key digest
// to the GCRA's theoretical arrival time (TAT).
//
// Memory is bounded: a key is dropped once idle (its TAT is past, which is
// exactly when it is back to a full burst, so dropping it changes no
// answer), every shard is swept of its idle keys once a minute (by the
// first call after the minute), and at most MaxKeys keys are held. A shard that is full even after a
// sweep evicts the key nearest to idle (the smallest TAT): the least
// restrictive state is the one forgotten, never a client that is refused.
type Memory struct {
	now     func() time.Time
	perShrd int
	// lastSweep is when the shards were last swept (unix nanoseconds).
	lastSweep atomic.Int64
	shards    [shards]memShard
}

type memShard struct {
	mu  sync.Mutex
	tat map[[16]byte]int64 // unix nanoseconds
}

// NewMemory returns an in-process Limiter.
func NewMemory(o MemoryOptions) *Memory {
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Memory{now: o.Now, perShrd: max(1, o.MaxKeys/shards)}
	m.lastSweep.Store(o.Now().UnixNano())
	for i := range m.shards {
		m.shards[i].tat = make(map[[16]byte]int64)
	}
	return m
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, r config.Rate) (Result, error) {
	return m.take(key, r, true), nil
}

// Check implements Limiter.
func (m *Memory) Check(_ context.Context, key string, r config.Rate) (Result, error) {
	return m.take(key, r, false), nil
}

// Len is the number of keys held.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}

// MaxKeys is the most keys m holds at once.
func (m *Memory) MaxKeys() int { return m.perShrd * shards }

func (m *Memory) take(key string, r config.Rate, record bool) Result {
	sum := sha256.Sum256([]byte(key))
	var d [16]byte
	copy(d[:], sum[:16])
	s := &m.shards[binary.BigEndian.Uint16(sum[16:18])%shards]
	now := m.now().UnixNano()
	if last := m.lastSweep.Load(); now-last >= int64(sweepEvery) && m.lastSweep.CompareAndSwap(last, now) {
		for i := range m.shards {
			sh := &m.shards[i]
			sh.mu.Lock()
			sh.dropIdle(now)
			sh.mu.Unlock()
		}
	}

	// GCRA: each event moves the TAT on by one emission interval; an
	// event is allowed while the TAT stays within one window of now.
	limit := int64(max(r.Limit, 1))
	window := int64(max(r.Window, time.Nanosecond))
	interval := max(window/limit, 1)

	s.mu.Lock()
	defer s.mu.Unlock()
	tat, ok := s.tat[d]
	if !ok || tat < now {
		tat = now
	}
	next := tat + interval
	if next-now > window {
		return refused(time.Duration(next - window - now))
	}
	if !record {
		return Result{Allowed: true}
	}
	if !ok {
		s.makeRoom(now, m.perShrd)
	}
	s.tat[d] = next
	return Result{Allowed: true}
}

// dropIdle deletes the keys back to a full burst. s.mu is held.
func (s *memShard) dropIdle(now int64) {
	for k, t := range s.tat {
		if t <= now {
			delete(s.tat, k)
		}
	}
}

// makeRoom makes room for one key in a full shard: it drops the idle keys
// and, if none was, the key nearest to idle. s.mu is held.
func (s *memShard) makeRoom(now int64, capacity int) {
	if len(s.tat) < capacity {
		return
	}
	s.dropIdle(now)
	if len(s.tat) < capacity {
		return
	}
	var oldest [16]byte
	first := true
	var least int64
	for k, t := range s.tat {
		if first || t < least {
			oldest, least, first = k, t, false
		}
	}
	delete(s.tat, oldest)
}
