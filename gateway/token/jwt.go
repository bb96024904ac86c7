package token

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/gateway/gateway/scope"
)

const (
	// DefaultAccessTTL is the access-token lifetime when Options.AccessTTL
	// is zero (the configuration default of tokens.access_ttl).
	DefaultAccessTTL = 15 * time.Minute
	// MaxLeeway is the largest clock skew tolerated on exp, nbf and iat
	// (SPEC section 5), and the default.
	MaxLeeway = 30 * time.Second
	// MaxTokenLength is the longest input Verify decodes. A gateway token
	// is under 1 KiB (RS256 with a dozen roles); a browser keeps at most
	// 4 KiB in a cookie.
	MaxTokenLength = 8 << 10

	// accessTokenType is the typ of an access token (RFC 9068 section 2.1).
	accessTokenType = "at+jwt"
)

var (
	// ErrTokenInvalid is every verification failure other than expiry: bad
	// format, algorithm, kid, type, signature, issuer, audience, a missing
	// claim, a time in the future. It wraps the cause.
	ErrTokenInvalid = errors.New("token: invalid token")
	// ErrTokenExpired means the token is genuine and would be valid, but its
	// exp has passed (by more than the leeway). It wraps the cause.
	ErrTokenExpired = errors.New("token: token expired")
)

var (
	errNoKeySet = errors.New("token: no key set")
	// errLifetime is the cause of ErrTokenExpired for a token that lives
	// longer than the configured access TTL.
	errLifetime = errors.New("lifetime (exp - iat) exceeds the configured access TTL")
)

// Options configure NewIssuer and NewVerifier. Build both from the same
// values (config.Tokens) so that what one issues the other accepts.
type Options struct {
	// Issuer is the iss claim written and required. Must not be empty.
	Issuer string
	// Audience is the aud claim written and required. Must not be empty.
	Audience string
	// AccessTTL is the access-token lifetime; zero means DefaultAccessTTL.
	// The Issuer gives its tokens this lifetime; the Verifier refuses, as
	// expired, a token whose exp - iat is longer (see Verify).
	AccessTTL time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat; zero means
	// MaxLeeway (30 s), more than MaxLeeway is refused. Used by the Verifier
	// only.
	Leeway time.Duration
	// CacheSize bounds the Verifier's verified-token cache (entries); zero
	// means DefaultCacheSize. See VerifyCached.
	CacheSize int
	// Now is the clock; nil means time.Now. Tests pass a fake one.
	Now func() time.Time
}

func (o *Options) normalize() error {
	var problems []string
	if o.Issuer == "" {
		problems = append(problems, "issuer must not be empty")
	}
	if o.Audience == "" {
		problems = append(problems, "audience must not be empty")
	}
	switch {
	case o.AccessTTL == 0:
		o.AccessTTL = DefaultAccessTTL
	case o.AccessTTL < time.Second:
		problems = append(problems, fmt.Sprintf("access TTL %v is under 1s", o.AccessTTL))
	}
	switch {
	case o.Leeway == 0:
		o.Leeway = MaxLeeway
	case o.Leeway < 0 || o.Leeway > MaxLeeway:
		problems = append(problems, fmt.Sprintf("leeway %v is outside (0, %v]", o.Leeway, MaxLeeway))
	}
	switch {
	case o.CacheSize == 0:
		o.CacheSize = DefaultCacheSize
	case o.CacheSize < 0:
		problems = append(problems, "cache size must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(problems) > 0 {
		return fmt.Errorf("token: options: %s", strings.Join(problems, "; "))
	}
	return nil
}

// AccessClaims is what an access token says: the input of IssueAccess and
// the result of Verify. Values returned by Verify and VerifyCached may be
// shared between callers (the cache hands out one value per token): treat
// them, Roles included, as read-only.
type AccessClaims struct {
	// Subject is the user id (sub).
	Subject string
	// SessionID is the refresh session the token belongs to (sid).
	SessionID string
	Email     string
	Roles     []string
	// Stamp is the user's security stamp when the token was issued (private
	// claim "stamp"; absent means 0). The session package's revocation view
	// refuses a token whose stamp is older than the user's current one.
	Stamp int64

	// Set by IssueAccess, ignored in its input.

	// ID is the token's unique id (jti).
	ID       string
	IssuedAt time.Time
	// ExpiresAt is the token's exp. In IssueAccess's input, when not
	// zero, it is the latest the token may expire (its session's end):
	// see IssueAccess.
	ExpiresAt time.Time
}

// Identity returns the identity the gateway vouches for. Its Roles share
// the claims' backing array: do not modify them.
func (c *AccessClaims) Identity() *scope.Identity {
	return &scope.Identity{UserID: c.Subject, Email: c.Email, Roles: c.Roles, SessionID: c.SessionID}
}

// accessWire is the JSON payload of an access token.
type accessWire struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	Roles     []string `json:"roles"`
	Email     string   `json:"email"`
	Stamp     int64    `json:"stamp,omitempty"`
}

