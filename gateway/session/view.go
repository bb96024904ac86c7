package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Errors returned by View.Check.
var (
	// ErrRevoked means the access token's session has been revoked.
	ErrRevoked = errors.New("session: session revoked")
	// ErrStale means the access token carries an older security stamp than
	// the user's current one (roles changed, account disabled, password
	// reset): the client must refresh, and the refresh decides anew.
	ErrStale = errors.New("session: access token stale")
	// ErrNotReady means the view has not replayed its feed yet (a replica
	// that started while the feed was unreachable): it cannot know which
	// sessions were revoked, so no token may be taken as good. It is not
	// an answer about the token: the caller answers 503 and the client
	// retries (audit finding: an empty, never-replayed view let a token
	// logged out on another replica through, failing open).
	ErrNotReady = errors.New("session: revocation view not replayed yet")
)

// DefaultLeeway is added to the access-token lifetime to get a View's
// window: it covers the JWT verification leeway (at most 30 s), clock skew
// between replicas and the moment between a refresh's commit and the
// signing of its access token.
const DefaultLeeway = time.Minute

// ViewOptions configure a View.
type ViewOptions struct {
	// AccessTTL is the access-token lifetime (tokens.access_ttl). Required.
	AccessTTL time.Duration
	// Leeway is added to AccessTTL; zero means DefaultLeeway.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PruneInterval is how often StartView prunes; zero means a minute.
	PruneInterval time.Duration
	// Logger is for StartView; nil means none.
	Logger *zap.Logger
}

// View is a replica's in-memory set of revoked sessions and current user
// stamps, consulted on every authenticated request. Check takes a read lock
// and does two map lookups: no I/O, no allocation, and any number of
// concurrent readers (an RWMutex rather than a copy-on-write snapshot,
// because a burst of events, such as a logout-all of a user with many
// sessions, would otherwise copy the maps once per event).
//
// An entry is kept until its event's At + AccessTTL + Leeway (the window):
// every access token it could refuse was issued before At and so has
// expired by then. Memory is therefore bounded by the number of events in
// one window. Entries are removed by Prune (StartView runs it).
//
// The zero View is not usable; use NewView or StartView.
type View struct {
	window time.Duration
	now    func() time.Time

	mu      sync.RWMutex
	revoked map[string]time.Time  // session id -> keep until
	stamps  map[string]stampEntry // user id -> newest stamp

	ready atomic.Bool
	done  chan struct{}

	// subs are the Subscribe callbacks, copied on write: Apply reads
	// them without a lock.
	subMu sync.Mutex
	subs  atomic.Pointer[[]*subscriber]
}

// subscriber wraps a callback so that Subscribe's cancel can find it by
// identity (funcs are not comparable).
type subscriber struct{ fn func(Event) }

type stampEntry struct {
	stamp int64
	until time.Time
}

// NewView returns an empty View that is not fed: the caller applies events
// itself. It is ready at once.
func NewView(o ViewOptions) (*View, error) {
	if o.AccessTTL <= 0 {
		return nil, fmt.Errorf("session: ViewOptions.AccessTTL must be positive (got %v)", o.AccessTTL)
	}
	if o.Leeway <= 0 {
		o.Leeway = DefaultLeeway
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &View{
		window:  o.AccessTTL + o.Leeway,
		now:     o.Now,
		revoked: make(map[string]time.Time),
		stamps:  make(map[string]stampEntry),
		done:    make(chan struct{}),
	}
	v.ready.Store(true)
	close(v.done)
	return v, nil
}

// StartView returns a View fed by feed: it first replays the events of the
// last window (since now - AccessTTL - Leeway), so that a replica that
// starts (or restarts) knows every revocation that can still matter, then
// follows the feed until ctx is done. Ready reports false until the replay
// has been delivered. It also prunes the view every PruneInterval.
//
// The goroutines end when ctx is done; Done is closed then.
func StartView(ctx context.Context, feed Feed, o ViewOptions) (*View, error) {
	v, err := NewView(o)
	if err != nil {
		return nil, err
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = time.Minute
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	v.ready.Store(false)
	v.done = make(chan struct{})
	since := v.now().Add(-v.window)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = feed.Run(ctx, since, v.Apply, func() {
			v.ready.Store(true)
			log.Info("revocation view caught up", zap.Time("since", since))
		})
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(o.PruneInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				v.Prune(v.now())
			}
		}
	}()
	go func() {
		wg.Wait()
		close(v.done)
	}()
	return v, nil
}

// Check decides whether an access token of userID for sessionID, carrying
// the user stamp stamp, is still good: ErrRevoked if the session was
// revoked, ErrStale if the user's stamp is newer, ErrNotReady if neither is
// known but the view has not replayed the feed yet (it may simply not
// know), nil otherwise. It never blocks on I/O.
//
// Once the view has been ready it stays so, also while the feed is
// unreachable: it then answers from what it holds, and issued access tokens
// keep working (SPEC 9).
func (v *View) Check(userID, sessionID string, stamp int64) error {
	v.mu.RLock()
	_, revoked := v.revoked[sessionID]
	st, known := v.stamps[userID]
	v.mu.RUnlock()
	switch {
	case revoked:
		return ErrRevoked
	case known && stamp < st.stamp:
		return ErrStale
	case !v.ready.Load():
		return ErrNotReady
	}
	return nil
}

