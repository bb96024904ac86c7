package token

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/gateway/gateway/scope"
)

const (
	// MaxAssertionTTL is the longest X-Auth-Assertion lifetime (SPEC
	// section 6), and the default.
	MaxAssertionTTL = 5 * time.Minute
	// DefaultAssertionCacheSize is the assertion cache's capacity when
	// AssertionOptions.CacheSize is zero.
	DefaultAssertionCacheSize = 10_000
)

// AssertionOptions configure NewAsserter.
type AssertionOptions struct {
	// Issuer is the iss claim; the same as the access tokens'. Must not be
	// empty.
	Issuer string
	// TTL is the assertion lifetime (headers.assertion_ttl); zero means
	// MaxAssertionTTL, which is also the upper bound.
	TTL time.Duration
	// CacheSize bounds the signed-assertion cache (entries); zero means
	// DefaultAssertionCacheSize.
	CacheSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Asserter mints the X-Auth-Assertion JWT for upstreams: header typ "JWT",
// kid, the key set's algorithm; claims iss, aud (the upstream's name), sub,
// sid, email, roles, iat, exp. It signs with the same key as the access
// tokens, so an upstream verifies it with the gateway's JWKS (with HS256,
// only an upstream that holds the secret can). Its typ keeps it from ever
// passing as an access token.
//
// A signed assertion is reused for the same session, user, roles, email and
// upstream until less than half its lifetime is left, so the proxy does not
// sign on every request. It is safe for concurrent use and implements
// proxy.AssertionSigner.
type Asserter struct {
	ks     *KeySet
	issuer string
	ttl    time.Duration
	now    func() time.Time
	cache  *boundedCache[string]
}

// assertionWire is the JSON payload of an assertion.
type assertionWire struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	Email     string   `json:"email"`
	Roles     []string `json:"roles"`
}

// NewAsserter returns an Asserter signing with ks.
func NewAsserter(ks *KeySet, o AssertionOptions) (*Asserter, error) {
	switch {
	case ks == nil:
		return nil, errNoKeySet
	case o.Issuer == "":
		return nil, errors.New("token: assertion options: issuer must not be empty")
	case o.TTL == 0:
		o.TTL = MaxAssertionTTL
	case o.TTL < time.Second || o.TTL > MaxAssertionTTL:
		return nil, fmt.Errorf("token: assertion options: TTL %v is outside [1s, %v]", o.TTL, MaxAssertionTTL)
	}
	switch {
	case o.CacheSize == 0:
		o.CacheSize = DefaultAssertionCacheSize
	case o.CacheSize < 0:
		return nil, errors.New("token: assertion options: cache size must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Asserter{ks: ks, issuer: o.Issuer, ttl: o.TTL, now: o.Now, cache: newBoundedCache[string](o.CacheSize)}, nil
}

// Assertion returns the signed assertion of id for the upstream named
// audience, from the cache while it has at least half its lifetime left.
func (a *Asserter) Assertion(id *scope.Identity, audience string) (string, error) {
	if id == nil || id.UserID == "" {
		return "", errors.New("token: an assertion needs a user id")
	}
	if audience == "" {
		return "", errors.New("token: an assertion needs an audience")
	}
	k := assertionKey(id, audience)
	now := a.now()
	if tok, ok := a.cache.get(k, now); ok {
		return tok, nil
	}
	iat := now.Truncate(time.Second) // NumericDate has whole seconds
	claims := &assertionWire{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.issuer,
			Subject:   id.UserID,
			Audience:  jwt.ClaimStrings{audience},
			ExpiresAt: jwt.NewNumericDate(iat.Add(a.ttl)),
			IssuedAt:  jwt.NewNumericDate(iat),
		},
		SessionID: id.SessionID,
		Email:     id.Email,
		Roles:     nonNil(id.Roles),
	}
	tok, err := a.ks.sign("JWT", claims)
	if err != nil {
		return "", err
	}
	// Counted from iat, which is at or before now: at least half is left
	// whenever the cache answers.
	a.cache.put(k, tok, iat.Add(a.ttl/2), now)
	return tok, nil
}

// assertionKey digests every field that goes into an assertion, each
// length-prefixed so that no two identities share a key ("a,b" + "c" is not
// "a" + "b,c").
func assertionKey(id *scope.Identity, audience string) [32]byte {
	var buf [256]byte
	b := buf[:0]
	field := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	field(id.SessionID)
	field(id.UserID)
	field(id.Email)
	field(audience)
	b = binary.AppendUvarint(b, uint64(len(id.Roles)))
	for _, r := range id.Roles {
		field(r)
	}
	return sha256.Sum256(b)
}
