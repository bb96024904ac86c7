package interop_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/gateway/gateway/scope"
	"github.com/authgate/gateway/gateway/token"
	"github.com/authgate/gateway/internal/testenv"
)

const (
	issuer   = "https://gw.example"
	audience = "gateway"
	// upstream is the aud of the assertions: the upstream's name.
	upstream  = "orders"
	accessTTL = 10 * time.Minute
	// nodeTimeout bounds the Node run: it takes well under a second, but
	// CI shares two cores with everything else.
	nodeTimeout = 60 * time.Second

	// jose's error codes (err.code) for the refusals the test expects.
	codeBadSignature = "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"
	codeBadClaim     = "ERR_JWT_CLAIM_VALIDATION_FAILED"
	codeExpired      = "ERR_JWT_EXPIRED"
)

// jsCase is one entry of cases.json, read by verify.mjs.
type jsCase struct {
	Name           string   `json:"name"`
	Token          string   `json:"token"` // file name in the directory
	Keys           string   `json:"keys"`  // JWKS file name
	Algorithm      string   `json:"algorithm"`
	Issuer         string   `json:"issuer"`
	Audience       string   `json:"audience"`
	Typ            string   `json:"typ"`
	Subject        string   `json:"subject"`
	RequiredClaims []string `json:"requiredClaims"`
}

// jsOutput is what verify.mjs prints.
type jsOutput struct {
	Jose    string `json:"jose"`
	Node    string `json:"node"`
	KeySets map[string]struct {
		Keys          int      `json:"keys"`
		Kids          []string `json:"kids"`
		KidMismatches []string `json:"kidMismatches"`
	} `json:"keySets"`
	Results []jsResult `json:"results"`
}

