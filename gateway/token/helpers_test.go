package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/gateway/gateway/scope"
)

const (
	testIssuer   = "https://gw.example"
	testAudience = "gateway"
)

var allAlgs = []string{EdDSA, ES256, RS256, HS256}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testSigners caches generated keys (RSA generation is slow): the i-th key
// of an algorithm is the same in every test of a run.
var testSigners struct {
	sync.Mutex
	m map[string]crypto.Signer
}

func testSigner(t testing.TB, alg string, i int) crypto.Signer {
	t.Helper()
	testSigners.Lock()
	defer testSigners.Unlock()
	if testSigners.m == nil {
		testSigners.m = map[string]crypto.Signer{}
	}
	name := fmt.Sprintf("%s/%d", alg, i)
	if s, ok := testSigners.m[name]; ok {
		return s
	}
	var s crypto.Signer
	var err error
	switch alg {
	case "P-384":
		s, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "RSA-1024":
		s, err = rsa.GenerateKey(rand.Reader, 1024)
	default:
		s, err = generateKey(alg)
	}
	if err != nil {
		t.Fatalf("generating %s key: %v", name, err)
	}
	testSigners.m[name] = s
	return s
}

// writeKeyFile writes s as a PKCS#8 PEM file, mode 0600.
func writeKeyFile(t testing.TB, dir, name string, s crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(s)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatalf("write key: %v", err)
	}
	return path
}

// newTestSet returns a one-key set for alg (the 0th test key).
func newTestSet(t testing.TB, alg string) *KeySet {
	t.Helper()
	if alg == HS256 {
		ks, err := NewHMACKeySet([]byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatalf("NewHMACKeySet: %v", err)
		}
		return ks
	}
	dir := t.TempDir()
	writeKeyFile(t, dir, "a.pem", testSigner(t, alg, 0))
	ks, _, err := Load(dir, alg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return ks
}

func testOptions(clock *fakeClock) Options {
	return Options{Issuer: testIssuer, Audience: testAudience, AccessTTL: 15 * time.Minute, Now: clock.Now}
}

func newPair(t testing.TB, ks *KeySet, o Options) (*Issuer, *Verifier) {
	t.Helper()
	iss, err := NewIssuer(ks, o)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	ver, err := NewVerifier(ks, o)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return iss, ver
}

func testIdentity() *scope.Identity {
	return &scope.Identity{
		UserID:    "5b1f7c2e-9d4a-4c1e-8f3b-2a6d9e0c7b11",
		Email:     "ada@example.com",
		Roles:     []string{"user", "editor"},
		SessionID: "sess-7f3a",
	}
}

// accessFor is the IssueAccess input for id.
func accessFor(id *scope.Identity) AccessClaims {
	return AccessClaims{Subject: id.UserID, SessionID: id.SessionID, Email: id.Email, Roles: id.Roles}
}

func issue(t testing.TB, iss *Issuer, id *scope.Identity) string {
	t.Helper()
	tok, _, err := iss.IssueAccess(accessFor(id))
	if err != nil {
		t.Fatalf("IssueAccess: %v", err)
	}
	return tok
}

// signRaw builds a compact JWS with full control of header and claims,
// signed by method with key (nil method: unsigned, empty signature).
func signRaw(t testing.TB, header, claims map[string]any, method jwt.SigningMethod, key any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatalf("marshal header: %v", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("marshal claims: %v", err)
	}
	input := b64(h) + "." + b64(c)
	if method == nil {
		return input + "."
	}
	sig, err := method.Sign(input, key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return input + "." + b64(sig)
}

// goodHeader and goodClaims are what IssueAccess writes; tests change one
// thing at a time.
func goodHeader(ks *KeySet) map[string]any {
	return map[string]any{"alg": ks.Algorithm(), "typ": "at+jwt", "kid": ks.SigningKeyID()}
}

func goodClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss":   testIssuer,
		"aud":   testAudience,
		"sub":   "user-1",
		"sid":   "sess-1",
		"jti":   "jti-1",
		"iat":   now.Unix(),
		"exp":   now.Add(10 * time.Minute).Unix(),
		"roles": []string{"user"},
		"email": "u@example.com",
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func without(m map[string]any, keys ...string) map[string]any {
	out := with(m)
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// decodePart returns the JSON object of a token's header (0) or payload (1).
func decodePart(t testing.TB, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("decode part %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("unmarshal part %d: %v", i, err)
	}
	return m
}

func publicPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatalf("marshal public key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func rawPublic(t testing.TB, s crypto.Signer) []byte {
	t.Helper()
	switch pub := s.Public().(type) {
	case ed25519.PublicKey:
		return pub
	default:
		t.Fatalf("rawPublic: %T", pub)
		return nil
	}
}

// resigner is a verifier, a genuine EdDSA token it accepts, and the key
// that signed it, for tests of the checks behind the signature: they alter
// the token's header or claims and sign the result again, so that only
// the alteration can make the verifier refuse it.
type resigner struct {
	clock  *fakeClock
	ks     *KeySet
	ver    *Verifier
	parts  []string // the genuine token's base64url header, claims, signature
	signer crypto.Signer
}

func newResigner(t testing.TB) *resigner {
	t.Helper()
	r := &resigner{clock: newFakeClock(), ks: newTestSet(t, EdDSA)}
	var iss *Issuer
	iss, r.ver = newPair(t, r.ks, testOptions(r.clock))
	r.parts = strings.Split(issue(t, iss, testIdentity()), ".")
	r.signer = testSigner(t, EdDSA, 0)
	return r
}

// sign returns the token of header and claims (raw JSON bytes), signed with
// the genuine key.
func (r *resigner) sign(t testing.TB, header, claims []byte) string {
	t.Helper()
	in := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sig, err := r.signer.Sign(nil, []byte(in), crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}
