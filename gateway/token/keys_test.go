package token

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestThumbprintRFC7638 checks the canonical form and hash against the
// example of RFC 7638 section 3.1.
func TestThumbprintRFC7638(t *testing.T) {
	j := &jwk{
		Kty: "RSA",
		N: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn6" +
			"4tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n9" +
			"1CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
		E:   "AQAB",
		Kid: "2011-04-29", Alg: "RS256", Use: "sig", // not thumbprint members
	}
	if got, want := j.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("thumbprint = %s, want %s", got, want)
	}
}

// TestKeyIDIsThumbprintOfPublishedJWK: for every key type the kid is the
// thumbprint of the members the JWKS publishes.
func TestKeyIDIsThumbprintOfPublishedJWK(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256, RS256} {
		t.Run(alg, func(t *testing.T) {
			ks := newTestSet(t, alg)
			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal(ks.JWKS(), &set); err != nil {
				t.Fatalf("JWKS: %v", err)
			}
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS has %d keys", len(set.Keys))
			}
			m := set.Keys[0]
			j := &jwk{Kty: m["kty"], Crv: m["crv"], X: m["x"], Y: m["y"], N: m["n"], E: m["e"]}
			if m["kid"] != j.thumbprint() || m["kid"] != ks.SigningKeyID() {
				t.Errorf("kid %s, thumbprint of published members %s, signing kid %s", m["kid"], j.thumbprint(), ks.SigningKeyID())
			}
			if len(m["kid"]) != 43 {
				t.Errorf("kid %q is not a base64url SHA-256", m["kid"])
			}
		})
	}
}

func TestJWKSMembers(t *testing.T) {
	for _, tc := range []struct {
		alg     string
		members map[string]string // name -> fixed value, or "" for any non-empty
	}{
		{EdDSA, map[string]string{"kty": "OKP", "crv": "Ed25519", "x": "", "kid": "", "alg": "EdDSA", "use": "sig"}},
		{ES256, map[string]string{"kty": "EC", "crv": "P-256", "x": "", "y": "", "kid": "", "alg": "ES256", "use": "sig"}},
		{RS256, map[string]string{"kty": "RSA", "n": "", "e": "AQAB", "kid": "", "alg": "RS256", "use": "sig"}},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(newTestSet(t, tc.alg).JWKS(), &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("JWKS: %v, %d keys", err, len(set.Keys))
			}
			got := set.Keys[0]
			for name, want := range tc.members {
				v, _ := got[name].(string)
				if v == "" || (want != "" && v != want) {
					t.Errorf("%s = %q, want %q", name, v, want)
				}
			}
			if len(got) != len(tc.members) {
				t.Errorf("JWK has members %v, want exactly %v (never private ones)", got, tc.members)
			}
		})
	}
	t.Run("HS256 publishes nothing", func(t *testing.T) {
		if got := string(newTestSet(t, HS256).JWKS()); got != `{"keys":[]}` {
			t.Errorf("JWKS = %s", got)
		}
	})
	t.Run("callers get a copy", func(t *testing.T) {
		ks := newTestSet(t, EdDSA)
		b := ks.JWKS()
		b[0] = 'X'
		if ks.JWKS()[0] != '{' {
			t.Errorf("JWKS bytes were modified through a returned slice")
		}
	})
}

