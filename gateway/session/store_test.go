package session

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Lifetimes of the contract tests: short enough to cross with the clock,
// long enough that real time passing during a test does not matter.
const (
	testIdle  = time.Hour
	testMax   = 3 * time.Hour
	testGrace = 10 * time.Second
)

// storeEnv is one contract test's store, on a fresh backing store, with a
// clock the test moves.
type storeEnv struct {
	t     *testing.T
	ctx   context.Context
	clock *clock
	inst  backendInstance
	s     Store
}

func newStoreEnv(t *testing.T, b backend) *storeEnv {
	t.Helper()
	e := &storeEnv{t: t, ctx: context.Background(), clock: newClock(), inst: b.setup(t)}
	e.s = e.open()
	return e
}

func (e *storeEnv) options() Options {
	return Options{IdleTTL: testIdle, MaxTTL: testMax, ReuseGrace: testGrace, Now: e.clock.Now}
}

// open returns another handle on the same data (another "replica").
func (e *storeEnv) open() Store { return e.inst.openStore(e.options()) }

func (e *storeEnv) create(userID string) (*Session, string) {
	e.t.Helper()
	s, tok, err := e.s.Create(e.ctx, NewSession{UserID: userID, UserAgent: "test-agent", IP: "192.0.2.1"}, e.clock.Now())
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return s, tok
}

func (e *storeEnv) rotate(tok string) (*Session, string) {
	e.t.Helper()
	s, next, err := e.s.Rotate(e.ctx, tok, e.clock.Now())
	if err != nil {
		e.t.Fatalf("Rotate at %v: %v", e.clock.Now(), err)
	}
	return s, next
}

func (e *storeEnv) rotateErr(tok string, want error) {
	e.t.Helper()
	s, next, err := e.s.Rotate(e.ctx, tok, e.clock.Now())
	if !errors.Is(err, want) {
		e.t.Fatalf("Rotate = (%v, %q, %v), want error %v", s, next, err, want)
	}
	if next != "" {
		e.t.Fatalf("Rotate returned a token with error %v", err)
	}
	switch {
	case errors.Is(err, ErrReused):
		// The revoked session is named, so that its revocation can be
		// published; nothing else about it is returned.
		if s == nil || s.ID == "" || s.UserID == "" || s.Generation != 0 {
			e.t.Fatalf("Rotate with ErrReused returned %+v, want the revoked session's ID and UserID only", s)
		}
	case s != nil:
		e.t.Fatalf("Rotate returned a session with error %v", err)
	}
}

// undo undoes the rotation that returned s and tok, at the clock's time.
func (e *storeEnv) undo(s *Session, tok string) bool {
	e.t.Helper()
	undone, err := e.s.UndoRotate(e.ctx, s, tok, e.clock.Now())
	if err != nil {
		e.t.Fatalf("UndoRotate: %v", err)
	}
	return undone
}

func (e *storeEnv) ids(userID string) []string {
	e.t.Helper()
	list, err := e.s.ListByUser(e.ctx, userID)
	if err != nil {
		e.t.Fatalf("ListByUser: %v", err)
	}
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	return ids
}

func TestStoreContract(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range storeContract {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, newStoreEnv(t, b)) })
			}
		})
	}
}

