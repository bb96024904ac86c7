// Package streams ends long-lived connections whose credentials stop
// holding.
//
// A WebSocket or a Server-Sent Events stream is authorized once, when it
// opens, and may then stay open for hours. Without this package a user who
// logs out, is disabled or changes their password would keep every open
// stream. The Registry guarantees, for every stream an authenticated
// request opened through the proxy:
//
//   - It is ended as soon as this replica's revocation view applies an event
//     that refuses its access token (session.View.Check): a logout, a
//     logout-all, a session revoke, a password change or reset, a reused
//     refresh token, a disabled user or a role change. The view hears of
//     events from every replica within a second, so the stream ends within
//     a second wherever the change was made.
//   - It does not outlive its access token's lifetime unless it is
//     re-authorised: when the token expires the Registry re-checks the
//     session's standing (the view, the session store's live session, the
//     user's current security stamp) and, if it still stands, extends the
//     stream by one access_ttl, never beyond the session's own expiry;
//     otherwise (or when the store cannot answer) it ends the stream.
//
// Anonymous streams are not watched: they have no session to end.
//
// Ordinary requests never reach this package; the proxy calls Watch only
// for an upgraded connection or an event stream.
package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/gateway/gateway/scope"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/gateway/token"
)

// Checker is the revocation view (session.View).
type Checker interface {
	Check(userID, sessionID string, stamp int64) error
}

// Sessions is the part of session.Store a re-authorisation reads.
type Sessions interface {
	// Get returns the live session with this id, or session.ErrNotFound.
	Get(ctx context.Context, id string) (*session.Session, error)
	// UserStamp returns the user's current security stamp.
	UserStamp(ctx context.Context, userID string) (int64, error)
}

// Verifier returns the claims of an access token the gateway has just
// verified (token.Verifier: a cache hit).
type Verifier interface {
	VerifyCached(tok string) (*token.AccessClaims, error)
}

// Options configure New. View, Sessions, Verifier and AccessTTL are
// required.
type Options struct {
	View     Checker
	Sessions Sessions
	Verifier Verifier
	// AccessTTL is tokens.access_ttl: how long a re-authorisation extends
	// a stream.
	AccessTTL time.Duration
	// RecheckTimeout bounds the store round trips of one
	// re-authorisation; zero means 5 s.
	RecheckTimeout time.Duration
	// Logger records every stream the Registry ends and why; nil: none.
	Logger *zap.Logger
}

// Registry watches the open streams of authenticated users. It is safe for
// concurrent use.
type Registry struct {
	view     Checker
	sessions Sessions
	verifier Verifier
	ttl      time.Duration
	timeout  time.Duration
	log      *zap.Logger

	mu        sync.Mutex
	bySession map[string]map[*stream]struct{}
	byUser    map[string]map[*stream]struct{}
}

// stream is one watched connection.
type stream struct {
	userID, sessionID string
	stamp             int64
	end               func() // idempotent

	mu      sync.Mutex
	timer   *time.Timer // the re-authorisation at expiry
	stopCtx func() bool // the context.AfterFunc that forgets the stream
	gone    bool        // forgotten: ended, or closed by either side
}

// New returns an empty Registry. Subscribe its Revoked method to the
// revocation view (session.View.Subscribe).
func New(o Options) (*Registry, error) {
	if o.View == nil || o.Sessions == nil || o.Verifier == nil {
		return nil, errors.New("streams: Options.View, Sessions and Verifier are required")
	}
	if o.AccessTTL <= 0 {
		return nil, fmt.Errorf("streams: Options.AccessTTL must be positive (got %v)", o.AccessTTL)
	}
	if o.RecheckTimeout <= 0 {
		o.RecheckTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Registry{
		view: o.View, sessions: o.Sessions, verifier: o.Verifier,
		ttl: o.AccessTTL, timeout: o.RecheckTimeout, log: o.Logger,
		bySession: make(map[string]map[*stream]struct{}),
		byUser:    make(map[string]map[*stream]struct{}),
	}, nil
}

// Watch starts watching a stream that the proxy opened for the request
// whose context is ctx (it carries the request's scope: identity and access
// token). end ends the stream; it may be called from any goroutine. The
// stream is forgotten when ctx is done (the proxy has finished with it).
// An anonymous stream is not watched; one whose credentials no longer
// hold is ended at once.
func (g *Registry) Watch(ctx context.Context, end func()) {
	sc := scope.From(ctx)
	if sc == nil || sc.Identity == nil {
		return
	}
	c, err := g.verifier.VerifyCached(sc.AccessToken)
	if err != nil || c.SessionID != sc.Identity.SessionID || c.Subject != sc.Identity.UserID {
		// The token that was just accepted no longer verifies (it
		// expired in between): the stream starts with nothing to stand on.
		g.log.Info("stream ended at open: its access token no longer verifies",
			zap.String("user_id", sc.Identity.UserID), zap.String("session_id", sc.Identity.SessionID))
		end()
		return
	}
	s := &stream{userID: c.Subject, sessionID: c.SessionID, stamp: c.Stamp, end: sync.OnceFunc(end)}
	g.add(s)
	// Checked after add: an event applied in between is then either seen
	// here or delivered to Revoked, which finds the stream.
	if err := g.view.Check(s.userID, s.sessionID, s.stamp); err != nil {
		g.endStream(s, "revoked")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return
	}
	s.timer = time.AfterFunc(time.Until(c.ExpiresAt), func() { g.reauthorize(s) })
	s.stopCtx = context.AfterFunc(ctx, func() { g.forget(s) })
}

// Revoked ends the watched streams that the event e refuses. Pass it to
// session.View.Subscribe: it runs after e is in force, so the view's Check
// decides exactly as for a request.
func (g *Registry) Revoked(e session.Event) {
	var hit []*stream
	g.mu.Lock()
	switch e.Kind {
	case session.KindSessionRevoked:
		for s := range g.bySession[e.SessionID] {
			hit = append(hit, s)
		}
	case session.KindUserStamp:
		for s := range g.byUser[e.UserID] {
			hit = append(hit, s)
		}
	}
	g.mu.Unlock()
	for _, s := range hit {
		if err := g.view.Check(s.userID, s.sessionID, s.stamp); err != nil {
			reason := "revoked"
			if errors.Is(err, session.ErrStale) {
				reason = "user changed" // disabled, roles, password reset
			}
			g.endStream(s, reason)
		}
	}
}

// Len returns the number of watched streams.
func (g *Registry) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, set := range g.bySession {
		n += len(set)
	}
	return n
}