// UnmarshalJSON refuses time claims that are not JSON numbers. RFC 7519
// section 2 defines a NumericDate as a JSON numeric value, but
// jwt.NumericDate decodes through json.Number, which also takes a string of
// digits ("exp":"9999999999"): a token that another verifier reads
// differently, or refuses, must not pass here (issue 7, found by the
// security suite's "exp as a string" case and FuzzVerifySigned).
func (w *accessWire) UnmarshalJSON(b []byte) error {
	var times struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(b, &times); err != nil {
		return err
	}
	for _, raw := range []json.RawMessage{times.Exp, times.Nbf, times.Iat} {
		if len(raw) > 0 && raw[0] == '"' {
			return errors.New("a time claim is a string, not a NumericDate")
		}
	}
	type plain accessWire // without this method
	return json.Unmarshal(b, (*plain)(w))
}

// Issuer signs access tokens with the KeySet's first key. It is safe for
// concurrent use.
type Issuer struct {
	ks       *KeySet
	issuer   string
	audience jwt.ClaimStrings
	ttl      time.Duration
	now      func() time.Time
}

// NewIssuer returns an Issuer for ks.
func NewIssuer(ks *KeySet, o Options) (*Issuer, error) {
	if ks == nil {
		return nil, errNoKeySet
	}
	if err := o.normalize(); err != nil {
		return nil, err
	}
	return &Issuer{ks: ks, issuer: o.Issuer, audience: jwt.ClaimStrings{o.Audience}, ttl: o.AccessTTL, now: o.Now}, nil
}

// IssueAccess returns a signed access token for c (Subject, SessionID,
// Email, Roles, Stamp) and its expiry: header typ "at+jwt", kid, the set's
// algorithm; claims iss, aud, sub, exp, iat, jti (128 random bits), sid,
// roles, email, and stamp unless 0. Subject and SessionID must not be empty:
// without a sid a token could not be revoked with its session.
//
// The token lives AccessTTL, or less when c.ExpiresAt is set and earlier:
// exp is then c.ExpiresAt rounded down to a second, so that a token never
// outlives the session it belongs to (a session that has ended is no
// longer found, hence no longer revoked, by "end every session").
func (i *Issuer) IssueAccess(c AccessClaims) (token string, expiresAt time.Time, err error) {
	if c.Subject == "" || c.SessionID == "" {
		return "", time.Time{}, errors.New("token: an access token needs a subject and a session id")
	}
	iat := i.now().Truncate(time.Second) // NumericDate has whole seconds
	exp := iat.Add(i.ttl)
	if limit := c.ExpiresAt.Truncate(time.Second); !c.ExpiresAt.IsZero() && limit.Before(exp) {
		exp = limit
	}
	claims := &accessWire{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   c.Subject,
			Audience:  i.audience,
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(iat),
			ID:        randomID(),
		},
		SessionID: c.SessionID,
		Roles:     nonNil(c.Roles),
		Email:     c.Email,
		Stamp:     c.Stamp,
	}
	token, err = i.ks.sign(accessTokenType, claims)
	if err != nil {
		return "", time.Time{}, err
	}
	return token, exp, nil
}

