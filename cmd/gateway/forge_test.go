package main

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"maps"
	"testing"
)

// forger builds the parts of forged access tokens for the attack suites
// (TestTokenAttacks, TestSecurityTokens): headers and claims that differ from
// what the gateway signs by one change, and signers with the deployment's
// real key (ours), an attacker's key (theirs) or an HMAC key. One type keeps
// both suites forging the same way, so a control token built by either is
// exactly what the gateway would issue.
type forger struct {
	priv     ed25519.PrivateKey // the deployment's signing key
	kid      string             // its key id
	attacker ed25519.PrivateKey // a fresh key the gateway has never seen
	pub      ed25519.PublicKey  // priv's public key
	pubPEM   []byte             // pub as a PKIX PEM block, a classic HMAC-confusion key
	base     func() map[string]any
}

// newForger returns a forger signing with priv under kid. base returns the
// claims of a valid token; it is called for every token so that each gets
// fresh values (jti, iat) where the caller wants them.
func newForger(t testing.TB, priv ed25519.PrivateKey, kid string, base func() map[string]any) *forger {
	t.Helper()
	_, attacker, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &forger{
		priv: priv, kid: kid, attacker: attacker, pub: pub,
		pubPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		base:   base,
	}
}

// claims returns a valid token's claims changed by mod (nil: unchanged).
func (f *forger) claims(mod func(map[string]any)) map[string]any {
	c := maps.Clone(f.base())
	if mod != nil {
		mod(c)
	}
	return c
}

// header returns the gateway's access-token header changed by mod (nil:
// unchanged).
func (f *forger) header(mod func(map[string]any)) map[string]any {
	h := map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": f.kid}
	if mod != nil {
		mod(h)
	}
	return h
}

// ours signs with the deployment's real key.
func (f *forger) ours(in []byte) []byte { return ed25519.Sign(f.priv, in) }

// theirs signs with the attacker's key.
func (f *forger) theirs(in []byte) []byte { return ed25519.Sign(f.attacker, in) }

// attackerJWK is the attacker's public key as a JWK, for embedded-jwk attacks.
func (f *forger) attackerJWK() map[string]any {
	return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64url.EncodeToString(f.attacker.Public().(ed25519.PublicKey))}
}

// hmacWith returns a signer computing HMAC-SHA256 with key, for algorithm
// confusion attacks (HS256 keyed with public material).
func hmacWith(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}