// reauthorize runs when a stream's access token (or its last extension)
// expires. The stream goes on for one more access_ttl only if its session
// still stands: not refused by the view, still live in the store (not
// revoked, not idle or past its absolute lifetime), and the user's stamp
// unchanged. This is what a client's refresh would establish, without the
// client's help: a stream has no way to present a new token. The store is
// asked because the view only knows events, and only those of the last
// window; the store is the record of what stands. If the store cannot
// answer, the stream ends: its client reconnects, and the new request is
// decided like any other.
func (g *Registry) reauthorize(s *stream) {
	if err := g.view.Check(s.userID, s.sessionID, s.stamp); err != nil {
		g.endStream(s, "revoked")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	sess, err := g.sessions.Get(ctx, s.sessionID)
	switch {
	case errors.Is(err, session.ErrNotFound), err == nil && sess.UserID != s.userID:
		g.endStream(s, "access token expired; session ended")
		return
	case err != nil:
		g.log.Warn("stream re-authorisation: session store unavailable", zap.Error(err))
		g.endStream(s, "access token expired; session store unavailable")
		return
	}
	stamp, err := g.sessions.UserStamp(ctx, s.userID)
	switch {
	case err != nil:
		g.log.Warn("stream re-authorisation: session store unavailable", zap.Error(err))
		g.endStream(s, "access token expired; session store unavailable")
		return
	case stamp > s.stamp:
		g.endStream(s, "access token expired; user changed")
		return
	}
	now := time.Now()
	next := now.Add(g.ttl)
	if exp := sess.ExpiresAt(); exp.Before(next) {
		next = exp
	}
	s.mu.Lock()
	if !s.gone {
		s.timer.Reset(next.Sub(now))
	}
	s.mu.Unlock()
	g.log.Debug("stream re-authorised", zap.String("user_id", s.userID), zap.String("session_id", s.sessionID),
		zap.Time("until", next))
}

// endStream forgets s and ends it.
func (g *Registry) endStream(s *stream, reason string) {
	if !g.forget(s) {
		return
	}
	g.log.Info("stream ended", zap.String("reason", reason),
		zap.String("user_id", s.userID), zap.String("session_id", s.sessionID))
	s.end()
}

func (g *Registry) add(s *stream) {
	g.mu.Lock()
	defer g.mu.Unlock()
	addTo(g.bySession, s.sessionID, s)
	addTo(g.byUser, s.userID, s)
}

// forget removes s and stops its timers; it reports whether s was still
// watched.
func (g *Registry) forget(s *stream) bool {
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return false
	}
	s.gone = true
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.stopCtx != nil {
		s.stopCtx()
	}
	s.mu.Unlock()

	g.mu.Lock()
	defer g.mu.Unlock()
	removeFrom(g.bySession, s.sessionID, s)
	removeFrom(g.byUser, s.userID, s)
	return true
}

func addTo(m map[string]map[*stream]struct{}, key string, s *stream) {
	set := m[key]
	if set == nil {
		set = make(map[*stream]struct{}, 1)
		m[key] = set
	}
	set[s] = struct{}{}
}

func removeFrom(m map[string]map[*stream]struct{}, key string, s *stream) {
	set := m[key]
	delete(set, s)
	if len(set) == 0 {
		delete(m, key)
	}
}