// sign makes a compact JWS with the set's signing key: alg, typ, kid.
func (ks *KeySet) sign(typ string, claims jwt.Claims) (string, error) {
	k := ks.signer()
	t := jwt.NewWithClaims(ks.method, claims)
	t.Header["typ"] = typ
	t.Header["kid"] = k.ID
	s, err := t.SignedString(k.sign)
	if err != nil {
		return "", fmt.Errorf("token: signing: %w", err)
	}
	return s, nil
}

// Verifier checks access tokens against a KeySet. It is safe for concurrent
// use.
type Verifier struct {
	ks     *KeySet
	parser *jwt.Parser
	cache  *boundedCache[*AccessClaims]
	now    func() time.Time
	// maxLifetime is Options.AccessTTL: the longest exp - iat accepted.
	maxLifetime time.Duration
	// onVerify, when set (tests only), is called on every full
	// verification, so that tests can count what the cache saved.
	onVerify func()
}

// NewVerifier returns a Verifier for ks. The accepted algorithm is the
// set's, whatever a token's header says.
func NewVerifier(ks *KeySet, o Options) (*Verifier, error) {
	if ks == nil {
		return nil, errNoKeySet
	}
	if err := o.normalize(); err != nil {
		return nil, err
	}
	v := &Verifier{ks: ks, cache: newBoundedCache[*AccessClaims](o.CacheSize), now: o.Now, maxLifetime: o.AccessTTL}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{ks.alg}),
		jwt.WithIssuer(o.Issuer),
		jwt.WithAudience(o.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(o.Leeway),
		jwt.WithTimeFunc(o.Now),
		// Zero padding bits only: one token has one spelling.
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

// Verify checks token completely (format, pinned algorithm, typ, kid,
// signature, iss, aud, exp, nbf, iat, that sub, sid and jti are present,
// and that exp - iat is at most the access TTL) and returns its claims.
// Errors are ErrTokenExpired or ErrTokenInvalid. See VerifyCached for the
// hot path.
func (v *Verifier) Verify(token string) (*AccessClaims, error) {
	if v.onVerify != nil {
		v.onVerify()
	}
	if err := checkShape(token); err != nil {
		return nil, failure(ErrTokenInvalid, err)
	}
	var w accessWire
	_, err := v.parser.ParseWithClaims(token, &w, v.keyFor)
	if err != nil && !onlyExpired(err) {
		return nil, failure(ErrTokenInvalid, err)
	}
	// The claims were decoded and the signature checked: an expired token
	// still has to be a well-formed one to be called merely expired.
	if cerr := w.checkRequired(); cerr != nil {
		return nil, failure(ErrTokenInvalid, cerr)
	}
	if err != nil {
		return nil, failure(ErrTokenExpired, err)
	}
	// A token that lives longer than the access TTL was issued before a
	// restart that lowered tokens.access_ttl. The revocation view keeps a
	// revocation for the current TTL (plus its leeway) only, so such a
	// token would outlive the record of its logout and work again. It is
	// answered as expired: the client refreshes (the refresh token is
	// checked against the session store) and gets a token of the current
	// lifetime.
	if w.ExpiresAt.Sub(w.IssuedAt.Time) > v.maxLifetime {
		return nil, failure(ErrTokenExpired, errLifetime)
	}
	return &AccessClaims{
		Subject:   w.Subject,
		SessionID: w.SessionID,
		Email:     w.Email,
		Roles:     w.Roles,
		Stamp:     w.Stamp,
		ID:        w.ID,
		IssuedAt:  w.IssuedAt.Time,
		ExpiresAt: w.ExpiresAt.Time,
	}, nil
}

// keyFor is the jwt.Keyfunc: it runs after the header is decoded and the
// algorithm matched the pinned one, before the signature is checked. It
// reads typ, crit and kid only; jku, x5u, jwk and x5c are never looked at,
// so a token cannot bring its own key (CVE-2018-0114 and kin).
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	if t.Method.Alg() != v.ks.alg { // already refused by WithValidMethods
		return nil, errors.New("algorithm is not the configured one")
	}
	typ, _ := t.Header["typ"].(string)
	// RFC 9068 section 4: "at+jwt", or with the "application/" prefix,
	// which media types compare case-insensitively (RFC 7515 section 4.1.9).
	if !strings.EqualFold(typ, accessTokenType) && !strings.EqualFold(typ, "application/"+accessTokenType) {
		return nil, errors.New(`typ is not "at+jwt"`)
	}
	// RFC 7515 section 4.1.11: extensions we do not understand are fatal.
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New("crit header is not supported")
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("kid is missing")
	}
	k, ok := v.ks.byID[kid]
	if !ok {
		// A removed key, another issuer's, or an attacker's: never fetched.
		return nil, errors.New("kid is not one of ours")
	}
	return k.verify, nil
}