var storeContract = []struct {
	name string
	run  func(t *testing.T, e *storeEnv)
}{
	{"create returns a live session and an opaque token", func(t *testing.T, e *storeEnv) {
		now := e.clock.Now()
		s, tok := e.create("u1")
		if len(tok) != tokenLen {
			t.Errorf("token length %d, want %d", len(tok), tokenLen)
		}
		if _, ok := parseToken(tok); !ok {
			t.Errorf("token %q is not base64url of 32 bytes", tok)
		}
		// Only the session id is long enough to test for: a random
		// 43-character token contains "u1" about once in a hundred.
		if strings.Contains(tok, s.ID) {
			t.Errorf("token carries the session id")
		}
		want := Session{
			ID: s.ID, UserID: "u1", CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now.Add(testIdle),
			AbsoluteExpiresAt: now.Add(testMax), UserAgent: "test-agent", IP: "192.0.2.1",
			Generation: 1, RotatedAt: now,
		}
		if !validID(s.ID) {
			t.Errorf("session id %q is not 128 bits base64url", s.ID)
		}
		if *s != want {
			t.Errorf("Create = %+v, want %+v", *s, want)
		}
		got, err := e.s.Get(e.ctx, s.ID)
		if err != nil || *got != want {
			t.Errorf("Get = %+v, %v; want %+v", got, err, want)
		}
		if got := e.ids("u1"); !slices.Equal(got, []string{s.ID}) {
			t.Errorf("ListByUser = %v, want [%s]", got, s.ID)
		}
		_, tok2 := e.create("u1")
		if tok2 == tok {
			t.Errorf("two logins got the same token")
		}
	}},
	{"rotate advances the generation and extends idle expiry", func(t *testing.T, e *storeEnv) {
		created, t1 := e.create("u1")
		now := e.clock.Add(10 * time.Minute)
		s, t2 := e.rotate(t1)
		if t2 == t1 || t2 == "" {
			t.Fatalf("rotation returned token %q", t2)
		}
		want := *created
		want.Generation, want.RotatedAt, want.LastUsedAt, want.IdleExpiresAt = 2, now, now, now.Add(testIdle)
		rotated := want // what UndoRotate needs comes with the rotation
		rotated.advanced, rotated.prevRotatedAt = true, created.RotatedAt
		if *s != rotated {
			t.Errorf("Rotate = %+v, want %+v", *s, rotated)
		}
		if got, err := e.s.Get(e.ctx, s.ID); err != nil || *got != want {
			t.Errorf("Get after rotate = %+v, %v; want %+v", got, err, want)
		}
		e.clock.Add(time.Minute)
		if s3, _ := e.rotate(t2); s3.Generation != 3 {
			t.Errorf("second rotation: generation %d, want 3", s3.Generation)
		}
	}},
	{"old token after the grace is reuse and revokes the session", func(t *testing.T, e *storeEnv) {
		s, t1 := e.create("u1")
		e.clock.Add(time.Minute)
		_, t2 := e.rotate(t1)
		e.clock.Add(testGrace + time.Millisecond)
		e.rotateErr(t1, ErrReused)
		// The thief's replay ended the session: the newest token is dead too.
		e.rotateErr(t2, ErrInvalid)
		if _, err := e.s.Get(e.ctx, s.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after reuse = %v, want ErrNotFound", err)
		}
		if got := e.ids("u1"); len(got) != 0 {
			t.Errorf("ListByUser after reuse = %v, want none", got)
		}
		// Replaying again is merely invalid: the session is already gone.
		e.rotateErr(t1, ErrInvalid)
	}},
	{"previous token within the grace gets a sibling", func(t *testing.T, e *storeEnv) {
		_, t1 := e.create("u1")
		rotatedAt := e.clock.Add(time.Minute)
		_, t2 := e.rotate(t1)
		e.clock.Add(testGrace) // the last instant of the grace
		s, sib := e.rotate(t1)
		if s.Generation != 2 || !s.RotatedAt.Equal(rotatedAt) {
			t.Errorf("sibling: generation %d rotated %v, want 2 and %v", s.Generation, s.RotatedAt, rotatedAt)
		}
		if !s.LastUsedAt.Equal(e.clock.Now()) || !s.IdleExpiresAt.Equal(e.clock.Now().Add(testIdle)) {
			t.Errorf("sibling: last used %v idle expiry %v, want now and now+idle", s.LastUsedAt, s.IdleExpiresAt)
		}
		if sib == t2 || sib == t1 {
			t.Fatalf("sibling token repeats an earlier one")
		}
		// The sibling did not reopen the window: after it, t1 is reuse.
		e.clock.Add(time.Millisecond)
		e.rotateErr(t1, ErrReused)
	}},
	{"both tokens of a grace race stay usable", func(t *testing.T, e *storeEnv) {
		_, t1 := e.create("u1")
		e.clock.Add(time.Minute)
		_, t2 := e.rotate(t1)
		_, sib := e.rotate(t1)
		e.clock.Add(time.Second)
		s, _ := e.rotate(sib) // current generation: advances to 3
		if s.Generation != 3 {
			t.Fatalf("rotating the sibling: generation %d, want 3", s.Generation)
		}
		s, _ = e.rotate(t2) // previous generation, within grace: sibling
		if s.Generation != 3 {
			t.Fatalf("rotating the other token: generation %d, want 3", s.Generation)
		}
	}},
	{"concurrent rotations of one token: one advance and one sibling", func(t *testing.T, e *storeEnv) {
		other := e.open() // the second request lands on another replica
		stores := []Store{e.s, other}
		for i := range 25 {
			s0, t1 := e.create("u1")
			now := e.clock.Add(time.Second)
			var (
				wg     sync.WaitGroup
				start  = make(chan struct{})
				got    [2]*Session
				tokens [2]string
				errs   [2]error
			)
			for j := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					got[j], tokens[j], errs[j] = stores[j].Rotate(e.ctx, t1, now)
				}()
			}
			close(start)
			wg.Wait()
			for j := range 2 {
				if errs[j] != nil {
					t.Fatalf("iteration %d: Rotate #%d: %v", i, j, errs[j])
				}
				if got[j].Generation != 2 {
					t.Fatalf("iteration %d: Rotate #%d: generation %d, want 2 (exactly one advance)", i, j, got[j].Generation)
				}
			}
			if tokens[0] == tokens[1] {
				t.Fatalf("iteration %d: both rotations returned the same token", i)
			}
			if cur, err := e.s.Get(e.ctx, s0.ID); err != nil || cur.Generation != 2 {
				t.Fatalf("iteration %d: Get = %+v, %v; want a live session at generation 2", i, cur, err)
			}
			e.clock.Add(time.Second)
			for j := range 2 {
				if _, _, err := stores[j].Rotate(e.ctx, tokens[j], e.clock.Now()); err != nil {
					t.Fatalf("iteration %d: token from rotation #%d refused afterwards: %v", i, j, err)
				}
			}
		}
	}},
	{"many concurrent rotations of one token advance once", func(t *testing.T, e *storeEnv) {
		_, t1 := e.create("u1")
		now := e.clock.Add(time.Second)
		const n = 8
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			gens  [n]int64
			errs  [n]error
		)
		for j := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				s, _, err := e.s.Rotate(e.ctx, t1, now)
				if errs[j] = err; err == nil {
					gens[j] = s.Generation
				}
			}()
		}
		close(start)
		wg.Wait()
		for j := range n {
			if errs[j] != nil || gens[j] != 2 {
				t.Errorf("Rotate #%d = generation %d, %v; want 2, nil", j, gens[j], errs[j])
			}
		}
	}},
	{"a token two generations old is reuse even within the grace", func(t *testing.T, e *storeEnv) {
		_, t1 := e.create("u1")
		e.clock.Add(time.Second)
		_, t2 := e.rotate(t1)
		e.clock.Add(time.Second)
		_, t3 := e.rotate(t2)
		e.clock.Add(time.Second)
		e.rotateErr(t1, ErrReused)
		e.rotateErr(t3, ErrInvalid)
	}},
	{"undo puts the previous token back, for good", func(t *testing.T, e *storeEnv) {
		created, t1 := e.create("u1")
		e.clock.Add(time.Minute)
		s, t2 := e.rotate(t1)
		if !e.undo(s, t2) {
			t.Fatalf("UndoRotate of the latest advance did nothing")
		}
		got, err := e.s.Get(e.ctx, s.ID)
		if err != nil || got.Generation != 1 || !got.RotatedAt.Equal(created.RotatedAt) {
			t.Fatalf("Get after undo = %+v, %v; want generation 1 rotated at %v", got, err, created.RotatedAt)
		}
		if e.undo(s, t2) {
			t.Errorf("a second UndoRotate reported an undo")
		}
		// Long after the grace, the presented token is the newest again:
		// it advances (neither a sibling nor reuse).
		now := e.clock.Add(testGrace + time.Minute)
		e.rotateErr(t2, ErrInvalid)
		s, t3 := e.rotate(t1)
		if s.Generation != 2 || !s.RotatedAt.Equal(now) {
			t.Fatalf("rotating the token after undo: generation %d rotated %v, want 2 and %v", s.Generation, s.RotatedAt, now)
		}
		// The undone token would now be of the current generation: it
		// must be gone, not accepted.
		e.rotateErr(t2, ErrInvalid)
		e.clock.Add(time.Second)
		if s, _ := e.rotate(t3); s.Generation != 3 {
			t.Errorf("rotating the token after the undo's retry: generation %d, want 3", s.Generation)
		}
	}},
	{"undo after the session moved on does nothing", func(t *testing.T, e *storeEnv) {
		for _, tc := range []struct {
			name string
			// since acts on the session s after its rotation t1 -> t2 and
			// returns the tokens that must still rotate after the undo.
			since func(s *Session, t1 string) (live []string)
		}{
			{"a sibling", func(_ *Session, t1 string) []string {
				e.clock.Add(time.Millisecond)
				_, sib := e.rotate(t1)
				return []string{sib}
			}},
			{"a sibling's advance", func(_ *Session, t1 string) []string {
				_, sib := e.rotate(t1)
				e.clock.Add(time.Second)
				_, t3 := e.rotate(sib)
				return []string{t3}
			}},
			{"a revocation", func(s *Session, _ string) []string {
				if err := e.s.Revoke(e.ctx, s.ID); err != nil {
					t.Fatal(err)
				}
				return nil
			}},
			{"its expiry", func(*Session, string) []string {
				e.clock.Add(testIdle)
				return nil
			}},
		} {
			_, t1 := e.create("u1")
			e.clock.Add(time.Minute)
			s, t2 := e.rotate(t1)
			live := tc.since(s, t1)
			before, beforeErr := e.s.Get(e.ctx, s.ID)
			if e.undo(s, t2) {
				t.Errorf("%s: UndoRotate reported an undo", tc.name)
				continue
			}
			after, afterErr := e.s.Get(e.ctx, s.ID)
			if !errors.Is(afterErr, beforeErr) || (before == nil) != (after == nil) || before != nil && *before != *after {
				t.Errorf("%s: UndoRotate changed the session: %+v, %v -> %+v, %v", tc.name, before, beforeErr, after, afterErr)
				continue
			}
			e.clock.Add(time.Second)
			for _, tok := range live {
				if _, _, err := e.s.Rotate(e.ctx, tok, e.clock.Now()); err != nil {
					t.Errorf("%s: the session's newest token after the undo: %v", tc.name, err)
				}
			}
			if live == nil {
				e.rotateErr(t1, ErrInvalid)
			}
		}
	}},
	{"undo of a sibling does nothing", func(t *testing.T, e *storeEnv) {
		_, t1 := e.create("u1")
		e.clock.Add(time.Minute)
		_, t2 := e.rotate(t1)
		e.clock.Add(time.Second)
		sib, sibTok := e.rotate(t1)
		if e.undo(sib, sibTok) {
			t.Fatalf("UndoRotate of a sibling reported an undo")
		}
		if got, err := e.s.Get(e.ctx, sib.ID); err != nil || got.Generation != 2 {
			t.Fatalf("Get after undoing a sibling = %+v, %v; want generation 2", got, err)
		}
		e.clock.Add(time.Second)
		if s, _ := e.rotate(sibTok); s.Generation != 3 {
			t.Errorf("rotating the sibling: generation %d, want 3", s.Generation)
		}
		if s, _ := e.rotate(t2); s.Generation != 3 {
			t.Errorf("rotating the other token of generation 2: generation %d, want 3 (a sibling)", s.Generation)
		}
	}},
	{"unknown and malformed tokens are invalid", func(t *testing.T, e *storeEnv) {
		e.create("u1")
		unknown, _ := newToken()
		for _, tok := range []string{unknown, "", "short", strings.Repeat("A", tokenLen+1),
			strings.Repeat("!", tokenLen), strings.Repeat("A", tokenLen-1) + "B"} {
			e.rotateErr(tok, ErrInvalid)
		}
	}},
	{"idle expiry ends the session", func(t *testing.T, e *storeEnv) {
		s, t1 := e.create("u1")
		e.clock.Add(testIdle - time.Millisecond)
		_, t2 := e.rotate(t1)
		e.clock.Add(testIdle)
		e.rotateErr(t2, ErrExpired)
		if _, err := e.s.Get(e.ctx, s.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get of an idle-expired session = %v, want ErrNotFound", err)
		}
		if got := e.ids("u1"); len(got) != 0 {
			t.Errorf("ListByUser lists an expired session: %v", got)
		}
	}},
	{"absolute expiry ends a session however often it rotates", func(t *testing.T, e *storeEnv) {
		created, tok := e.create("u1")
		var s *Session
		for e.clock.Now().Add(testIdle / 2).Before(created.CreatedAt.Add(testMax)) {
			e.clock.Add(testIdle / 2)
			s, tok = e.rotate(tok)
			if s.IdleExpiresAt.After(created.AbsoluteExpiresAt) {
				t.Fatalf("idle expiry %v beyond the absolute expiry %v", s.IdleExpiresAt, created.AbsoluteExpiresAt)
			}
		}
		if !s.AbsoluteExpiresAt.Equal(created.AbsoluteExpiresAt) {
			t.Errorf("rotation moved the absolute expiry from %v to %v", created.AbsoluteExpiresAt, s.AbsoluteExpiresAt)
		}
		e.clock.Set(created.CreatedAt.Add(testMax))
		e.rotateErr(tok, ErrInvalid)
	}},
	{"a lowered max TTL shortens existing sessions", func(t *testing.T, e *storeEnv) {
		s, tok := e.create("u1")
		o := e.options()
		o.MaxTTL = 30 * time.Minute
		short := e.inst.openStore(o)
		got, err := short.Get(e.ctx, s.ID)
		if err != nil || !got.AbsoluteExpiresAt.Equal(s.CreatedAt.Add(30*time.Minute)) || !got.ExpiresAt().Equal(got.AbsoluteExpiresAt) {
			t.Errorf("Get under the lower max TTL = %+v, %v; want it to end at login + 30m", got, err)
		}
		e.clock.Add(30 * time.Minute)
		if _, _, err := short.Rotate(e.ctx, tok, e.clock.Now()); !errors.Is(err, ErrInvalid) {
			t.Errorf("Rotate under the lower max TTL = %v, want ErrInvalid", err)
		}
		if _, err := short.Get(e.ctx, s.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get under the lower max TTL = %v, want ErrNotFound", err)
		}
	}},
	{"revoke ends the session", func(t *testing.T, e *storeEnv) {
		s, tok := e.create("u1")
		keep, keepTok := e.create("u1")
		if err := e.s.Revoke(e.ctx, s.ID); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		e.rotateErr(tok, ErrInvalid)
		if _, err := e.s.Get(e.ctx, s.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after Revoke = %v, want ErrNotFound", err)
		}
		if err := e.s.Revoke(e.ctx, s.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Revoke = %v, want ErrNotFound", err)
		}
		if got := e.ids("u1"); !slices.Equal(got, []string{keep.ID}) {
			t.Errorf("ListByUser = %v, want [%s]", got, keep.ID)
		}
		e.rotate(keepTok)
	}},
	{"revoke and get of unknown ids", func(t *testing.T, e *storeEnv) {
		for _, id := range []string{newID(), "", "not-an-id", strings.Repeat("x", 200)} {
			if err := e.s.Revoke(e.ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Revoke(%q) = %v, want ErrNotFound", id, err)
			}
			if _, err := e.s.Get(e.ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
			}
		}
	}},
	{"revoke of an expired session is not found", func(t *testing.T, e *storeEnv) {
		s, _ := e.create("u1")
		e.clock.Add(testIdle)
		if err := e.s.Revoke(e.ctx, s.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Revoke of an expired session = %v, want ErrNotFound", err)
		}
	}},
	{"revoke user ends all sessions but the excepted one", func(t *testing.T, e *storeEnv) {
		a, ta := e.create("u1")
		e.clock.Add(time.Second)
		b, tb := e.create("u1")
		e.clock.Add(time.Second)
		c, _ := e.create("u1")
		other, to := e.create("u2")
		revoked, err := e.s.RevokeUser(e.ctx, "u1", b.ID)
		if err != nil {
			t.Fatalf("RevokeUser: %v", err)
		}
		slices.Sort(revoked)
		want := []string{a.ID, c.ID}
		slices.Sort(want)
		if !slices.Equal(revoked, want) {
			t.Errorf("RevokeUser = %v, want %v", revoked, want)
		}
		if got := e.ids("u1"); !slices.Equal(got, []string{b.ID}) {
			t.Errorf("ListByUser(u1) = %v, want [%s]", got, b.ID)
		}
		if got := e.ids("u2"); !slices.Equal(got, []string{other.ID}) {
			t.Errorf("ListByUser(u2) = %v, want [%s]", got, other.ID)
		}
		e.rotateErr(ta, ErrInvalid)
		e.rotate(tb)
		e.rotate(to)
		// Nothing left to revoke but the excepted one; then that one too.
		if revoked, err := e.s.RevokeUser(e.ctx, "u1", b.ID); err != nil || len(revoked) != 0 {
			t.Errorf("second RevokeUser = %v, %v; want none", revoked, err)
		}
		if revoked, err := e.s.RevokeUser(e.ctx, "u1", ""); err != nil || !slices.Equal(revoked, []string{b.ID}) {
			t.Errorf("RevokeUser without exception = %v, %v; want [%s]", revoked, err, b.ID)
		}
		if revoked, err := e.s.RevokeUser(e.ctx, "nobody", ""); err != nil || len(revoked) != 0 {
			t.Errorf("RevokeUser of a user without sessions = %v, %v", revoked, err)
		}
	}},
	{"list is newest first and skips revoked and expired sessions", func(t *testing.T, e *storeEnv) {
		first, _ := e.create("u1")
		e.clock.Add(time.Minute)
		revoked, _ := e.create("u1")
		e.clock.Add(time.Minute)
		third, thirdTok := e.create("u1")
		e.clock.Add(time.Minute)
		fourth, _ := e.create("u1")
		if err := e.s.Revoke(e.ctx, revoked.ID); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if got, want := e.ids("u1"), []string{fourth.ID, third.ID, first.ID}; !slices.Equal(got, want) {
			t.Errorf("ListByUser = %v, want %v", got, want)
		}
		// Keep the third alive; the others pass their idle expiry.
		e.clock.Add(testIdle - 10*time.Minute)
		e.rotate(thirdTok)
		e.clock.Add(20 * time.Minute)
		if got, want := e.ids("u1"), []string{third.ID}; !slices.Equal(got, want) {
			t.Errorf("ListByUser after expiry = %v, want %v", got, want)
		}
		if got := e.ids("nobody"); len(got) != 0 {
			t.Errorf("ListByUser(nobody) = %v", got)
		}
	}},
	{"user stamps start at zero and only grow", func(t *testing.T, e *storeEnv) {
		for _, u := range []string{"u1", "u2"} {
			if n, err := e.s.UserStamp(e.ctx, u); err != nil || n != 0 {
				t.Fatalf("UserStamp(%s) = %d, %v; want 0", u, n, err)
			}
		}
		for want := int64(1); want <= 3; want++ {
			if n, err := e.s.BumpUserStamp(e.ctx, "u1"); err != nil || n != want {
				t.Fatalf("BumpUserStamp = %d, %v; want %d", n, err, want)
			}
		}
		if n, err := e.s.UserStamp(e.ctx, "u1"); err != nil || n != 3 {
			t.Errorf("UserStamp(u1) = %d, %v; want 3", n, err)
		}
		if n, err := e.open().UserStamp(e.ctx, "u1"); err != nil || n != 3 {
			t.Errorf("UserStamp(u1) from another replica = %d, %v; want 3", n, err)
		}
		if n, err := e.s.UserStamp(e.ctx, "u2"); err != nil || n != 0 {
			t.Errorf("UserStamp(u2) = %d, %v; want 0", n, err)
		}
	}},
	{"a rotation reads the user's stamp with the session", func(t *testing.T, e *storeEnv) {
		_, tok := e.create("u1")
		e.clock.Add(time.Second)
		s, next := e.rotate(tok)
		if s.UserStamp != 0 {
			t.Fatalf("UserStamp before any bump = %d, want 0", s.UserStamp)
		}
		for range 2 {
			if _, err := e.s.BumpUserStamp(e.ctx, "u1"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.s.BumpUserStamp(e.ctx, "u2"); err != nil { // another user's stamp is not read
			t.Fatal(err)
		}
		e.clock.Add(time.Second)
		s, _ = e.rotate(next)
		if s.UserStamp != 2 {
			t.Errorf("UserStamp after an advance = %d, want 2", s.UserStamp)
		}
		s, _ = e.rotate(next) // within the grace: a sibling
		if s.UserStamp != 2 {
			t.Errorf("UserStamp of a sibling = %d, want 2", s.UserStamp)
		}
		if _, err := e.open().BumpUserStamp(e.ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		if s, _ = e.rotate(next); s.UserStamp != 3 {
			t.Errorf("UserStamp after another replica's bump = %d, want 3", s.UserStamp)
		}
	}},
	{"stored data holds token hashes, never tokens", func(t *testing.T, e *storeEnv) {
		var tokens []string
		_, tok := e.create("u1")
		tokens = append(tokens, tok)
		for range 3 {
			e.clock.Add(time.Second)
			_, tok = e.rotate(tok)
			tokens = append(tokens, tok)
		}
		_, sib := e.rotate(tokens[len(tokens)-2]) // a sibling is recorded too
		tokens = append(tokens, sib)
		dump := strings.Join(e.inst.dump(), "\n")
		if dump == "" {
			t.Fatalf("dump is empty: the inspection reads nothing")
		}
		for _, tok := range tokens {
			raw, _ := b64.DecodeString(tok)
			if strings.Contains(dump, tok) || strings.Contains(dump, string(raw)) {
				t.Errorf("a refresh token is stored in clear")
			}
			h, _ := parseToken(tok)
			if !strings.Contains(dump, b64.EncodeToString(h[:])) && !strings.Contains(dump, string(h[:])) {
				t.Errorf("the hash of an issued token is not recorded")
			}
		}
	}},
	{"client strings are cleaned and bounded", func(t *testing.T, e *storeEnv) {
		ua := "Mozilla\x00/5.0 \xff\xfe" + strings.Repeat("é", 600)
		s, _, err := e.s.Create(e.ctx, NewSession{UserID: "u1", UserAgent: ua, IP: strings.Repeat("1", 100)}, e.clock.Now())
		if err != nil {
			t.Fatalf("Create with a hostile user agent: %v", err)
		}
		got, err := e.s.Get(e.ctx, s.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.UserAgent != s.UserAgent || len(got.UserAgent) > MaxUserAgentLen || len(got.IP) > MaxIPLen ||
			!strings.HasPrefix(got.UserAgent, "Mozilla/5.0 éé") || strings.ContainsRune(got.UserAgent, 0) {
			t.Errorf("stored user agent %q (len %d), ip len %d", got.UserAgent, len(got.UserAgent), len(got.IP))
		}
	}},
	{"create needs a user", func(t *testing.T, e *storeEnv) {
		if _, _, err := e.s.Create(e.ctx, NewSession{}, e.clock.Now()); err == nil {
			t.Errorf("Create without a user id succeeded")
		}
	}},
	{"ping", func(t *testing.T, e *storeEnv) {
		if err := e.s.Ping(e.ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	}},
}

func TestSQLStoreCleanup(t *testing.T) {
	for _, b := range sqlBackends() {
		t.Run(b.name, func(t *testing.T) {
			e := newStoreEnv(t, b)
			store := e.s.(*SQLStore)
			live, liveTok := e.create("u1")
			revoked, _ := e.create("u1")
			reused, reusedTok := e.create("u2")
			e.clock.Add(time.Minute)
			e.rotate(reusedTok)
			e.clock.Add(testGrace + time.Second)
			e.rotateErr(reusedTok, ErrReused)
			if err := e.s.Revoke(e.ctx, revoked.ID); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			e.clock.Add(testIdle / 2)
			e.rotate(liveTok) // keeps the session live across the cleanup
			idle, _ := e.create("u3")
			e.clock.Add(testIdle/2 + time.Second) // "idle" is still live; nothing else moved
			n, err := store.Cleanup(e.ctx, e.clock.Now())
			if err != nil {
				t.Fatalf("Cleanup: %v", err)
			}
			if n != 2 {
				t.Errorf("Cleanup deleted %d sessions, want 2 (revoked, reused)", n)
			}
			e.clock.Add(testIdle)
			if n, err = store.Cleanup(e.ctx, e.clock.Now()); err != nil || n != 2 {
				t.Errorf("second Cleanup = %d, %v; want 2 (both idle)", n, err)
			}
			var sessions, tokens int
			if err := store.db.QueryRow(`SELECT count(*) FROM sessions`).Scan(&sessions); err != nil {
				t.Fatal(err)
			}
			if err := store.db.QueryRow(`SELECT count(*) FROM refresh_tokens`).Scan(&tokens); err != nil {
				t.Fatal(err)
			}
			if sessions != 0 || tokens != 0 {
				t.Errorf("after cleanup: %d sessions, %d tokens left; want none", sessions, tokens)
			}
			_, _, _ = live, reused, idle
		})
	}
}
