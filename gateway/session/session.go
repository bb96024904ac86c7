package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authgate/gateway/config"
)

// Errors returned by a Store. Compare with errors.Is.
var (
	// ErrInvalid means the refresh token is not (or no longer) good: unknown,
	// malformed, or its session was revoked or has expired. The client must
	// log in again. It is an answer, not a failure of the system.
	ErrInvalid = errors.New("session: invalid refresh token")
	// ErrExpired is the ErrInvalid a store returns when it still knows the
	// session and the session has expired (idle or absolute). errors.Is(err,
	// ErrInvalid) holds for it too; callers that want to say "token_expired"
	// instead of "invalid_token" can tell it apart. A store that has already
	// cleaned the session up answers plain ErrInvalid.
	ErrExpired = fmt.Errorf("%w: session expired", ErrInvalid)
	// ErrReused means a rotated refresh token was presented again after the
	// reuse grace (or one two or more generations old): the token was very
	// likely stolen. The store has revoked the whole session; the caller
	// should audit the event and publish the revocation.
	ErrReused = errors.New("session: refresh token reused; session revoked")
	// ErrNotFound means no live session has this id (unknown, expired or
	// revoked).
	ErrNotFound = errors.New("session: not found")
)

// Session is one login of one user, kept alive by refresh-token rotation.
type Session struct {
	// ID is 128 random bits, base64url without padding (22 characters). It
	// is not a secret: it appears in access tokens (sid), in the
	// X-Auth-Session-Id header and in /auth/sessions.
	ID     string
	UserID string
	// CreatedAt is the login time.
	CreatedAt time.Time
	// LastUsedAt is the last refresh (or the login).
	LastUsedAt time.Time
	// IdleExpiresAt is LastUsedAt + the idle TTL, capped at
	// AbsoluteExpiresAt.
	IdleExpiresAt time.Time
	// AbsoluteExpiresAt is CreatedAt + the max TTL in force at login. Nothing
	// extends it. (A max TTL lowered later applies to existing sessions too:
	// see Options.MaxTTL.)
	AbsoluteExpiresAt time.Time
	// UserAgent and IP describe the client at login, for the session list.
	// They are informational only and bounded in length.
	UserAgent string
	IP        string
	// Generation is the generation of the newest refresh token; the login's
	// token is generation 1 and each rotation adds one.
	Generation int64
	// RotatedAt is when Generation last advanced (CreatedAt before the first
	// rotation). The reuse grace counts from it.
	RotatedAt time.Time
	// UserStamp is the user's security stamp (see Store.UserStamp), read by
	// Rotate in the same step as the session; the other methods leave it
	// 0. A refresh signs it into the new access token without another
	// read. Read before the user's roles are, it can be older than they
	// are but never newer: a role change racing the refresh makes the new
	// token stale (refused, then refreshed again) instead of passing the
	// old roles under the new stamp.
	UserStamp int64

	// advanced is set in a Session returned by a Rotate that advanced the
	// generation, and prevRotatedAt is then the RotatedAt it replaced:
	// what UndoRotate needs to put the session back. A sibling, and every
	// other method, leaves them zero.
	advanced      bool
	prevRotatedAt time.Time
}

// ExpiresAt is when the session ends unless it is used again: the earlier of
// the idle and the absolute expiry.
func (s *Session) ExpiresAt() time.Time {
	if s.AbsoluteExpiresAt.Before(s.IdleExpiresAt) {
		return s.AbsoluteExpiresAt
	}
	return s.IdleExpiresAt
}

// Live reports whether the session has not expired at now. (Revoked
// sessions are never returned by a Store, so they need no flag here.)
func (s *Session) Live(now time.Time) bool { return now.Before(s.ExpiresAt()) }

// NewSession describes a login.
type NewSession struct {
	UserID string
	// UserAgent and IP are stored for display, cut to MaxUserAgentLen and
	// MaxIPLen bytes (at a UTF-8 boundary) so that a client cannot make the
	// store keep arbitrary amounts of data, with invalid UTF-8 and control
	// characters removed.
	UserAgent string
	IP        string
}

// Length limits of the informational session fields.
const (
	MaxUserAgentLen = 512
	MaxIPLen        = 64
)

