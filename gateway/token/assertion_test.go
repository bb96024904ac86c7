package token

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/gateway/gateway/scope"
)

func newAsserter(t testing.TB, ks *KeySet, clock *fakeClock, ttl time.Duration) *Asserter {
	t.Helper()
	a, err := NewAsserter(ks, AssertionOptions{Issuer: testIssuer, TTL: ttl, Now: clock.Now})
	if err != nil {
		t.Fatalf("NewAsserter: %v", err)
	}
	return a
}

func TestAssertionClaims(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			clock := newFakeClock()
			ks := newTestSet(t, alg)
			a := newAsserter(t, ks, clock, 0)
			id := testIdentity()
			tok, err := a.Assertion(id, "api")
			if err != nil {
				t.Fatalf("Assertion: %v", err)
			}
			h := decodePart(t, tok, 0)
			if h["typ"] != "JWT" || h["kid"] != ks.SigningKeyID() || h["alg"] != alg {
				t.Errorf("header = %v", h)
			}

			// What an upstream does: verify with the key, pinned alg, its own
			// name as audience.
			var got assertionWire
			_, err = jwt.NewParser(
				jwt.WithValidMethods([]string{alg}), jwt.WithAudience("api"), jwt.WithIssuer(testIssuer),
				jwt.WithExpirationRequired(), jwt.WithTimeFunc(clock.Now),
			).ParseWithClaims(tok, &got, func(*jwt.Token) (any, error) { return ks.signer().verify, nil })
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got.Subject != id.UserID || got.SessionID != id.SessionID || got.Email != id.Email || !slices.Equal(got.Roles, id.Roles) {
				t.Errorf("claims = %+v, want %+v", got, id)
			}
			if got.IssuedAt == nil || !got.IssuedAt.Equal(clock.Now()) {
				t.Errorf("iat = %v, want %v", got.IssuedAt, clock.Now())
			}
			if life := got.ExpiresAt.Sub(got.IssuedAt.Time); life != MaxAssertionTTL {
				t.Errorf("lifetime = %v, want %v", life, MaxAssertionTTL)
			}
			p := decodePart(t, tok, 1)
			for _, claim := range []string{"iss", "aud", "sub", "sid", "email", "roles", "iat", "exp"} {
				if _, ok := p[claim]; !ok {
					t.Errorf("claim %s missing", claim)
				}
			}
		})
	}
}

// TestAssertionIsNotAnAccessToken: even with the access tokens' audience,
// an assertion never passes Verify (its typ is JWT, not at+jwt).
func TestAssertionIsNotAnAccessToken(t *testing.T) {
	clock := newFakeClock()
	ks := newTestSet(t, EdDSA)
	_, ver := newPair(t, ks, testOptions(clock))
	tok, err := newAsserter(t, ks, clock, 0).Assertion(testIdentity(), testAudience)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ver.Verify(tok); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("Verify(assertion): err = %v, want ErrTokenInvalid", err)
	}
}

func TestAssertionCachedUntilHalfLife(t *testing.T) {
	clock := newFakeClock()
	ttl := time.Minute
	a := newAsserter(t, newTestSet(t, EdDSA), clock, ttl)
	id := testIdentity()
	first, err := a.Assertion(id, "api")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(ttl/2 - time.Second)
	if again, _ := a.Assertion(id, "api"); again != first {
		t.Errorf("a fresh assertion was not reused")
	}
	// An equal identity in another value hits the same entry.
	copyID := *id
	copyID.Roles = slices.Clone(id.Roles)
	if again, _ := a.Assertion(&copyID, "api"); again != first {
		t.Errorf("an equal identity missed the cache")
	}
	clock.Advance(time.Second) // half the lifetime is gone
	renewed, _ := a.Assertion(id, "api")
	if renewed == first {
		t.Fatalf("an assertion with half its lifetime gone was reused")
	}
	if iat := decodePart(t, renewed, 1)["iat"].(float64); int64(iat) != clock.Now().Unix() {
		t.Errorf("renewed iat = %v, want now", iat)
	}
}

func TestAssertionCacheKey(t *testing.T) {
	base := testIdentity()
	key := func(id *scope.Identity, aud string) [32]byte { return assertionKey(id, aud) }
	ref := key(base, "api")
	for _, tc := range []struct {
		name string
		edit func(*scope.Identity)
		aud  string
	}{
		{"audience", func(*scope.Identity) {}, "web"},
		{"user", func(id *scope.Identity) { id.UserID = "other" }, "api"},
		{"session", func(id *scope.Identity) { id.SessionID = "other" }, "api"},
		{"email", func(id *scope.Identity) { id.Email = "other@example.com" }, "api"},
		{"a role more", func(id *scope.Identity) { id.Roles = append(slices.Clone(id.Roles), "admin") }, "api"},
		{"role order", func(id *scope.Identity) { id.Roles = []string{"editor", "user"} }, "api"},
		{"roles joined", func(id *scope.Identity) { id.Roles = []string{"user,editor"} }, "api"},
		{"field boundary", func(id *scope.Identity) { id.Email, id.SessionID = id.SessionID+id.Email, "" }, "api"},
	} {
		id := *base
		tc.edit(&id)
		if key(&id, tc.aud) == ref {
			t.Errorf("%s: same cache key as the original identity", tc.name)
		}
	}
	if key(testIdentity(), "api") != ref {
		t.Errorf("equal identities give different keys")
	}
}

func TestAssertionRefusals(t *testing.T) {
	ks := newTestSet(t, EdDSA)
	for _, tc := range []struct {
		name string
		o    AssertionOptions
	}{
		{"no issuer", AssertionOptions{}},
		{"TTL over 5m", AssertionOptions{Issuer: testIssuer, TTL: 6 * time.Minute}},
		{"TTL under 1s", AssertionOptions{Issuer: testIssuer, TTL: 500 * time.Millisecond}},
		{"negative cache", AssertionOptions{Issuer: testIssuer, CacheSize: -1}},
	} {
		if _, err := NewAsserter(ks, tc.o); err == nil {
			t.Errorf("%s: NewAsserter accepted %+v", tc.name, tc.o)
		}
	}
	a := newAsserter(t, ks, newFakeClock(), 0)
	if _, err := a.Assertion(nil, "api"); err == nil {
		t.Errorf("nil identity accepted")
	}
	if _, err := a.Assertion(&scope.Identity{}, "api"); err == nil {
		t.Errorf("identity without user id accepted")
	}
	if _, err := a.Assertion(testIdentity(), ""); err == nil {
		t.Errorf("empty audience accepted")
	}
}

func TestAssertionCacheBounded(t *testing.T) {
	clock := newFakeClock()
	a, err := NewAsserter(newTestSet(t, HS256), AssertionOptions{Issuer: testIssuer, CacheSize: 64, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 * a.cache.capacity() {
		id := testIdentity()
		id.SessionID = string(rune('a'+i%26)) + time.Duration(i).String()
		if _, err := a.Assertion(id, "api"); err != nil {
			t.Fatal(err)
		}
	}
	if a.cache.len() > a.cache.capacity() {
		t.Fatalf("assertion cache holds %d > %d", a.cache.len(), a.cache.capacity())
	}
}

func BenchmarkAssertionCached(b *testing.B) {
	a, err := NewAsserter(newTestSet(b, EdDSA), AssertionOptions{Issuer: testIssuer})
	if err != nil {
		b.Fatal(err)
	}
	id := testIdentity()
	if _, err := a.Assertion(id, "api"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Assertion(id, "api"); err != nil {
			b.Fatal(err)
		}
	}
}
