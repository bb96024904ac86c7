package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			clock := newFakeClock()
			ks := newTestSet(t, alg)
			iss, ver := newPair(t, ks, testOptions(clock))
			id := testIdentity()

			in := accessFor(id)
			in.Stamp = 42
			tok, exp, err := iss.IssueAccess(in)
			if err != nil {
				t.Fatalf("IssueAccess: %v", err)
			}
			if want := clock.Now().Add(15 * time.Minute); !exp.Equal(want) {
				t.Errorf("expiresAt = %v, want %v", exp, want)
			}
			h := decodePart(t, tok, 0)
			if h["alg"] != alg || h["typ"] != "at+jwt" || h["kid"] != ks.SigningKeyID() || len(h) != 3 {
				t.Errorf("header = %v, want exactly alg %s, typ at+jwt, kid %s", h, alg, ks.SigningKeyID())
			}
			p := decodePart(t, tok, 1)
			for _, claim := range []string{"iss", "aud", "sub", "exp", "iat", "jti", "sid", "roles", "email", "stamp"} {
				if _, ok := p[claim]; !ok {
					t.Errorf("claim %s missing from %v", claim, p)
				}
			}
			if aud, _ := p["aud"].([]any); len(aud) != 1 || aud[0] != testAudience || p["iss"] != testIssuer {
				t.Errorf("iss/aud = %v/%v", p["iss"], p["aud"])
			}

			c, err := ver.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != id.UserID || c.SessionID != id.SessionID || c.Email != id.Email ||
				!slices.Equal(c.Roles, id.Roles) || c.Stamp != 42 || !c.ExpiresAt.Equal(exp) || !c.IssuedAt.Equal(clock.Now()) {
				t.Errorf("claims = %+v, identity %+v", c, id)
			}
			if b, err := b64Decode(c.ID); err != nil || len(b) != 16 {
				t.Errorf("jti %q is not 128 bits of base64url", c.ID)
			}
			if got := c.Identity(); got.UserID != id.UserID || got.SessionID != id.SessionID || got.Email != id.Email || !slices.Equal(got.Roles, id.Roles) {
				t.Errorf("Identity() = %+v", got)
			}
			if other := issue(t, iss, id); other == tok {
				t.Errorf("two tokens are equal: jti is not random")
			}
		})
	}
}

func b64Decode(s string) ([]byte, error) { return base64.RawURLEncoding.Strict().DecodeString(s) }

func TestIssueAccessNeedsSubjectAndSession(t *testing.T) {
	iss, _ := newPair(t, newTestSet(t, EdDSA), testOptions(newFakeClock()))
	for name, c := range map[string]AccessClaims{
		"empty":      {},
		"no subject": {SessionID: "s"},
		"no session": {Subject: "u"},
	} {
		if _, _, err := iss.IssueAccess(c); err == nil {
			t.Errorf("%s: IssueAccess succeeded", name)
		}
	}
}

// TestIssueAccessCappedByExpiresAt: an ExpiresAt in IssueAccess's input
// is the latest the token may expire (its session's end): the token
// expires at the earlier of that, rounded down to a second, and iat +
// AccessTTL, and the verifier refuses it once that has passed. Before,
// ExpiresAt was ignored and every token lived a full AccessTTL.
func TestIssueAccessCappedByExpiresAt(t *testing.T) {
	clock := newFakeClock() // a whole second
	now := clock.Now()
	for _, tc := range []struct {
		name    string
		limit   time.Time
		wantExp time.Time
	}{
		{"no limit", time.Time{}, now.Add(15 * time.Minute)},
		{"limit after the lifetime", now.Add(time.Hour), now.Add(15 * time.Minute)},
		{"limit at the lifetime", now.Add(15 * time.Minute), now.Add(15 * time.Minute)},
		{"limit within the lifetime", now.Add(2 * time.Second), now.Add(2 * time.Second)},
		{"limit between seconds: rounded down", now.Add(2*time.Second + 999*time.Millisecond), now.Add(2 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			o := testOptions(clock)
			o.Leeway = time.Second
			iss, ver := newPair(t, newTestSet(t, EdDSA), o)
			in := accessFor(testIdentity())
			in.ExpiresAt = tc.limit
			tok, exp, err := iss.IssueAccess(in)
			if err != nil {
				t.Fatal(err)
			}
			if !exp.Equal(tc.wantExp) {
				t.Errorf("expiresAt = %v, want %v", exp, tc.wantExp)
			}
			c, err := ver.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !c.ExpiresAt.Equal(exp) {
				t.Errorf("exp claim %v, IssueAccess said %v", c.ExpiresAt, exp)
			}
			clock.Advance(tc.wantExp.Sub(now) + 2*time.Second) // past exp and the leeway
			if _, err := ver.Verify(tok); !errors.Is(err, ErrTokenExpired) {
				t.Errorf("Verify after exp: %v, want ErrTokenExpired", err)
			}
		})
	}
}

