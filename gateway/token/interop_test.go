package token_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authgate/gateway/gateway/proxy"
	"github.com/authgate/gateway/gateway/scope"
	"github.com/authgate/gateway/gateway/token"
)

// The proxy takes the Asserter as its X-Auth-Assertion signer.
var _ proxy.AssertionSigner = (*token.Asserter)(nil)

// TestJWKSVerifiesWithStandardLibrary plays an independent verifier: it
// reads the published JWKS with encoding/json, rebuilds each key with the
// standard library alone and checks an access token's and an assertion's
// signature without golang-jwt. Node's jose does the same later in CI.
func TestJWKSVerifiesWithStandardLibrary(t *testing.T) {
	for _, alg := range []string{token.EdDSA, token.ES256, token.RS256} {
		t.Run(alg, func(t *testing.T) {
			ks, _, err := token.LoadOrGenerate(filepath.Join(t.TempDir(), "keys"), alg)
			if err != nil {
				t.Fatal(err)
			}
			iss, err := token.NewIssuer(ks, token.Options{Issuer: "https://gw.example", Audience: "gateway"})
			if err != nil {
				t.Fatal(err)
			}
			asserter, err := token.NewAsserter(ks, token.AssertionOptions{Issuer: "https://gw.example"})
			if err != nil {
				t.Fatal(err)
			}
			id := &scope.Identity{UserID: "u1", SessionID: "s1", Email: "a@example.com", Roles: []string{"user"}}
			access, _, err := iss.IssueAccess(token.AccessClaims{Subject: id.UserID, SessionID: id.SessionID, Email: id.Email, Roles: id.Roles, Stamp: 3})
			if err != nil {
				t.Fatal(err)
			}
			assertion, err := asserter.Assertion(id, "api")
			if err != nil {
				t.Fatal(err)
			}

			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal(ks.JWKS(), &set); err != nil {
				t.Fatalf("JWKS is not JSON: %v", err)
			}
			for name, tok := range map[string]string{"access token": access, "assertion": assertion} {
				header, input, sig := splitJWS(t, tok)
				var jwk map[string]string
				for _, k := range set.Keys {
					if k["kid"] == header["kid"] {
						jwk = k
					}
				}
				if jwk == nil {
					t.Fatalf("%s: kid %q not in the JWKS", name, header["kid"])
				}
				if jwk["alg"] != alg || jwk["use"] != "sig" || header["alg"] != alg {
					t.Errorf("%s: JWK alg/use %s/%s, header alg %s", name, jwk["alg"], jwk["use"], header["alg"])
				}
				if !verifyWithStdlib(t, jwk, input, sig) {
					t.Errorf("%s: signature does not verify with the published key", name)
				}
				if verifyWithStdlib(t, jwk, input+"x", sig) {
					t.Errorf("%s: a changed input verifies: the check proves nothing", name)
				}
			}
		})
	}
}

func splitJWS(t *testing.T, tok string) (map[string]string, string, []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var header map[string]string
	if err := json.Unmarshal(unb64(t, parts[0]), &header); err != nil {
		t.Fatalf("header: %v", err)
	}
	return header, parts[0] + "." + parts[1], unb64(t, parts[2])
}

func verifyWithStdlib(t *testing.T, jwk map[string]string, input string, sig []byte) bool {
	t.Helper()
	digest := sha256.Sum256([]byte(input))
	switch jwk["kty"] {
	case "OKP":
		if jwk["crv"] != "Ed25519" {
			t.Fatalf("crv = %s", jwk["crv"])
		}
		return ed25519.Verify(ed25519.PublicKey(unb64(t, jwk["x"])), []byte(input), sig)
	case "EC":
		if jwk["crv"] != "P-256" {
			t.Fatalf("crv = %s", jwk["crv"])
		}
		x, y := unb64(t, jwk["x"]), unb64(t, jwk["y"])
		if len(x) != 32 || len(y) != 32 || len(sig) != 64 {
			t.Fatalf("x %d, y %d, signature %d bytes; want 32, 32, 64", len(x), len(y), len(sig))
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			t.Fatalf("EC key: %v", err)
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, digest[:], r, s)
	case "RSA":
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(unb64(t, jwk["n"])), E: int(new(big.Int).SetBytes(unb64(t, jwk["e"])).Int64())}
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	default:
		t.Fatalf("kty = %s", jwk["kty"])
		return false
	}
}

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		t.Fatalf("base64url %q: %v", s, err)
	}
	return b
}