// Store keeps refresh sessions. Implementations: SQLStore and RedisStore.
// Both pass the same contract tests.
//
// Methods that take now use it for every time decision, so that tests can
// move time; the others use Options.Now. Every error other than the
// sentinel ones is a technical failure (database or Redis unreachable),
// which the HTTP layer answers with 503.
type Store interface {
	// Create starts a session for a login and returns it with its first
	// refresh token (generation 1).
	Create(ctx context.Context, n NewSession, now time.Time) (*Session, string, error)
	// Rotate exchanges a refresh token for a new one and returns the
	// session as updated:
	//   - the newest token: Generation+1, RotatedAt = LastUsedAt = now, idle
	//     expiry extended (capped by the absolute expiry);
	//   - the previous generation's token within ReuseGrace of RotatedAt:
	//     a sibling token of the current generation, without advancing it
	//     or moving RotatedAt (so a replay cannot keep the window open);
	//     LastUsedAt and the idle expiry move as for a rotation. Every token
	//     of the current generation stays valid;
	//   - any older token, or the previous one after the grace: the session
	//     is revoked and ErrReused returned, with a Session that carries
	//     only the revoked session's ID and UserID (for the caller to
	//     publish the revocation);
	//   - an unknown or malformed token, or a revoked or expired session:
	//     ErrInvalid (ErrExpired when the expired session is still known).
	// Concurrent calls with one token never both advance the generation.
	// A rotated session carries the user's stamp in UserStamp.
	Rotate(ctx context.Context, token string, now time.Time) (*Session, string, error)
	// UndoRotate takes back a rotation whose new token the caller could
	// not hand out (issuing the access token failed after it), so that
	// the token the client presented is the newest again and a retry at
	// any later time advances instead of being taken for reuse. s and
	// newToken are what Rotate returned; the caller must never hand
	// newToken out afterwards.
	//   - If that rotation advanced the generation and the session is as it
	//     left it (Generation, RotatedAt and LastUsedAt unchanged: no
	//     rotation or sibling since, not revoked, live at now), Generation
	//     and RotatedAt are put back and UndoRotate reports true.
	//     LastUsedAt and the idle expiry stay as the rotation moved them.
	//   - Otherwise it changes nothing and reports false, without error.
	// In both cases an advance's newToken is refused afterwards (ErrInvalid).
	// A sibling (or a session not returned by Rotate) is left alone, with
	// no I/O. A sibling issued in the same millisecond as the advance is
	// not told apart from no sibling: undoing puts its token a generation
	// ahead of the session (refused as invalid).
	UndoRotate(ctx context.Context, s *Session, newToken string, now time.Time) (undone bool, err error)
	// Get returns the live session with this id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Session, error)
	// ListByUser returns the user's live sessions, newest first (by
	// CreatedAt).
	ListByUser(ctx context.Context, userID string) ([]Session, error)
	// Revoke ends a live session, or returns ErrNotFound. Every refresh
	// token of the session stops working at once; access tokens already
	// issued need the revocation to be published on the Feed.
	Revoke(ctx context.Context, id string) error
	// RevokeUser ends every live session of the user except exceptID (""
	// for none) and returns the ids it ended (so that the caller can
	// publish them). A session created concurrently may survive; it is a
	// newer login.
	RevokeUser(ctx context.Context, userID, exceptID string) (revokedIDs []string, err error)
	// UserStamp returns the user's security stamp, 0 when it was never
	// bumped. Access tokens carry it; see View.Check.
	UserStamp(ctx context.Context, userID string) (int64, error)
	// BumpUserStamp adds one to the user's stamp and returns the new value;
	// every access token issued with an older stamp becomes stale once the
	// new stamp is published on the Feed.
	BumpUserStamp(ctx context.Context, userID string) (int64, error)
	// Ping checks that the backing store answers.
	Ping(ctx context.Context) error
}

// Options are the lifetimes a Store enforces.
type Options struct {
	// IdleTTL ends a session not refreshed for this long (tokens.refresh_idle_ttl).
	IdleTTL time.Duration
	// MaxTTL ends a session this long after login, whatever its use
	// (tokens.refresh_max_ttl). It is recorded in each session at login
	// (AbsoluteExpiresAt), and every check also applies CreatedAt + the
	// current MaxTTL: lowering the setting shortens existing sessions,
	// raising it lengthens only new ones.
	MaxTTL time.Duration
	// ReuseGrace is how long after a rotation the previous token still gets
	// a sibling instead of revoking the session (tokens.reuse_grace). With
	// zero, only a replay in the same millisecond as the rotation (a true
	// race) gets a sibling; any later one is reuse.
	ReuseGrace time.Duration
	// Now is the clock of the methods that take no time argument (Get,
	// ListByUser, Revoke, RevokeUser). Nil means time.Now.
	Now func() time.Time
}

// OptionsFromConfig takes the lifetimes from the tokens section.
func OptionsFromConfig(t config.Tokens) Options {
	return Options{IdleTTL: t.RefreshIdleTTL, MaxTTL: t.RefreshMaxTTL, ReuseGrace: t.ReuseGrace}
}