func TestLoadOrGenerate(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256, RS256} {
		t.Run(alg, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data", "keys") // missing
			ks, warnings, err := LoadOrGenerate(dir, alg)
			if err != nil {
				t.Fatalf("LoadOrGenerate: %v", err)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings on a fresh key: %v", warnings)
			}
			if ks.Algorithm() != alg {
				t.Errorf("algorithm = %s", ks.Algorithm())
			}
			files := pemFiles(t, dir)
			if len(files) != 1 || !strings.HasSuffix(files[0], "-"+strings.ToLower(alg)+".pem") {
				t.Fatalf("key files = %v", files)
			}
			if got := ks.Keys(); len(got) != 1 || got[0].File != files[0] || got[0].ID != ks.SigningKeyID() {
				t.Errorf("Keys() = %+v", got)
			}
			assertMode(t, dir, 0o700)
			assertMode(t, filepath.Join(dir, files[0]), 0o600)
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("dir holds %d entries, want the key only (no temporary file left)", len(entries))
			}

			again, _, err := LoadOrGenerate(dir, alg)
			if err != nil {
				t.Fatalf("second LoadOrGenerate: %v", err)
			}
			if again.SigningKeyID() != ks.SigningKeyID() || len(pemFiles(t, dir)) != 1 {
				t.Errorf("second call did not load the same single key: %s vs %s", again.SigningKeyID(), ks.SigningKeyID())
			}

			other := map[string]string{EdDSA: ES256, ES256: RS256, RS256: EdDSA}[alg]
			_, _, err = LoadOrGenerate(dir, other)
			if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), files[0]) {
				t.Errorf("loading a %s key for %s: err = %v, want ErrKeyMismatch naming %s", alg, other, err, files[0])
			}
			if len(pemFiles(t, dir)) != 1 {
				t.Errorf("a mismatch generated a new key")
			}
		})
	}
}

func TestLoadOrGenerateIgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"README.txt", ".hidden.pem", "key.pem.bak"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir, EdDSA); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("Load of a dir without *.pem: err = %v, want ErrNoKeys", err)
	}
	ks, _, err := LoadOrGenerate(dir, EdDSA)
	if err != nil {
		t.Fatalf("LoadOrGenerate: %v", err)
	}
	if len(ks.Keys()) != 1 || len(pemFiles(t, dir)) != 1 {
		t.Fatalf("keys %v, files %v", ks.Keys(), pemFiles(t, dir))
	}
}

func TestLoadOrGenerateDoesNotReplaceBrokenKeys(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "gone.pem"), filepath.Join(dir, "key.pem")); err != nil {
		t.Skipf("symlink: %v", err)
	}
	if _, _, err := LoadOrGenerate(dir, EdDSA); err == nil || !strings.Contains(err.Error(), "key.pem") {
		t.Fatalf("dangling key symlink: err = %v, want an error naming key.pem", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("a key was generated next to a broken one")
	}
}

func TestLoadRefusesBadKeyFiles(t *testing.T) {
	ecKey := testSigner(t, ES256, 0).(*ecdsa.PrivateKey)
	rsaKey := testSigner(t, RS256, 0).(*rsa.PrivateKey)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	for _, tc := range []struct {
		name string
		alg  string
		data []byte
		want error
	}{
		{"SEC1 EC key", ES256, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), ErrBadKeyFile},
		{"PKCS#1 RSA key", RS256, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), ErrBadKeyFile},
		{"public key", EdDSA, publicPEM(t, testSigner(t, EdDSA, 0).Public()), ErrBadKeyFile},
		{"garbage", EdDSA, []byte("hello"), ErrBadKeyFile},
		{"empty", EdDSA, nil, ErrBadKeyFile},
		{"corrupt DER", EdDSA, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x03, 1, 2, 3}}), ErrBadKeyFile},
		{"two keys in one file", EdDSA, append(pkcs8(testSigner(t, EdDSA, 0)), pkcs8(testSigner(t, EdDSA, 1))...), ErrBadKeyFile},
		{"PEM headers", EdDSA, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{0}}), ErrBadKeyFile},
		{"RSA-1024", RS256, pkcs8(testSigner(t, "RSA-1024", 0)), ErrWeakKey},
		{"P-384 for ES256", ES256, pkcs8(testSigner(t, "P-384", 0)), ErrKeyMismatch},
		{"Ed25519 for RS256", RS256, pkcs8(testSigner(t, EdDSA, 0)), ErrKeyMismatch},
		{"RSA for EdDSA", EdDSA, pkcs8(rsaKey), ErrKeyMismatch},
		{"ECDSA for EdDSA", EdDSA, pkcs8(ecKey), ErrKeyMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// A good key first: one bad file anywhere refuses the whole set.
			writeKeyFile(t, dir, "a-good.pem", testSigner(t, tc.alg, 0))
			if err := os.WriteFile(filepath.Join(dir, "b-bad.pem"), tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := Load(dir, tc.alg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "b-bad.pem") {
				t.Errorf("error does not name the file: %v", err)
			}
			if _, _, err := LoadOrGenerate(dir, tc.alg); !errors.Is(err, tc.want) {
				t.Errorf("LoadOrGenerate: err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("directory named like a key", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "x.pem"), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(dir, EdDSA); !errors.Is(err, ErrBadKeyFile) {
			t.Errorf("err = %v, want ErrBadKeyFile", err)
		}
	})
	t.Run("unsupported algorithm", func(t *testing.T) {
		for _, alg := range []string{"none", "HS256", "eddsa", "PS256", ""} {
			if _, _, err := Load(t.TempDir(), alg); !errors.Is(err, ErrUnsupportedAlgorithm) {
				t.Errorf("Load(%q): err = %v", alg, err)
			}
			dir := filepath.Join(t.TempDir(), "keys")
			if _, _, err := LoadOrGenerate(dir, alg); !errors.Is(err, ErrUnsupportedAlgorithm) {
				t.Errorf("LoadOrGenerate(%q): err = %v", alg, err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("LoadOrGenerate(%q) created the directory", alg)
			}
		}
	})
}

func TestLoadWarnings(t *testing.T) {
	dir := t.TempDir()
	path := writeKeyFile(t, dir, "a.pem", testSigner(t, EdDSA, 0))
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	writeKeyFile(t, dir, "b.pem", testSigner(t, EdDSA, 0)) // the same key again
	ks, warnings, err := Load(dir, EdDSA)
	if err != nil {
		t.Fatalf("a readable key file must load (with a warning): %v", err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "a.pem") || !strings.Contains(warnings[0], "0644") ||
		!strings.Contains(warnings[1], "b.pem") {
		t.Errorf("warnings = %q, want one for the mode of a.pem and one for the duplicate b.pem", warnings)
	}
	if len(ks.Keys()) != 1 || ks.Keys()[0].File != "a.pem" {
		t.Errorf("keys = %+v, want a.pem once", ks.Keys())
	}
}

func TestKeyRotation(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	opts := testOptions(clock)
	id := testIdentity()

	// Key A signs.
	if _, _, err := generateAt(EdDSA, dir, clock.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	setA := load(t, dir)
	kidA := setA.SigningKeyID()
	issA, _ := newPair(t, setA, opts)
	tokA := issue(t, issA, id)

	// Step 1 of the documented procedure: the new key C staged under a name
	// sorting last verifies but does not sign.
	stagedPath, kidC, err := generateAt(EdDSA, t.TempDir(), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(dir, "z-"+filepath.Base(stagedPath))
	if err := os.Rename(stagedPath, staged); err != nil {
		t.Fatal(err)
	}
	setAC := load(t, dir)
	if setAC.SigningKeyID() != kidA {
		t.Fatalf("a z- staged key signs")
	}
	if !hasKID(t, setAC.JWKS(), kidC) {
		t.Errorf("the staged key is not in the JWKS")
	}
	os.Remove(staged)

	// Key B, generated later, sorts first: it signs, A still verifies.
	pathB, kidB, err := generateAt(EdDSA, dir, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	setAB := load(t, dir)
	if setAB.SigningKeyID() != kidB {
		t.Fatalf("signing kid = %s, want the new key %s", setAB.SigningKeyID(), kidB)
	}
	if got := setAB.Keys(); len(got) != 2 || got[0].ID != kidB || got[1].ID != kidA {
		t.Fatalf("key order = %+v, want B then A", got)
	}
	issAB, verAB := newPair(t, setAB, opts)
	tokB := issue(t, issAB, id)
	if kid := decodePart(t, tokB, 0)["kid"]; kid != kidB {
		t.Errorf("new token's kid = %v, want %s", kid, kidB)
	}
	for name, tok := range map[string]string{"A": tokA, "B": tokB} {
		if _, err := verAB.Verify(tok); err != nil {
			t.Errorf("token by %s with both keys: %v", name, err)
		}
	}
	if !hasKID(t, setAB.JWKS(), kidA) || !hasKID(t, setAB.JWKS(), kidB) {
		t.Errorf("JWKS does not list both keys: %s", setAB.JWKS())
	}

	// A removed: its tokens fail, B's still verify.
	for _, k := range setAB.Keys() {
		if k.ID == kidA {
			if err := os.Remove(filepath.Join(dir, k.File)); err != nil {
				t.Fatal(err)
			}
		}
	}
	setB := load(t, dir)
	_, verB := newPair(t, setB, opts)
	if _, err := verB.Verify(tokA); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("token by the removed key: err = %v, want ErrTokenInvalid", err)
	}
	if _, err := verB.Verify(tokB); err != nil {
		t.Errorf("token by B after A's removal: %v", err)
	}
	if hasKID(t, setB.JWKS(), kidA) {
		t.Errorf("the removed key is still published")
	}
	if setB.Keys()[0].File != filepath.Base(pathB) {
		t.Errorf("keys = %+v", setB.Keys())
	}
}

func TestKeyFileNameSortsNewestFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	older, newer := keyFileName(EdDSA, t0), keyFileName(EdDSA, t0.Add(time.Millisecond))
	if !(newer < older) {
		t.Errorf("newer %q does not sort before older %q", newer, older)
	}
	if far := keyFileName(RS256, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)); !(far < older) || len(far) != len(older)-len("eddsa")+len("rs256") {
		t.Errorf("a key of 2200 %q does not sort first with a same-width name", far)
	}
	if want := "20260102T030405Z-eddsa.pem"; !strings.HasSuffix(older, want) {
		t.Errorf("name %q does not end with %q", older, want)
	}
	if !("z-"+newer > older) {
		t.Errorf("a z- prefix does not sort last")
	}
}

func TestGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	path, kid, err := Generate(EdDSA, dir)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	assertMode(t, dir, 0o700)
	assertMode(t, path, 0o600)
	ks, _, err := Load(dir, EdDSA)
	if err != nil || ks.SigningKeyID() != kid {
		t.Fatalf("Load after Generate: %v, kid %s want %s", err, ks.SigningKeyID(), kid)
	}
	for _, alg := range []string{HS256, "none", "RS512"} {
		if _, _, err := Generate(alg, dir); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("Generate(%s): err = %v", alg, err)
		}
	}
	// The same name twice is refused rather than overwriting a key.
	now := time.Now()
	if _, _, err := generateAt(EdDSA, dir, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := generateAt(EdDSA, dir, now); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second key with the same name: err = %v, want fs.ErrExist", err)
	}
}

func TestNewHMACKeySet(t *testing.T) {
	if _, err := NewHMACKeySet(make([]byte, 31)); !errors.Is(err, ErrWeakKey) {
		t.Errorf("31-byte secret: err = %v, want ErrWeakKey", err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	ks, err := NewHMACKeySet(secret)
	if err != nil {
		t.Fatal(err)
	}
	want := thumbprintOf(`{"k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY","kty":"oct"}`)
	if ks.SigningKeyID() != want || ks.Algorithm() != HS256 {
		t.Errorf("kid %s alg %s, want %s HS256", ks.SigningKeyID(), ks.Algorithm(), want)
	}
	secret[0] = 'X' // the set keeps its own copy
	if k := ks.signer().sign.([]byte); k[0] != '0' {
		t.Errorf("the key set shares the caller's secret slice")
	}
}

func load(t *testing.T, dir string) *KeySet {
	t.Helper()
	ks, _, err := Load(dir, EdDSA)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return ks
}

func hasKID(t *testing.T, jwks []byte, kid string) bool {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	return slices.ContainsFunc(set.Keys, func(k struct {
		Kid string `json:"kid"`
	}) bool {
		return k.Kid == kid
	})
}

func pemFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := keyFileNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", path, got, want)
	}
}