type jsResult struct {
	Name    string         `json:"name"`
	Valid   bool           `json:"valid"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Header  map[string]any `json:"header"`
	Payload map[string]any `json:"payload"`
}

// expectation is what the Go side asserts about one case's result.
type expectation struct {
	valid bool
	code  string // jose's error code when !valid
	// For valid cases: the typ and aud the token must carry, and its
	// longest allowed lifetime (exp - iat).
	typ, aud    string
	maxLifetime time.Duration
}

// TestJoseVerifiesGatewayTokens is issue 3's interoperability test: for each
// algorithm, jose verifies an access token and an X-Auth-Assertion against
// the gateway's JWKS (iss, aud, typ, sub, exp), agrees that every kid is the
// key's RFC 7638 thumbprint, and refuses a tampered access token and
// assertion, an expired token, an assertion offered as an access token and
// an access token for another audience.
func TestJoseVerifiesGatewayTokens(t *testing.T) {
	node := requireNode(t)
	dir := t.TempDir()
	id := &scope.Identity{UserID: "7f0c2a3e-5d1b-4c8e-9a6f-0b1c2d3e4f50", SessionID: "s-0123456789abcdef",
		Email: "zoë@example.com", Roles: []string{"user", "billing:read"}}

	var (
		keySets []string
		cases   []jsCase
		expect  = map[string]expectation{}
		algs    = []string{token.EdDSA, token.ES256, token.RS256, token.HS256}
	)
	for _, alg := range algs {
		ks, keysFile := keySetFor(t, dir, alg)
		keySets = append(keySets, keysFile)
		access, assertion, expired := issueAll(t, ks, id)

		add := func(name, tok string, c jsCase, e expectation) {
			c.Name, c.Token, c.Keys, c.Algorithm = alg+"/"+name, alg+"-"+name+".jwt", keysFile, alg
			writeFile(t, dir, c.Token, []byte(tok))
			cases = append(cases, c)
			expect[c.Name] = e
		}
		accessWant := jsCase{Issuer: issuer, Audience: audience, Typ: "at+jwt", Subject: id.UserID,
			RequiredClaims: []string{"exp", "iat", "sub", "jti", "sid"}}
		assertionWant := jsCase{Issuer: issuer, Audience: upstream, Typ: "JWT", Subject: id.UserID,
			RequiredClaims: []string{"exp", "iat", "sub", "sid"}}

		add("access", access, accessWant,
			expectation{valid: true, typ: "at+jwt", aud: audience, maxLifetime: accessTTL})
		add("assertion", assertion, assertionWant,
			expectation{valid: true, typ: "JWT", aud: upstream, maxLifetime: token.MaxAssertionTTL})

		// Tampered: the claims jose is told to expect are the forged ones,
		// so that only the signature can refuse them.
		forged := accessWant
		forged.Subject = "admin"
		add("access-tampered", tamper(t, access, "sub", "admin"), forged,
			expectation{code: codeBadSignature})
		add("assertion-tampered", tamper(t, assertion, "roles", []string{"admin"}), assertionWant,
			expectation{code: codeBadSignature})
		add("access-expired", expired, accessWant, expectation{code: codeExpired})
		// An assertion must never pass as an access token: only typ differs
		// here, since aud is set to the assertion's.
		asAccess := accessWant
		asAccess.Audience = upstream
		add("assertion-as-access-token", assertion, asAccess, expectation{code: codeBadClaim})
		otherAud := accessWant
		otherAud.Audience = "another-service"
		add("access-other-audience", access, otherAud, expectation{code: codeBadClaim})
	}
	manifest, err := json.Marshal(map[string]any{"keySets": keySets, "cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "cases.json", manifest)

	out := runNode(t, node, dir)
	t.Logf("verified with jose %s on Node.js %s", out.Jose, out.Node)
	if want := pinnedJoseVersion(t); out.Jose != want {
		t.Errorf("node_modules has jose %s, package.json pins %s: run npm ci", out.Jose, want)
	}

	for _, file := range keySets {
		ks, ok := out.KeySets[file]
		switch {
		case !ok:
			t.Errorf("%s: no report from verify.mjs", file)
		case ks.Keys != 1:
			t.Errorf("%s: jose saw %d keys, want 1", file, ks.Keys)
		case len(ks.KidMismatches) > 0:
			t.Errorf("%s: kids %q are not the RFC 7638 thumbprint jose computes", file, ks.KidMismatches)
		}
	}

	results := make(map[string]jsResult, len(out.Results))
	for _, r := range out.Results {
		results[r.Name] = r
	}
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			for _, c := range cases {
				if c.Algorithm != alg {
					continue
				}
				t.Run(strings.TrimPrefix(c.Name, alg+"/"), func(t *testing.T) {
					r, ok := results[c.Name]
					if !ok {
						t.Fatalf("verify.mjs reported nothing for %s", c.Name)
					}
					checkResult(t, c, r, expect[c.Name], id, out.KeySets[c.Keys].Kids)
				})
			}
		})
	}
}

// checkResult asserts on jose's verdict for one case.
func checkResult(t *testing.T, c jsCase, r jsResult, e expectation, id *scope.Identity, kids []string) {
	t.Helper()
	if !e.valid {
		switch {
		case r.Valid:
			t.Fatalf("jose accepted it; want refusal %s", e.code)
		case r.Code != e.code:
			t.Fatalf("jose refused it with %s (%s); want %s", r.Code, r.Message, e.code)
		}
		t.Logf("refused: %s: %s", r.Code, r.Message)
		return
	}
	if !r.Valid {
		t.Fatalf("jose refused it: %s: %s", r.Code, r.Message)
	}
	if got := r.Header["alg"]; got != c.Algorithm {
		t.Errorf("header alg = %v, want %s", got, c.Algorithm)
	}
	if got := r.Header["typ"]; got != e.typ {
		t.Errorf("header typ = %v, want %s", got, e.typ)
	}
	if kid, _ := r.Header["kid"].(string); len(kids) != 1 || kid != kids[0] {
		t.Errorf("header kid = %q, want the JWKS's %q", kid, kids)
	}
	p := r.Payload
	for claim, want := range map[string]any{"iss": issuer, "sub": id.UserID, "sid": id.SessionID, "email": id.Email} {
		if p[claim] != want {
			t.Errorf("%s = %v, want %v", claim, p[claim], want)
		}
	}
	// RFC 7519 allows aud as a string or an array; either names one.
	switch aud := p["aud"].(type) {
	case string:
		if aud != e.aud {
			t.Errorf("aud = %q, want %q", aud, e.aud)
		}
	case []any:
		if len(aud) != 1 || aud[0] != e.aud {
			t.Errorf("aud = %v, want [%q]", aud, e.aud)
		}
	default:
		t.Errorf("aud = %v (%T)", p["aud"], p["aud"])
	}
	if roles, _ := json.Marshal(p["roles"]); string(roles) != `["user","billing:read"]` {
		t.Errorf("roles = %s", roles)
	}
	iat, _ := p["iat"].(float64)
	exp, _ := p["exp"].(float64)
	now := float64(time.Now().Unix())
	if iat > now+1 || iat < now-300 {
		t.Errorf("iat = %v, not around now (%v)", iat, now)
	}
	if life := time.Duration(exp-iat) * time.Second; life <= 0 || life > e.maxLifetime {
		t.Errorf("exp - iat = %v, want in (0, %v]", life, e.maxLifetime)
	}
}

// keySetFor makes a fresh key set for alg and writes the JWKS that jose gets
// into dir: the published one (KeySet.JWKS), or for HS256, which publishes
// no key, the shared secret as an "oct" JWK.
func keySetFor(t *testing.T, dir, alg string) (*token.KeySet, string) {
	t.Helper()
	file := "jwks-" + alg + ".json"
	if alg != token.HS256 {
		ks, _, err := token.LoadOrGenerate(filepath.Join(dir, "keys-"+alg), alg)
		if err != nil {
			t.Fatalf("%s keys: %v", alg, err)
		}
		writeFile(t, dir, file, ks.JWKS())
		return ks, file
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	ks, err := token.NewHMACKeySet(secret)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(ks.JWKS()); got != `{"keys":[]}` {
		t.Fatalf("HS256 JWKS = %s: the secret must never be published", got)
	}
	oct, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(secret),
		"kid": ks.SigningKeyID(), "alg": token.HS256, "use": "sig",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, file, oct)
	return ks, file
}

// issueAll issues an access token and an assertion for id now, and an
// access token that expired half an hour ago.
func issueAll(t *testing.T, ks *token.KeySet, id *scope.Identity) (access, assertion, expired string) {
	t.Helper()
	opts := token.Options{Issuer: issuer, Audience: audience, AccessTTL: accessTTL}
	iss, err := token.NewIssuer(ks, opts)
	if err != nil {
		t.Fatal(err)
	}
	asserter, err := token.NewAsserter(ks, token.AssertionOptions{Issuer: issuer})
	if err != nil {
		t.Fatal(err)
	}
	claims := token.AccessClaims{Subject: id.UserID, SessionID: id.SessionID, Email: id.Email, Roles: id.Roles, Stamp: 2}
	if access, _, err = iss.IssueAccess(claims); err != nil {
		t.Fatal(err)
	}
	if assertion, err = asserter.Assertion(id, upstream); err != nil {
		t.Fatal(err)
	}
	past := opts
	past.Now = func() time.Time { return time.Now().Add(-accessTTL - 30*time.Minute) }
	oldIss, err := token.NewIssuer(ks, past)
	if err != nil {
		t.Fatal(err)
	}
	if expired, _, err = oldIss.IssueAccess(claims); err != nil {
		t.Fatal(err)
	}
	return access, assertion, expired
}

// tamper sets one claim of a compact JWS's payload and keeps the original
// signature.
func tamper(t *testing.T, tok, claim string, value any) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]any
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatal(err)
	}
	payload[claim] = value
	if raw, err = json.Marshal(payload); err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	forged := strings.Join(parts, ".")
	if forged == tok {
		t.Fatal("tampering changed nothing")
	}
	return forged
}

// runNode runs verify.mjs on dir and decodes its report.
func runNode(t *testing.T, node, dir string) jsOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "verify.mjs", dir)
	cmd.WaitDelay = 5 * time.Second // a grandchild holding the pipes cannot hang the test
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("node verify.mjs did not finish within %v\nstderr:\n%s", nodeTimeout, stderr.Bytes())
		}
		t.Fatalf("node verify.mjs: %v\nstderr:\n%s", err, stderr.Bytes())
	}
	t.Logf("node verify.mjs took %v", time.Since(start).Round(time.Millisecond))
	var out jsOutput
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("verify.mjs output: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	return out
}

// requireNode returns the path of node, or skips the test (fails it when
// GATEWAY_TEST_REQUIRE_SERVICES is set, as in CI) when node or the npm
// packages are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Unavailable(t, "node (Node.js 20 or later) is not on PATH")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "jose", "package.json")); err != nil {
		testenv.Unavailable(t, "node_modules/jose is missing: run `npm ci --no-audit --no-fund` in gateway/token/interop")
	}
	return node
}

// pinnedJoseVersion is the exact version package.json asks for.
func pinnedJoseVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		t.Fatalf("package.json: %v", err)
	}
	v := pkg.Dependencies["jose"]
	if v == "" || strings.ContainsAny(v, "^~<>=* x|") || strings.Count(v, ".") != 2 {
		t.Fatalf("package.json: jose %q is not an exact version", v)
	}
	return v
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}