// Apply records an event. Events whose window has already passed, and
// malformed or unknown ones, are ignored. Applying an event twice, or out of
// order, is harmless: a session stays revoked, and a user keeps the highest
// stamp seen. The subscribers (Subscribe) are told of every event recorded,
// after it is in force.
func (v *View) Apply(e Event) {
	if !v.apply(e) {
		return
	}
	if subs := v.subs.Load(); subs != nil {
		for _, s := range *subs {
			s.fn(e)
		}
	}
}

// apply records e and reports whether it did.
func (v *View) apply(e Event) bool {
	if !e.Valid() {
		return false
	}
	at := e.At
	if at.IsZero() {
		at = v.now()
	}
	until := at.Add(v.window)
	if !until.After(v.now()) {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch e.Kind {
	case KindSessionRevoked:
		if old, ok := v.revoked[e.SessionID]; !ok || until.After(old) {
			v.revoked[e.SessionID] = until
		}
	case KindUserStamp:
		old, ok := v.stamps[e.UserID]
		if !ok {
			v.stamps[e.UserID] = stampEntry{stamp: e.Stamp, until: until}
			return true
		}
		if e.Stamp > old.stamp {
			old.stamp = e.Stamp
		}
		if until.After(old.until) {
			old.until = until
		}
		v.stamps[e.UserID] = old
	}
	return true
}

// Subscribe calls fn with every event Apply records from now on (from the
// feed, and from RevokeLocal and Publish on this replica), after the event
// is in force: a Check that fn makes already sees it. It is how state kept
// outside the view, such as open WebSocket connections, learns of a
// revocation. fn runs on the applying goroutine (the feed's, or a request's)
// and may run concurrently with itself: it must be fast, must not block, and
// must not call Apply. An event may be delivered more than once (published
// here, then read back from the feed). The returned function ends the
// subscription.
func (v *View) Subscribe(fn func(Event)) (cancel func()) {
	s := &subscriber{fn: fn}
	v.subMu.Lock()
	defer v.subMu.Unlock()
	var next []*subscriber
	if cur := v.subs.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, s)
	v.subs.Store(&next)
	return func() {
		v.subMu.Lock()
		defer v.subMu.Unlock()
		cur := v.subs.Load()
		if cur == nil {
			return
		}
		var kept []*subscriber
		for _, o := range *cur {
			if o != s {
				kept = append(kept, o)
			}
		}
		v.subs.Store(&kept)
	}
}

// RevokeLocal applies e on this replica at once, stamping At with the
// view's clock when it is zero, and returns the event as applied. The
// replica that makes a change calls it (or Publish) so that its own
// requests see the change without waiting for the feed's round trip.
func (v *View) RevokeLocal(e Event) Event {
	if e.At.IsZero() {
		e.At = v.now()
	}
	v.Apply(e)
	return e
}

// Publish applies e locally (RevokeLocal) and then publishes it on feed,
// so that this replica refuses at once even if the feed is down.
func (v *View) Publish(ctx context.Context, feed Feed, e Event) error {
	return feed.Publish(ctx, v.RevokeLocal(e))
}

// Prune drops the entries whose window ended at or before now.
func (v *View) Prune(now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for id, until := range v.revoked {
		if !until.After(now) {
			delete(v.revoked, id)
		}
	}
	for id, st := range v.stamps {
		if !st.until.After(now) {
			delete(v.stamps, id)
		}
	}
}

// Len returns the number of revoked sessions and user stamps held, for
// metrics and tests.
func (v *View) Len() (sessions, users int) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.revoked), len(v.stamps)
}

// Ready reports whether the view has replayed the feed's recent past (for
// /readyz; until then Check answers ErrNotReady). It stays true afterwards,
// also while the feed is unreachable: the view then still refuses
// everything it knew, and access tokens keep working (SPEC 9).
func (v *View) Ready() bool { return v.ready.Load() }

// Done is closed when the goroutines started by StartView have ended (at
// once for a View from NewView).
func (v *View) Done() <-chan struct{} { return v.done }

// ReadyCheck adapts Ready to the server's readiness-check interface
// (gateway.ReadinessCheck): pass v.ReadyCheck() in gateway.Options.Checks.
func (v *View) ReadyCheck() ReadyCheck { return ReadyCheck{v} }

// ReadyCheck reports a View's readiness to /readyz.
type ReadyCheck struct{ v *View }

// Name is the check's name in /readyz.
func (c ReadyCheck) Name() string { return "revocations" }

// Check returns an error until the view has replayed the feed.
func (c ReadyCheck) Check(context.Context) error {
	if !c.v.Ready() {
		return errors.New("revocation feed not replayed yet")
	}
	return nil
}
