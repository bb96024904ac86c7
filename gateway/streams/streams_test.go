package streams

import (
	"context"
	"testing"
	"time"

	"github.com/authgate/gateway/gateway/scope"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/gateway/token"
	"github.com/authgate/gateway/internal/testenv"
)

// fixture is a Registry on real parts: a revocation view, a SQLite session
// store and an HS256 issuer and verifier.
type fixture struct {
	reg      *Registry
	view     *session.View
	store    *session.SQLStore
	issuer   *token.Issuer
	verifier *token.Verifier
}

func newFixture(t *testing.T, accessTTL time.Duration) *fixture {
	t.Helper()
	db := testenv.SQLite(t)
	store, err := session.NewSQLStore(db, session.Options{IdleTTL: time.Hour, MaxTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	view, err := session.NewView(session.ViewOptions{AccessTTL: accessTTL})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := token.NewHMACKeySet([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	o := token.Options{Issuer: "test", Audience: "test", AccessTTL: accessTTL}
	issuer, err := token.NewIssuer(ks, o)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := token.NewVerifier(ks, o)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := New(Options{View: view, Sessions: store, Verifier: verifier, AccessTTL: accessTTL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(view.Subscribe(reg.Revoked))
	return &fixture{reg: reg, view: view, store: store, issuer: issuer, verifier: verifier}
}

// login creates a session of user and issues an access token for it.
func (f *fixture) login(t *testing.T, user string, stamp int64) (sessionID, tok string) {
	t.Helper()
	s, _, err := f.store.Create(context.Background(), session.NewSession{UserID: user}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err = f.issuer.IssueAccess(token.AccessClaims{Subject: user, SessionID: s.ID, Stamp: stamp, Roles: []string{"user"}})
	if err != nil {
		t.Fatal(err)
	}
	return s.ID, tok
}

// watched is a stream as the proxy would hand it over.
type watched struct {
	ended chan struct{}
	close context.CancelFunc // the proxy finished with the stream
}

func (f *fixture) open(t *testing.T, user, sessionID, tok string) *watched {
	t.Helper()
	sc := &scope.Scope{AccessToken: tok}
	if user != "" {
		sc.Identity = &scope.Identity{UserID: user, SessionID: sessionID}
	}
	ctx, cancel := context.WithCancel(scope.With(context.Background(), sc))
	t.Cleanup(cancel)
	w := &watched{ended: make(chan struct{}), close: cancel}
	f.reg.Watch(ctx, func() { close(w.ended) }) // a second call would panic: end must run once
	return w
}

func (w *watched) isEnded() bool {
	select {
	case <-w.ended:
		return true
	default:
		return false
	}
}

func (w *watched) waitEnded(t *testing.T, within time.Duration, what string) {
	t.Helper()
	select {
	case <-w.ended:
	case <-time.After(within):
		t.Fatalf("%s: the stream was not ended within %v", what, within)
	}
}

func waitLen(t *testing.T, reg *Registry, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for reg.Len() != want {
		if time.Now().After(deadline) {
			t.Fatalf("Len() = %d, want %d", reg.Len(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRevocationEndsOnlyTheSessionsStreams(t *testing.T) {
	f := newFixture(t, time.Minute)
	s1, tok1 := f.login(t, "u1", 0)
	s2, tok2 := f.login(t, "u1", 0)
	a, b := f.open(t, "u1", s1, tok1), f.open(t, "u1", s2, tok2)
	other := f.open(t, "u1", s1, tok1) // a second stream of s1
	if n := f.reg.Len(); n != 3 {
		t.Fatalf("Len() = %d, want 3", n)
	}
	f.view.RevokeLocal(session.Event{Kind: session.KindSessionRevoked, UserID: "u1", SessionID: s1})
	if !a.isEnded() || !other.isEnded() {
		t.Errorf("the revoked session's streams are still open")
	}
	if b.isEnded() {
		t.Errorf("the revocation of one session ended another session's stream")
	}
	if n := f.reg.Len(); n != 1 {
		t.Errorf("Len() = %d after the revocation, want 1", n)
	}
	// Delivered again by the feed: harmless.
	f.view.Apply(session.Event{Kind: session.KindSessionRevoked, UserID: "u1", SessionID: s1, At: time.Now()})
}

func TestNewerStampEndsTheUsersStreams(t *testing.T) {
	f := newFixture(t, time.Minute)
	s1, tok1 := f.login(t, "u1", 1)
	s2, tok2 := f.login(t, "u2", 1)
	mine, theirs := f.open(t, "u1", s1, tok1), f.open(t, "u2", s2, tok2)
	f.view.RevokeLocal(session.Event{Kind: session.KindUserStamp, UserID: "u1", Stamp: 1})
	if mine.isEnded() {
		t.Fatalf("a stamp that is not newer than the token's ended the stream")
	}
	f.view.RevokeLocal(session.Event{Kind: session.KindUserStamp, UserID: "u1", Stamp: 2})
	if !mine.isEnded() {
		t.Errorf("a newer stamp (disabled, roles, password reset) did not end the user's stream")
	}
	if theirs.isEnded() {
		t.Errorf("another user's stream was ended")
	}
}

func TestAlreadyRevokedStreamEndsAtOnce(t *testing.T) {
	f := newFixture(t, time.Minute)
	s, tok := f.login(t, "u1", 0)
	f.view.RevokeLocal(session.Event{Kind: session.KindSessionRevoked, UserID: "u1", SessionID: s})
	if w := f.open(t, "u1", s, tok); !w.isEnded() {
		t.Errorf("a stream whose session was revoked before Watch is open")
	}
	if w := f.open(t, "u1", s, "not-a-token"); !w.isEnded() {
		t.Errorf("a stream whose token does not verify is open")
	}
	if n := f.reg.Len(); n != 0 {
		t.Errorf("Len() = %d, want 0", n)
	}
}

func TestAnonymousStreamsAreNotWatched(t *testing.T) {
	f := newFixture(t, time.Minute)
	if w := f.open(t, "", "", ""); w.isEnded() {
		t.Errorf("an anonymous stream was ended")
	}
	if n := f.reg.Len(); n != 0 {
		t.Errorf("Len() = %d, want 0", n)
	}
}

func TestFinishedStreamsAreForgotten(t *testing.T) {
	f := newFixture(t, time.Minute)
	s, tok := f.login(t, "u1", 0)
	w := f.open(t, "u1", s, tok)
	w.close()
	waitLen(t, f.reg, 0)
	// A later revocation does not touch it (end would panic on a second
	// close of the channel anyway; here it must not be called at all).
	f.view.RevokeLocal(session.Event{Kind: session.KindSessionRevoked, UserID: "u1", SessionID: s})
	if w.isEnded() {
		t.Errorf("a finished stream was ended")
	}
}

// At the token's expiry the stream is re-authorised against the store:
// extended while the session stands, ended once the store no longer has it
// (revoked there, here without any event) or the user's stamp moved.
func TestExpiryReauthorisesAgainstTheStore(t *testing.T) {
	// exp is whole seconds, so a token may expire up to a second before
	// issue+ttl: ttl leaves room to look before the earliest expiry.
	const ttl = 3 * time.Second
	f := newFixture(t, ttl)
	ctx := context.Background()
	start := time.Now()
	s1, tok1 := f.login(t, "u1", 0)
	s2, tok2 := f.login(t, "u2", 0)
	s3, tok3 := f.login(t, "u3", 0)
	revoked, stale, standing := f.open(t, "u1", s1, tok1), f.open(t, "u2", s2, tok2), f.open(t, "u3", s3, tok3)

	if err := f.store.Revoke(ctx, s1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.BumpUserStamp(ctx, "u2"); err != nil {
		t.Fatal(err)
	}
	// No event: until the tokens expire, nothing is known here. On a slow
	// machine the earliest expiry may already have passed; then there is
	// nothing to look at.
	time.Sleep(time.Until(start.Add(ttl / 3)))
	if earliestExp := start.Add(ttl - time.Second); time.Now().Before(earliestExp) && (revoked.isEnded() || stale.isEnded()) {
		t.Fatalf("streams ended before their tokens expired, without an event")
	}
	revoked.waitEnded(t, 2*ttl, "session revoked in the store")
	stale.waitEnded(t, 2*ttl, "user's stamp bumped in the store")
	// Two more lifetimes: the standing session's stream is extended each
	// time.
	time.Sleep(2 * ttl)
	if standing.isEnded() {
		t.Fatalf("a stream whose session stands was ended at its token's expiry")
	}
	if n := f.reg.Len(); n != 1 {
		t.Errorf("Len() = %d, want 1", n)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Errorf("New without parts succeeded")
	}
	f := newFixture(t, time.Minute)
	if _, err := New(Options{View: f.view, Sessions: f.store, Verifier: f.verifier}); err == nil {
		t.Errorf("New without AccessTTL succeeded")
	}
}
