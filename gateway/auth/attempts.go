package auth

import (
	"context"
	"sync"
)

// accountLocks serialises, in this process, the password checks against
// one account. The per-account limits (login_per_account_ip,
// login_per_account) are checked before the hash, which takes tens of
// milliseconds, and a failure is recorded after it; without the lock,
// every attempt that arrived before the first failure was recorded passed
// the check, and 20 guesses sent at once were all checked against a limit
// of 5. Held from the limit check to the failure's record, the attempts on
// one account queue here; once the limit is used up the ones still
// waiting are refused without hashing, so the queue drains at once.
//
// Each replica holds its own locks: across N replicas sharing the limits
// in Redis, at most N guesses can still be in flight past a limit.
//
// The zero value is ready to use. Entries live only while an attempt holds
// or waits for them, so memory follows the logins in progress.
type accountLocks struct {
	mu sync.Mutex
	m  map[string]*accountLock
}

type accountLock struct {
	held chan struct{} // holds one value while an attempt has the lock
	refs int           // attempts holding or waiting; guarded by accountLocks.mu
}

// lock waits until no other attempt on key is in progress, or until ctx
// ends (then it returns ctx's error). unlock must be called exactly once.
func (l *accountLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*accountLock{}
	}
	e := l.m[key]
	if e == nil {
		e = &accountLock{held: make(chan struct{}, 1)}
		l.m[key] = e
	}
	e.refs++
	l.mu.Unlock()

	select {
	case e.held <- struct{}{}:
		return func() { <-e.held; l.release(key, e) }, nil
	case <-ctx.Done():
		l.release(key, e)
		return nil, ctx.Err()
	}
}

func (l *accountLocks) release(key string, e *accountLock) {
	l.mu.Lock()
	if e.refs--; e.refs == 0 {
		delete(l.m, key)
	}
	l.mu.Unlock()
}

// inUse is the number of accounts with an attempt in progress (tests).
func (l *accountLocks) inUse() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