func (o Options) withDefaults() (Options, error) {
	if o.IdleTTL < time.Millisecond || o.MaxTTL < time.Millisecond {
		return o, fmt.Errorf("session: IdleTTL and MaxTTL must be at least 1ms (got %v, %v)", o.IdleTTL, o.MaxTTL)
	}
	if o.ReuseGrace < 0 {
		return o, fmt.Errorf("session: ReuseGrace must not be negative (got %v)", o.ReuseGrace)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// effectiveAbs is the absolute expiry that applies now: the recorded one,
// or CreatedAt + the current MaxTTL if that is earlier.
func (o Options) effectiveAbs(created, recorded time.Time) time.Time {
	if c := created.Add(o.MaxTTL); c.Before(recorded) {
		return c
	}
	return recorded
}

// rotation is the decision Rotate takes for a token of generation tokenGen
// presented at now to a live session; the SQL store takes it in Go inside
// its transaction, the Redis store in Lua (same rules, see rotateScript).
type rotation int

const (
	rotateAdvance rotation = iota // newest token: advance the generation
	rotateSibling                 // previous token within the grace: sibling
	rotateReuse                   // older token, or previous after grace: revoke
	rotateInvalid                 // a generation from the future: never issued
)

func decideRotation(tokenGen int64, s *Session, now time.Time, grace time.Duration) rotation {
	switch {
	case tokenGen == s.Generation:
		return rotateAdvance
	case tokenGen > s.Generation:
		return rotateInvalid
	case tokenGen == s.Generation-1 && now.Sub(s.RotatedAt) <= grace:
		return rotateSibling
	default:
		return rotateReuse
	}
}

// apply updates s for an accepted rotation or sibling at now.
func (o Options) apply(s *Session, r rotation, now time.Time) {
	if r == rotateAdvance {
		s.advanced, s.prevRotatedAt = true, s.RotatedAt
		s.Generation++
		s.RotatedAt = now
	}
	s.LastUsedAt = now
	s.AbsoluteExpiresAt = o.effectiveAbs(s.CreatedAt, s.AbsoluteExpiresAt)
	s.IdleExpiresAt = now.Add(o.IdleTTL)
	if s.AbsoluteExpiresAt.Before(s.IdleExpiresAt) {
		s.IdleExpiresAt = s.AbsoluteExpiresAt
	}
}

// newSession builds the session of a login at now (already rounded).
func (o Options) newSession(n NewSession, now time.Time) *Session {
	s := &Session{
		ID:                newID(),
		UserID:            n.UserID,
		CreatedAt:         now,
		LastUsedAt:        now,
		AbsoluteExpiresAt: now.Add(o.MaxTTL),
		UserAgent:         clean(n.UserAgent, MaxUserAgentLen),
		IP:                clean(n.IP, MaxIPLen),
		Generation:        1,
		RotatedAt:         now,
	}
	s.IdleExpiresAt = now.Add(o.IdleTTL)
	if s.AbsoluteExpiresAt.Before(s.IdleExpiresAt) {
		s.IdleExpiresAt = s.AbsoluteExpiresAt
	}
	return s
}

// normalize applies the current MaxTTL to a session read from a store, so
// that what callers see (AbsoluteExpiresAt, ExpiresAt) is what the store
// enforces.
func (o Options) normalize(s *Session) {
	s.AbsoluteExpiresAt = o.effectiveAbs(s.CreatedAt, s.AbsoluteExpiresAt)
	if s.AbsoluteExpiresAt.Before(s.IdleExpiresAt) {
		s.IdleExpiresAt = s.AbsoluteExpiresAt
	}
}

// live reports whether s is live at now under the current MaxTTL.
func (o Options) live(s *Session, now time.Time) bool {
	return now.Before(s.IdleExpiresAt) && now.Before(o.effectiveAbs(s.CreatedAt, s.AbsoluteExpiresAt))
}

// Token and id encoding.
const (
	tokenBytes = 32
	idBytes    = 16
	// tokenLen and idLen are the base64url (unpadded) lengths.
	tokenLen = 43
	idLen    = 22
)

var b64 = base64.RawURLEncoding

// b64Strict refuses non-canonical encodings (non-zero padding bits), so
// that one token has exactly one accepted spelling.
var b64Strict = base64.RawURLEncoding.Strict()

// tokenHash is the SHA-256 of a refresh token's text, the only form in which
// a token is stored.
type tokenHash [sha256.Size]byte

// newToken returns a fresh refresh token and its hash. crypto/rand.Read
// never fails (since Go 1.24 it aborts the program instead).
func newToken() (string, tokenHash) {
	var raw [tokenBytes]byte
	_, _ = rand.Read(raw[:])
	tok := b64.EncodeToString(raw[:])
	return tok, sha256.Sum256([]byte(tok))
}

// parseToken checks a presented token's shape, without I/O, and returns its
// hash. Anything that newToken could not have produced is refused here.
func parseToken(tok string) (tokenHash, bool) {
	if len(tok) != tokenLen {
		return tokenHash{}, false
	}
	var raw [tokenBytes]byte
	if n, err := b64Strict.Decode(raw[:], []byte(tok)); err != nil || n != tokenBytes {
		return tokenHash{}, false
	}
	return sha256.Sum256([]byte(tok)), true
}

func newID() string {
	var raw [idBytes]byte
	_, _ = rand.Read(raw[:])
	return b64.EncodeToString(raw[:])
}

// validID reports whether id could be a session id, so that junk from a URL
// costs no I/O.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	var raw [idBytes]byte
	n, err := b64Strict.Decode(raw[:], []byte(id))
	return err == nil && n == idBytes
}

// clean makes an informational client string safe to store: valid UTF-8
// (PostgreSQL refuses anything else in TEXT), no control characters (NUL is
// refused too), at most n bytes, cut at a character boundary.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// roundMS rounds t down to the millisecond, in UTC: the precision both
// stores keep.
func roundMS(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }
