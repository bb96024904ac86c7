package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The algorithms the gateway signs with (JWA names, RFC 7518 and RFC 8037).
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
	RS256 = "RS256"
	HS256 = "HS256"
)

const (
	// MinRSABits is the smallest RSA modulus accepted for RS256.
	MinRSABits = 2048
	// MinHMACSecret is the smallest HS256 secret accepted, in bytes.
	MinHMACSecret = 32

	keyFileExt = ".pem"
	// maxKeyFile bounds what is read from one key file: a PKCS#8 RSA-8192
	// key is under 7 KiB of PEM.
	maxKeyFile = 64 << 10
	// countdownBase makes newer keys sort first: the file name starts with
	// countdownBase minus the Unix time in milliseconds (13 digits until the
	// year 2286).
	countdownBase = 9_999_999_999_999
)

var (
	// ErrUnsupportedAlgorithm is returned for an algorithm other than EdDSA,
	// ES256, RS256 (and HS256 where a secret is expected).
	ErrUnsupportedAlgorithm = errors.New("token: unsupported algorithm")
	// ErrNoKeys means keys_dir exists but holds no *.pem file.
	ErrNoKeys = errors.New("token: no key files")
	// ErrBadKeyFile means a *.pem file is not one unencrypted PKCS#8
	// private key.
	ErrBadKeyFile = errors.New("token: not a PKCS#8 private key")
	// ErrKeyMismatch means a key's type cannot sign with the configured
	// algorithm.
	ErrKeyMismatch = errors.New("token: key type does not match the algorithm")
	// ErrWeakKey means an RSA key under MinRSABits or an HMAC secret under
	// MinHMACSecret bytes.
	ErrWeakKey = errors.New("token: key too weak")
)

// KeySet is the gateway's keys in file-name order: the first signs, every
// one verifies. It never changes after it is built and is safe for
// concurrent use.
type KeySet struct {
	alg    string
	method jwt.SigningMethod
	keys   []*key // keys[0] signs
	byID   map[string]*key
	jwks   []byte
}

// KeyInfo describes one key of a KeySet.
type KeyInfo struct {
	// ID is the kid: the RFC 7638 thumbprint of the public key (of the
	// secret for HS256).
	ID string
	// File is the key's file name in keys_dir; empty for an HMAC secret.
	File string
}

type key struct {
	KeyInfo
	sign   any // crypto.Signer, or []byte for HMAC
	verify any // the matching public key, or []byte for HMAC
	jwk    *jwk
}

// jwk is a public key as published in the JWKS (RFC 7517, RFC 7518 section
// 6, RFC 8037 for OKP). Field order is the output order.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// Load reads every *.pem file of dir in file-name order. The first key
// signs. It fails if a file is not a PKCS#8 private key of the type alg
// needs (the error names the file), or with ErrNoKeys if there is none. Key
// files that group or others may read are loaded, but reported in warnings
// for the caller to log. The same key under two names is loaded once, with
// a warning.
func Load(dir, alg string) (*KeySet, []string, error) {
	method, err := signingMethod(alg)
	if err != nil {
		return nil, nil, err
	}
	names, err := keyFileNames(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("%w in %s", ErrNoKeys, dir)
	}
	var warnings []string
	keys := make([]*key, 0, len(names))
	seen := make(map[string]string, len(names))
	for _, name := range names {
		path := filepath.Join(dir, name)
		k, warning, err := loadKeyFile(path, alg)
		if err != nil {
			return nil, nil, err
		}
		if warning != "" {
			warnings = append(warnings, warning)
		}
		if first, dup := seen[k.ID]; dup {
			warnings = append(warnings, fmt.Sprintf("key file %s holds the same key as %s; ignored", path, first))
			continue
		}
		seen[k.ID] = name
		k.File = name
		keys = append(keys, k)
	}
	ks, err := newKeySet(alg, method, keys)
	return ks, warnings, err
}

// LoadOrGenerate is Load, except that when dir does not exist or holds no
// *.pem file it first generates one key for alg into it (see Generate). It
// is for the single-instance default; see the package documentation.
func LoadOrGenerate(dir, alg string) (*KeySet, []string, error) {
	ks, warnings, err := Load(dir, alg)
	if err == nil {
		return ks, warnings, nil
	}
	// Only a missing or empty directory: a dangling symlink or an unreadable
	// key file must stop start-up, not be replaced by a new key.
	if _, statErr := os.Stat(dir); !errors.Is(err, ErrNoKeys) && !errors.Is(statErr, fs.ErrNotExist) {
		return nil, nil, err
	}
	if _, _, err := Generate(alg, dir); err != nil {
		return nil, nil, err
	}
	// Reload from disk: the key that signs is the one that was written.
	return Load(dir, alg)
}

// Generate creates a new key for alg (Ed25519 for EdDSA, P-256 for ES256,
// RSA-2048 for RS256) and writes it as PKCS#8 PEM into outDir (created with
// mode 0700 if missing), mode 0600, named so that it sorts before every
// older generated key: "<countdown>-<UTC time>-<alg>.pem". It returns the
// file's path and the key's kid. The file appears whole or not at all.
func Generate(alg, outDir string) (path, kid string, err error) {
	return generateAt(alg, outDir, time.Now())
}

func generateAt(alg, outDir string, now time.Time) (string, string, error) {
	if alg == HS256 {
		return "", "", fmt.Errorf("%w: HS256 uses a secret (tokens.hmac_secret_file), not a key file", ErrUnsupportedAlgorithm)
	}
	signer, err := generateKey(alg)
	if err != nil {
		return "", "", err
	}
	k, err := newKey(signer, alg)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return "", "", fmt.Errorf("token: encoding the new key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return "", "", fmt.Errorf("token: creating key directory: %w", err)
	}
	path := filepath.Join(outDir, keyFileName(alg, now))
	if err := writeFileAtomic(path, data); err != nil {
		return "", "", err
	}
	return path, k.ID, nil
}

// NewHMACKeySet returns a KeySet for HS256 with one secret of at least
// MinHMACSecret bytes. Its kid is the RFC 7638 thumbprint of the secret as
// an "oct" JWK; its JWKS publishes no key.
func NewHMACKeySet(secret []byte) (*KeySet, error) {
	if len(secret) < MinHMACSecret {
		return nil, fmt.Errorf("%w: an HS256 secret needs at least %d bytes, got %d", ErrWeakKey, MinHMACSecret, len(secret))
	}
	s := bytes.Clone(secret)
	canonical := `{"k":"` + b64(s) + `","kty":"oct"}`
	k := &key{KeyInfo: KeyInfo{ID: thumbprintOf(canonical)}, sign: s, verify: s}
	return newKeySet(HS256, jwt.SigningMethodHS256, []*key{k})
}

func newKeySet(alg string, method jwt.SigningMethod, keys []*key) (*KeySet, error) {
	ks := &KeySet{alg: alg, method: method, keys: keys, byID: make(map[string]*key, len(keys))}
	set := struct {
		Keys []*jwk `json:"keys"`
	}{Keys: []*jwk{}}
	for _, k := range keys {
		ks.byID[k.ID] = k
		if k.jwk != nil {
			set.Keys = append(set.Keys, k.jwk)
		}
	}
	var err error
	if ks.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("token: encoding the JWKS: %w", err)
	}
	return ks, nil
}

// Algorithm is the JWA name every token of this set is signed with.
func (ks *KeySet) Algorithm() string { return ks.alg }

// SigningKeyID is the kid of the key that signs.
func (ks *KeySet) SigningKeyID() string { return ks.keys[0].ID }

// Keys lists the keys in file-name order; the first signs.
func (ks *KeySet) Keys() []KeyInfo {
	out := make([]KeyInfo, len(ks.keys))
	for i, k := range ks.keys {
		out[i] = k.KeyInfo
	}
	return out
}

// JWKS returns the RFC 7517 JSON Web Key Set of every public key (kty, crv
// and x/y or n/e, kid, alg, use "sig"), for GET /.well-known/jwks.json. An
// HS256 set publishes {"keys":[]}. The bytes are built once; the caller gets
// its own copy.
func (ks *KeySet) JWKS() []byte { return bytes.Clone(ks.jwks) }

func (ks *KeySet) signer() *key { return ks.keys[0] }

// keyFileNames lists the candidate key files of dir, sorted by name.
func keyFileNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by file name
	if err != nil {
		return nil, fmt.Errorf("token: reading key directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.EqualFold(filepath.Ext(name), keyFileExt) {
			continue
		}
		names = append(names, name)
	}
	return names, nil
}

// loadKeyFile reads and checks one key file; symlinks are followed (a
// Kubernetes secret volume is made of them).
func loadKeyFile(path, alg string) (*key, string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("token: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("%w: key file %s is not a regular file", ErrBadKeyFile, path)
	}
	var warning string
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		warning = fmt.Sprintf("key file %s may be read by group or others (mode %#o); chmod 600 it", path, perm)
	}
	f, err := os.Open(path) // #nosec G304 -- a key file in the operator's tokens.keys_dir
	if err != nil {
		return nil, "", fmt.Errorf("token: key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, "", fmt.Errorf("token: key file %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return nil, "", fmt.Errorf("%w: key file %s is larger than %d bytes", ErrBadKeyFile, path, maxKeyFile)
	}
	signer, err := parsePrivateKey(data)
	if err != nil {
		return nil, "", fmt.Errorf("key file %s: %w", path, err)
	}
	k, err := newKey(signer, alg)
	if err != nil {
		return nil, "", fmt.Errorf("key file %s: %w", path, err)
	}
	return k, warning, nil
}

// parsePrivateKey accepts exactly one unencrypted PKCS#8 "PRIVATE KEY" PEM
// block, as written by Generate and by "openssl genpkey".
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, fmt.Errorf("%w: no PEM block", ErrBadKeyFile)
	case block.Type != "PRIVATE KEY":
		return nil, fmt.Errorf("%w: PEM block is %q, want an unencrypted PKCS#8 \"PRIVATE KEY\" (convert with: openssl pkcs8 -topk8 -nocrypt)", ErrBadKeyFile, block.Type)
	case len(block.Headers) != 0:
		return nil, fmt.Errorf("%w: PEM block has headers (an encrypted key?)", ErrBadKeyFile)
	case len(bytes.TrimSpace(rest)) != 0:
		return nil, fmt.Errorf("%w: more than one PEM block; keep one key per file", ErrBadKeyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T cannot sign", ErrKeyMismatch, k)
	}
	return signer, nil
}

// newKey checks that signer suits alg and derives its kid and JWK.
func newKey(signer crypto.Signer, alg string) (*key, error) {
	var j *jwk
	switch alg {
	case EdDSA:
		pub, ok := signer.Public().(ed25519.PublicKey)
		if !ok {
			return nil, mismatch(signer, alg)
		}
		j = &jwk{Kty: "OKP", Crv: "Ed25519", X: b64(pub)}
	case ES256:
		pub, ok := signer.Public().(*ecdsa.PublicKey)
		if !ok {
			return nil, mismatch(signer, alg)
		}
		if pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: an ECDSA %s key cannot sign ES256, which needs P-256", ErrKeyMismatch, pub.Curve.Params().Name)
		}
		point, err := pub.Bytes() // 0x04 || X || Y, each 32 bytes
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
		}
		j = &jwk{Kty: "EC", Crv: "P-256", X: b64(point[1:33]), Y: b64(point[33:])}
	case RS256:
		pub, ok := signer.Public().(*rsa.PublicKey)
		if !ok {
			return nil, mismatch(signer, alg)
		}
		if bits := pub.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("%w: RSA key of %d bits, RS256 needs at least %d", ErrWeakKey, bits, MinRSABits)
		}
		j = &jwk{Kty: "RSA", N: b64(pub.N.Bytes()), E: b64(big.NewInt(int64(pub.E)).Bytes())}
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupportedAlgorithm, alg)
	}
	j.Kid, j.Alg, j.Use = j.thumbprint(), alg, "sig"
	return &key{KeyInfo: KeyInfo{ID: j.Kid}, sign: signer, verify: signer.Public(), jwk: j}, nil
}

func mismatch(signer crypto.Signer, alg string) error {
	return fmt.Errorf("%w: %s needs %s, this is %s", ErrKeyMismatch, alg, keyTypeFor(alg), describeKey(signer))
}

func keyTypeFor(alg string) string {
	switch alg {
	case EdDSA:
		return "an Ed25519 key"
	case ES256:
		return "an ECDSA P-256 key"
	default:
		return "an RSA key"
	}
}

func describeKey(signer crypto.Signer) string {
	switch pub := signer.Public().(type) {
	case ed25519.PublicKey:
		return "an Ed25519 key"
	case *ecdsa.PublicKey:
		return "an ECDSA " + pub.Curve.Params().Name + " key"
	case *rsa.PublicKey:
		return fmt.Sprintf("an RSA-%d key", pub.N.BitLen())
	default:
		return fmt.Sprintf("a %T", pub)
	}
}

// thumbprint is the RFC 7638 JWK thumbprint with SHA-256: the required
// members only, in lexicographic order, without whitespace. The values are
// base64url or fixed names, so they need no JSON escaping.
func (j *jwk) thumbprint() string {
	var canonical string
	switch j.Kty {
	case "EC":
		canonical = `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case "OKP":
		canonical = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}`
	case "RSA":
		canonical = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	}
	return thumbprintOf(canonical)
}

func thumbprintOf(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func signingMethod(alg string) (jwt.SigningMethod, error) {
	switch alg {
	case EdDSA:
		return jwt.SigningMethodEdDSA, nil
	case ES256:
		return jwt.SigningMethodES256, nil
	case RS256:
		return jwt.SigningMethodRS256, nil
	case HS256:
		return nil, fmt.Errorf("%w: HS256 keys come from a secret (NewHMACKeySet), not from keys_dir", ErrUnsupportedAlgorithm)
	default:
		return nil, fmt.Errorf("%w %q: want EdDSA, ES256, RS256 or HS256", ErrUnsupportedAlgorithm, alg)
	}
}

func generateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		return rsa.GenerateKey(rand.Reader, MinRSABits)
	default:
		_, err := signingMethod(alg)
		return nil, err
	}
}

// keyFileName is "<countdown>-<UTC time>-<alg>.pem"; see the package
// documentation for why newer keys must sort first.
func keyFileName(alg string, now time.Time) string {
	return fmt.Sprintf("%013d-%s-%s%s", countdownBase-now.UnixMilli(),
		now.UTC().Format("20060102T150405Z"), strings.ToLower(alg), keyFileExt)
}

// writeFileAtomic writes data to path with mode 0600 through a temporary
// file in the same directory and a rename, so that a crash never leaves a
// partial key for Load to choke on. It refuses to replace an existing file.
func writeFileAtomic(path string, data []byte) (err error) {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("token: key file %s: %w", path, fs.ErrExist)
	}
	dir := filepath.Dir(path)
	// A leading "." keeps a leftover temporary file out of Load's way.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("token: writing key file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("token: writing key file: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("token: writing key file: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("token: writing key file: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("token: writing key file: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("token: writing key file: %w", err)
	}
	// Make the rename durable; not every platform can sync a directory.
	if d, derr := os.Open(dir); derr == nil { // #nosec G304 -- the operator's tokens.keys_dir
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