// checkRequired requires the claims the parser does not: sub and sid (the
// revocation check looks them up), iat (revocation by time compares it) and
// jti (RFC 9068).
func (w *accessWire) checkRequired() error {
	var missing []string
	if w.Subject == "" {
		missing = append(missing, "sub")
	}
	if w.SessionID == "" {
		missing = append(missing, "sid")
	}
	if w.IssuedAt == nil {
		missing = append(missing, "iat")
	}
	if w.ID == "" {
		missing = append(missing, "jti")
	}
	if w.ExpiresAt == nil { // the parser requires it; belt and braces
		missing = append(missing, "exp")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing claims: %s", strings.Join(missing, ", "))
	}
	return nil
}

// checkShape refuses, before any decoding, what cannot be a compact JWS of
// ours: empty, longer than MaxTokenLength, a byte outside the base64url
// alphabet, or not exactly two dots.
func checkShape(token string) error {
	if token == "" {
		return errors.New("empty token")
	}
	if len(token) > MaxTokenLength {
		return fmt.Errorf("token longer than %d bytes", MaxTokenLength)
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			dots++
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return errors.New("token has a byte outside base64url")
		}
	}
	if dots != 2 {
		return errors.New("token is not three dot-separated parts")
	}
	return nil
}

// failure wraps cause under sentinel. The message is cut at maxCauseText
// bytes: a decoding error may quote a claim, and a claim is as long as the
// client likes.
func failure(sentinel, cause error) error {
	return fmt.Errorf("%w: %w", sentinel, boundedError{cause})
}

const maxCauseText = 200

type boundedError struct{ err error }

func (e boundedError) Error() string {
	s := e.err.Error()
	if len(s) > maxCauseText {
		s = strings.ToValidUTF8(s[:maxCauseText], "") + "…"
	}
	return s
}

func (e boundedError) Unwrap() error { return e.err }

// onlyExpired reports whether err, from the parser, says "expired" and
// nothing else, so that an expired token with a wrong issuer is invalid,
// not expired. Unknown causes count as something else.
func onlyExpired(err error) bool {
	expired := false
	var walk func(error) bool
	walk = func(e error) bool {
		switch e {
		case jwt.ErrTokenExpired:
			expired = true
			return true
		case jwt.ErrTokenInvalidClaims:
			return true
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				if !walk(inner) {
					return false
				}
			}
			return true
		case interface{ Unwrap() error }:
			return walk(u.Unwrap())
		default:
			return false
		}
	}
	return walk(err) && expired
}

// randomID is 128 random bits, base64url.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return b64(b[:])
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