func TestIssueAccessZeroValues(t *testing.T) {
	clock := newFakeClock()
	iss, ver := newPair(t, newTestSet(t, EdDSA), testOptions(clock))
	id := testIdentity()
	id.Roles = nil
	tok := issue(t, iss, id)
	p := decodePart(t, tok, 1)
	if p["roles"] == nil {
		t.Errorf("roles = null, want []")
	}
	if _, ok := p["stamp"]; ok {
		t.Errorf("stamp 0 was written; absent means 0")
	}
	c, err := ver.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Stamp != 0 || len(c.Roles) != 0 {
		t.Errorf("claims = %+v", c)
	}
}

func TestOptionsRefused(t *testing.T) {
	ks := newTestSet(t, EdDSA)
	base := Options{Issuer: testIssuer, Audience: testAudience}
	for _, tc := range []struct {
		name string
		edit func(*Options)
	}{
		{"no issuer", func(o *Options) { o.Issuer = "" }},
		{"no audience", func(o *Options) { o.Audience = "" }},
		{"leeway over 30s", func(o *Options) { o.Leeway = 31 * time.Second }},
		{"negative leeway", func(o *Options) { o.Leeway = -time.Second }},
		{"access ttl under 1s", func(o *Options) { o.AccessTTL = 500 * time.Millisecond }},
		{"negative cache size", func(o *Options) { o.CacheSize = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			if _, err := NewVerifier(ks, o); err == nil {
				t.Errorf("NewVerifier accepted %+v", o)
			}
			if _, err := NewIssuer(ks, o); err == nil {
				t.Errorf("NewIssuer accepted %+v", o)
			}
		})
	}
	if _, err := NewVerifier(nil, base); err == nil {
		t.Errorf("NewVerifier accepted a nil key set")
	}
	if _, err := NewIssuer(nil, base); err == nil {
		t.Errorf("NewIssuer accepted a nil key set")
	}
	o := base
	if err := o.normalize(); err != nil || o.Leeway != MaxLeeway || o.AccessTTL != DefaultAccessTTL || o.CacheSize != DefaultCacheSize {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

// TestVerifyRefusesAttacks: every row must be ErrTokenInvalid, never
// ErrTokenExpired, never accepted.
func TestVerifyRefusesAttacks(t *testing.T) {
	clock := newFakeClock()
	now := clock.Now()
	opts := testOptions(clock)
	sets := map[string]*KeySet{EdDSA: newTestSet(t, EdDSA), ES256: newTestSet(t, ES256), RS256: newTestSet(t, RS256)}
	verifiers := map[string]*Verifier{}
	issuers := map[string]*Issuer{}
	for alg, ks := range sets {
		issuers[alg], verifiers[alg] = newPair(t, ks, opts)
	}
	ed := sets[EdDSA]
	edKey := testSigner(t, EdDSA, 0)
	hdr, cl := goodHeader(ed), goodClaims(now)
	valid := issue(t, issuers[EdDSA], testIdentity())
	parts := strings.Split(valid, ".")

	attacker := testSigner(t, EdDSA, 9)
	attackerKey, err := newKey(attacker, EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	attackerJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": attackerKey.jwk.X}
	rsaAttacker := testSigner(t, RS256, 9)

	// A payload changed after signing: roles become admin.
	tampered := func() string {
		p := decodePart(t, valid, 1)
		p["roles"] = []string{"admin"}
		forged := signRaw(t, hdr, p, nil, nil)
		fp := strings.Split(forged, ".")
		return fp[0] + "." + fp[1] + "." + parts[2]
	}()
	flippedSig := func() string {
		sig, err := b64Decode(parts[2])
		if err != nil {
			t.Fatal(err)
		}
		sig[10] ^= 0x01
		return parts[0] + "." + parts[1] + "." + b64(sig)
	}()
	assertion := func() string {
		a, err := NewAsserter(ed, AssertionOptions{Issuer: testIssuer, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		s, err := a.Assertion(testIdentity(), testAudience) // same aud as access tokens
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	selfSignedCert := func() string {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(der)
	}()

	for _, tc := range []struct {
		name  string
		set   string // which verifier; default EdDSA
		token string
	}{
		{name: "alg none", token: signRaw(t, with(hdr, "alg", "none"), cl, nil, nil)},
		{name: "alg NONE", token: signRaw(t, with(hdr, "alg", "NONE"), cl, nil, nil)},
		{name: "alg none with the real signature", token: func() string {
			f := strings.Split(signRaw(t, with(hdr, "alg", "none"), cl, nil, nil), ".")
			return f[0] + "." + f[1] + "." + parts[2]
		}()},
		{name: "no alg", token: signRaw(t, without(hdr, "alg"), cl, jwt.SigningMethodEdDSA, edKey)},
		{name: "HS256 keyed with the Ed25519 public key bytes", token: signRaw(t, with(hdr, "alg", "HS256"), cl, jwt.SigningMethodHS256, rawPublic(t, edKey))},
		{name: "HS256 keyed with the Ed25519 public key PEM", token: signRaw(t, with(hdr, "alg", "HS256"), cl, jwt.SigningMethodHS256, publicPEM(t, edKey.Public()))},
		{name: "HS256 keyed with the Ed25519 public JWK x", token: signRaw(t, with(hdr, "alg", "HS256"), cl, jwt.SigningMethodHS256, []byte(ed.signer().jwk.X))},
		{name: "HS256 keyed with the RSA public key PEM", set: RS256, token: signRaw(t, with(goodHeader(sets[RS256]), "alg", "HS256"), cl, jwt.SigningMethodHS256, publicPEM(t, testSigner(t, RS256, 0).Public()))},
		{name: "RS256 token where ES256 is configured", set: ES256, token: signRaw(t, with(goodHeader(sets[ES256]), "alg", "RS256"), cl, jwt.SigningMethodRS256, rsaAttacker)},
		{name: "ES256 token where EdDSA is configured", token: signRaw(t, with(hdr, "alg", "ES256"), cl, jwt.SigningMethodES256, testSigner(t, ES256, 0))},
		{name: "PS256 token where RS256 is configured", set: RS256, token: signRaw(t, with(goodHeader(sets[RS256]), "alg", "PS256"), cl, jwt.SigningMethodPS256, testSigner(t, RS256, 0))},
		{name: "unknown kid", token: signRaw(t, with(hdr, "kid", "not-a-key-of-ours"), cl, jwt.SigningMethodEdDSA, edKey)},
		{name: "missing kid", token: signRaw(t, without(hdr, "kid"), cl, jwt.SigningMethodEdDSA, edKey)},
		{name: "kid not a string", token: signRaw(t, with(hdr, "kid", 7), cl, jwt.SigningMethodEdDSA, edKey)},
		{name: "our kid, attacker's signature", token: signRaw(t, hdr, cl, jwt.SigningMethodEdDSA, attacker)},
		{name: "signed by a key the set does not hold (removed)", token: signRaw(t, with(hdr, "kid", attackerKey.ID), cl, jwt.SigningMethodEdDSA, attacker)},
		{name: "attacker key embedded in jwk, its kid", token: signRaw(t, with(hdr, "kid", attackerKey.ID, "jwk", attackerJWK), cl, jwt.SigningMethodEdDSA, attacker)},
		{name: "attacker key embedded in jwk, our kid", token: signRaw(t, with(hdr, "jwk", attackerJWK), cl, jwt.SigningMethodEdDSA, attacker)},
		{name: "attacker certificate in x5c", set: ES256, token: signRaw(t, with(goodHeader(sets[ES256]), "kid", "attacker", "x5c", []string{selfSignedCert}), cl, jwt.SigningMethodES256, testSigner(t, ES256, 9))},
		{name: "tampered payload", token: tampered},
		{name: "tampered signature", token: flippedSig},
		{name: "signature of another token", token: parts[0] + "." + parts[1] + "." + strings.Split(issue(t, issuers[EdDSA], testIdentity()), ".")[2]},
		{name: "truncated signature", token: parts[0] + "." + parts[1] + "." + parts[2][:20]},
		{name: "empty signature", token: parts[0] + "." + parts[1] + "."},
		{name: "wrong iss", token: signRaw(t, hdr, with(cl, "iss", "https://evil.example"), jwt.SigningMethodEdDSA, edKey)},
		{name: "missing iss", token: signRaw(t, hdr, without(cl, "iss"), jwt.SigningMethodEdDSA, edKey)},
		{name: "wrong aud", token: signRaw(t, hdr, with(cl, "aud", "billing"), jwt.SigningMethodEdDSA, edKey)},
		{name: "aud list without ours", token: signRaw(t, hdr, with(cl, "aud", []string{"billing", "web"}), jwt.SigningMethodEdDSA, edKey)},
		{name: "missing aud", token: signRaw(t, hdr, without(cl, "aud"), jwt.SigningMethodEdDSA, edKey)},
		{name: "typ JWT", token: signRaw(t, with(hdr, "typ", "JWT"), cl, jwt.SigningMethodEdDSA, edKey)},
		{name: "missing typ", token: signRaw(t, without(hdr, "typ"), cl, jwt.SigningMethodEdDSA, edKey)},
		{name: "typ with a space", token: signRaw(t, with(hdr, "typ", "at+jwt "), cl, jwt.SigningMethodEdDSA, edKey)},
		{name: "crit header", token: signRaw(t, with(hdr, "crit", []string{"exp"}), cl, jwt.SigningMethodEdDSA, edKey)},
		{name: "missing exp", token: signRaw(t, hdr, without(cl, "exp"), jwt.SigningMethodEdDSA, edKey)},
		{name: "exp not a number", token: signRaw(t, hdr, with(cl, "exp", "tomorrow"), jwt.SigningMethodEdDSA, edKey)},
		{name: "long claim that the decoder quotes", token: signRaw(t, hdr, with(cl, "exp", strings.Repeat("x", 5000)), jwt.SigningMethodEdDSA, edKey)},
		{name: "iat in the future beyond leeway", token: signRaw(t, hdr, with(cl, "iat", now.Add(MaxLeeway+5*time.Second).Unix()), jwt.SigningMethodEdDSA, edKey)},
		{name: "nbf in the future", token: signRaw(t, hdr, with(cl, "nbf", now.Add(time.Hour).Unix()), jwt.SigningMethodEdDSA, edKey)},
		{name: "nbf in the future beyond leeway", token: signRaw(t, hdr, with(cl, "nbf", now.Add(MaxLeeway+5*time.Second).Unix()), jwt.SigningMethodEdDSA, edKey)},
		{name: "missing iat", token: signRaw(t, hdr, without(cl, "iat"), jwt.SigningMethodEdDSA, edKey)},
		{name: "missing sub", token: signRaw(t, hdr, without(cl, "sub"), jwt.SigningMethodEdDSA, edKey)},
		{name: "missing sid", token: signRaw(t, hdr, without(cl, "sid"), jwt.SigningMethodEdDSA, edKey)},
		{name: "missing jti", token: signRaw(t, hdr, without(cl, "jti"), jwt.SigningMethodEdDSA, edKey)},
		{name: "expired and wrong iss", token: signRaw(t, hdr, with(cl, "iss", "https://evil.example", "exp", now.Add(-time.Hour).Unix()), jwt.SigningMethodEdDSA, edKey)},
		{name: "expired and missing sid", token: signRaw(t, hdr, without(with(cl, "exp", now.Add(-time.Hour).Unix()), "sid"), jwt.SigningMethodEdDSA, edKey)},
		{name: "expired and attacker-signed", token: signRaw(t, hdr, with(cl, "exp", now.Add(-time.Hour).Unix()), jwt.SigningMethodEdDSA, attacker)},
		{name: "X-Auth-Assertion presented as an access token", token: assertion},
		{name: "header is not an object", token: b64([]byte(`[]`)) + "." + parts[1] + "." + parts[2]},
		{name: "payload is not JSON", token: parts[0] + "." + b64([]byte("not json")) + "." + parts[2]},
		{name: "padded base64", token: parts[0] + "=." + parts[1] + "." + parts[2]},
		{name: "non-canonical base64 (padding bits set)", token: parts[0] + "." + parts[1] + "." + flipPadBits(parts[2])},
		{name: "trailing newline", token: valid + "\n"},
		{name: "leading space", token: " " + valid},
		{name: "Bearer prefix left on", token: "Bearer " + valid},
		{name: "four parts", token: valid + ".x"},
		{name: "JWE-shaped (five parts)", token: "a.b.c.d.e"},
		{name: "empty", token: ""},
		{name: "one dot", token: "."},
		{name: "two dots", token: ".."},
		{name: "three dots", token: "..."},
		{name: "garbage", token: "garbage"},
		{name: "garbage with dots", token: "a.b.c"},
		{name: "unicode", token: "é.é.é"},
		{name: "NUL bytes", token: "\x00.\x00.\x00"},
		{name: "huge (1 MiB)", token: parts[0] + "." + strings.Repeat("A", 1<<20) + "." + parts[2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := tc.set
			if set == "" {
				set = EdDSA
			}
			for name, verify := range map[string]func(string) (*AccessClaims, error){
				"Verify": verifiers[set].Verify, "VerifyCached": verifiers[set].VerifyCached,
			} {
				c, err := verify(tc.token)
				if err == nil {
					t.Fatalf("%s accepted the token: %+v", name, c)
				}
				if !errors.Is(err, ErrTokenInvalid) || errors.Is(err, ErrTokenExpired) {
					t.Errorf("%s: err = %v, want ErrTokenInvalid only", name, err)
				}
				if c != nil {
					t.Errorf("%s returned claims with an error", name)
				}
				if len(err.Error()) > len("token: invalid token: ")+maxCauseText+len("…") {
					t.Errorf("%s: error message of %d bytes: client input is not bounded in logs", name, len(err.Error()))
				}
				t.Logf("%s: %v", name, err)
			}
		})
	}
	// The valid token the rows were derived from does verify: the rows fail
	// for their own reason, not for a broken fixture.
	if _, err := verifiers[EdDSA].Verify(valid); err != nil {
		t.Fatalf("fixture token: %v", err)
	}
	if _, err := verifiers[EdDSA].Verify(signRaw(t, hdr, cl, jwt.SigningMethodEdDSA, edKey)); err != nil {
		t.Fatalf("fixture claims: %v", err)
	}
}

// flipPadBits changes the unused low bits of the last base64url character:
// the same bytes, another spelling, which strict decoding refuses.
func flipPadBits(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last^1])
}

// TestVerifyAcceptsMediaTypeSpelling: RFC 9068 allows the full media type,
// compared case-insensitively.
func TestVerifyAcceptsTypSpellings(t *testing.T) {
	clock := newFakeClock()
	ks := newTestSet(t, EdDSA)
	_, ver := newPair(t, ks, testOptions(clock))
	for _, typ := range []string{"at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"} {
		tok := signRaw(t, with(goodHeader(ks), "typ", typ), goodClaims(clock.Now()), jwt.SigningMethodEdDSA, testSigner(t, EdDSA, 0))
		if _, err := ver.Verify(tok); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
}

// TestVerifyIgnoresKeyURLs: jku and x5u are never fetched, even when the
// token is otherwise ours.
func TestVerifyIgnoresKeyURLs(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"keys":[]}`))
	}))
	defer srv.Close()

	clock := newFakeClock()
	ks := newTestSet(t, EdDSA)
	_, ver := newPair(t, ks, testOptions(clock))
	attacker := testSigner(t, EdDSA, 9)
	attackerKey, err := newKey(attacker, EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	cl := goodClaims(clock.Now())
	for _, field := range []string{"jku", "x5u"} {
		t.Run(field, func(t *testing.T) {
			evil := signRaw(t, with(goodHeader(ks), field, srv.URL+"/jwks.json", "kid", attackerKey.ID), cl, jwt.SigningMethodEdDSA, attacker)
			if _, err := ver.Verify(evil); !errors.Is(err, ErrTokenInvalid) {
				t.Errorf("attacker token with %s: err = %v, want ErrTokenInvalid", field, err)
			}
			// Signed by our key, the URL is simply not read.
			ours := signRaw(t, with(goodHeader(ks), field, srv.URL+"/jwks.json"), cl, jwt.SigningMethodEdDSA, testSigner(t, EdDSA, 0))
			if _, err := ver.Verify(ours); err != nil {
				t.Errorf("our token with %s: %v", field, err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the verifier fetched a key URL %d times", n)
	}
}

func TestVerifyExpired(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			clock := newFakeClock()
			iss, ver := newPair(t, newTestSet(t, alg), testOptions(clock))
			tok := issue(t, iss, testIdentity())

			clock.Advance(15*time.Minute + MaxLeeway - time.Second) // inside the leeway
			if _, err := ver.Verify(tok); err != nil {
				t.Fatalf("within leeway: %v", err)
			}
			clock.Advance(2 * time.Second)
			c, err := ver.Verify(tok)
			if !errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrTokenInvalid) || c != nil {
				t.Fatalf("after exp+leeway: claims %v, err = %v, want ErrTokenExpired only", c, err)
			}
			if !errors.Is(err, jwt.ErrTokenExpired) {
				t.Errorf("the cause is not wrapped: %v", err)
			}
			if _, err := ver.VerifyCached(tok); !errors.Is(err, ErrTokenExpired) {
				t.Errorf("VerifyCached: err = %v, want ErrTokenExpired", err)
			}
		})
	}
}

func TestVerifyLeewayOnIatAndNbf(t *testing.T) {
	clock := newFakeClock()
	ks := newTestSet(t, EdDSA)
	o := testOptions(clock)
	o.Leeway = 5 * time.Second
	_, ver := newPair(t, ks, o)
	now := clock.Now()
	key := testSigner(t, EdDSA, 0)
	for _, tc := range []struct {
		name string
		skew time.Duration
		ok   bool
	}{
		{"iat 4s ahead", 4 * time.Second, true},
		{"iat 6s ahead", 6 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, claim := range []string{"iat", "nbf"} {
				tok := signRaw(t, goodHeader(ks), with(goodClaims(now), claim, now.Add(tc.skew).Unix()), jwt.SigningMethodEdDSA, key)
				_, err := ver.Verify(tok)
				if tc.ok && err != nil {
					t.Errorf("%s: %v", claim, err)
				}
				if !tc.ok && !errors.Is(err, ErrTokenInvalid) {
					t.Errorf("%s: err = %v, want ErrTokenInvalid", claim, err)
				}
			}
		})
	}
}

// TestVerifyRefusesHugeTokenFast: a 1 MiB header value is refused by its
// length, before any decoding or hashing. Asserted by allocations, not by
// time: decoding 2 MiB of base64 would allocate megabytes, the length check
// allocates only its error.
func TestVerifyRefusesHugeTokenFast(t *testing.T) {
	_, ver := newPair(t, newTestSet(t, RS256), testOptions(newFakeClock()))
	huge := strings.Repeat("A", 1<<20) + "." + strings.Repeat("A", 1<<20) + ".AAAA"
	var err error
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	allocs := testing.AllocsPerRun(50, func() { _, err = ver.VerifyCached(huge) })
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("err = %v, want ErrTokenInvalid", err)
	}
	if allocs > 16 {
		t.Errorf("refusing a 2 MiB token made %.0f allocations per call, want a handful (no decoding)", allocs)
	}
	if bytes := (after.TotalAlloc - before.TotalAlloc) / 51; bytes > 4<<10 {
		t.Errorf("refusing a 2 MiB token allocated %d bytes per call, want well under the token's size", bytes)
	}
}

func TestOnlyExpired(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"expired", jwtClaimsError(jwt.ErrTokenExpired), true},
		{"expired and wrong issuer", jwtClaimsError(jwt.ErrTokenExpired, jwt.ErrTokenInvalidIssuer), false},
		{"wrong issuer", jwtClaimsError(jwt.ErrTokenInvalidIssuer), false},
		{"signature", jwt.ErrTokenSignatureInvalid, false},
		{"unknown", errors.New("boom"), false},
	} {
		if got := onlyExpired(tc.err); got != tc.want {
			t.Errorf("%s: onlyExpired = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// jwtClaimsError reproduces the parser's error shape for failed claims.
func jwtClaimsError(errs ...error) error {
	return errors.Join(jwt.ErrTokenInvalidClaims, errors.Join(errs...))
}

// FuzzVerify: whatever the input, Verify does not panic, fails with exactly
// one of the two sentinels, and accepts nothing but the genuine token.
func FuzzVerify(f *testing.F) {
	clock := newFakeClock()
	ks := newTestSet(f, EdDSA)
	iss, ver := newPair(f, ks, testOptions(clock))
	valid := issue(f, iss, testIdentity())
	f.Add(valid)
	for _, s := range []string{"", ".", "..", "...", "a.b.c", valid + ".", strings.ToUpper(valid), valid[:len(valid)-1]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ver.Verify(s)
		if err == nil {
			if s != valid {
				t.Fatalf("accepted a token that was never issued: %q", s)
			}
			if c == nil {
				t.Fatalf("nil claims without an error")
			}
			return
		}
		if errors.Is(err, ErrTokenInvalid) == errors.Is(err, ErrTokenExpired) {
			t.Fatalf("err = %v, want exactly one of ErrTokenInvalid, ErrTokenExpired", err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			iss, ver := newPair(b, newTestSet(b, alg), Options{Issuer: testIssuer, Audience: testAudience})
			tok := issue(b, iss, testIdentity())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ver.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIssue(b *testing.B) {
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			iss, _ := newPair(b, newTestSet(b, alg), Options{Issuer: testIssuer, Audience: testAudience})
			id := testIdentity()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := iss.IssueAccess(accessFor(id)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestVerifyRefusesLifetimeOverAccessTTL: a token issued under a longer
// access TTL than the verifier's (tokens.access_ttl lowered and the gateway
// restarted) is refused as expired, by Verify and VerifyCached alike, so
// that it cannot outlive the revocation view's window, which the current
// TTL sizes. Tokens of the current TTL, or a shorter one, pass.
func TestVerifyRefusesLifetimeOverAccessTTL(t *testing.T) {
	clock := newFakeClock()
	ks := newTestSet(t, EdDSA)
	short := testOptions(clock) // 15 minutes
	long := short
	long.AccessTTL = time.Hour
	shorter := short
	shorter.AccessTTL = 5 * time.Minute
	_, ver := newPair(t, ks, short)
	n := countVerifications(ver)

	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"issued under a longer TTL", long, false},
		{"issued under the same TTL", short, true},
		{"issued under a shorter TTL", shorter, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss, _ := newPair(t, ks, tc.o)
			tok := issue(t, iss, testIdentity())
			before := n.Load()
			for i := range 3 {
				c, err := ver.VerifyCached(tok)
				if tc.ok {
					if err != nil {
						t.Fatalf("VerifyCached #%d: %v", i, err)
					}
					continue
				}
				if !errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrTokenInvalid) || c != nil {
					t.Fatalf("VerifyCached #%d: claims %v, err %v; want ErrTokenExpired only", i, c, err)
				}
				if !errors.Is(err, errLifetime) {
					t.Errorf("the cause is not the lifetime: %v", err)
				}
			}
			// Refusals are not cached: each call verified again.
			if want := map[bool]int64{true: 1, false: 3}[tc.ok]; n.Load()-before != want {
				t.Errorf("%d full verifications, want %d", n.Load()-before, want)
			}
			if _, err := ver.Verify(tok); (err == nil) != tc.ok {
				t.Errorf("Verify: %v, want ok=%v", err, tc.ok)
			}
		})
	}

	// One second over, hand-made with the genuine key: refused.
	now := clock.Now()
	over := signRaw(t, goodHeader(ks), with(goodClaims(now), "exp", now.Add(15*time.Minute+time.Second).Unix()),
		jwt.SigningMethodEdDSA, testSigner(t, EdDSA, 0))
	if _, err := ver.VerifyCached(over); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("lifetime of TTL + 1s: %v, want ErrTokenExpired", err)
	}
}
