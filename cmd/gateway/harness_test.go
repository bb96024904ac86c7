package main

// The end-to-end harness of the account tests: a whole gateway, wired by
// build() exactly as `gateway serve` wires it and served by Server.Serve on
// a loopback listener, in front of a recording upstream, on one of two
// storage backends:
//
//	sqlite+sql      a SQLite file in t.TempDir(), sessions in SQL (the default)
//	postgres+redis  PostgreSQL (testenv.PostgresURL) and Redis sessions
//	                (testenv.RedisAddr, the test's own key prefix)
//
// A deployment is the shared state (storage, keys_dir, upstream, logs); an
// instance is one gateway process-in-a-test on it. Several instances on one
// deployment are replicas.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/token"
	"github.com/authgate/gateway/internal/testenv"
)

// Storage backends every flow test runs on.
const (
	backendSQLite   = "sqlite+sql"
	backendPostgres = "postgres+redis"
)

var allBackends = []string{backendSQLite, backendPostgres}

// eachBackend runs f once per backend, as parallel subtests.
func eachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range allBackends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// Small argon2 parameters for everything but the flood test: the flows are
// under test, not the hash's cost.
const (
	testMemoryKiB  = 1024
	testIterations = 1
)

// recorded is one request as the upstream received it.
type recorded struct {
	Method string
	Path   string
	Header http.Header
}

// recorder is the upstream: it records every request and answers 200.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()})
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	// A cacheable answer, as many upstreams give: the gateway must not let
	// it make a response that carries fresh credentials cacheable.
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = io.WriteString(w, "upstream ok")
}

// last returns the newest request for path, failing if none arrived.
func (rec *recorder) last(t testing.TB, path string) recorded {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := len(rec.reqs) - 1; i >= 0; i-- {
		if rec.reqs[i].Path == path {
			return rec.reqs[i]
		}
	}
	t.Fatalf("the upstream never received %s", path)
	return recorded{}
}

// received reports whether the upstream saw path.
func (rec *recorder) received(path string) bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.ContainsFunc(rec.reqs, func(r recorded) bool { return r.Path == path })
}

// deployment is the state replicas share.
type deployment struct {
	backend string
	storage config.Storage
	keysDir string
	up      *recorder
	upURL   string

	// Every log line of every instance, at debug level: as structured
	// entries (for assertions on the audit log) and as the JSON text
	// production writes (to search for leaked secrets).
	logs    *observer.ObservedLogs
	logText *testenv.Buffer
	logger  *zap.Logger

	mu      sync.Mutex
	secrets []string
}

// newDeployment prepares fresh storage of the backend for t. At t's end it
// checks that no log line of any instance contains a secret the test used
// (every password, access and refresh token that passed through the
// helpers, and any added with secret).
func newDeployment(t testing.TB, backend string) *deployment {
	t.Helper()
	d := &deployment{backend: backend, keysDir: filepath.Join(t.TempDir(), "keys")}
	switch backend {
	case backendSQLite:
		d.storage = config.Storage{
			DatabaseURL: "sqlite://" + filepath.Join(t.TempDir(), "gateway.db"),
			Sessions:    "sql",
			Redis:       config.Redis{Addrs: []string{}},
		}
	case backendPostgres:
		pg := testenv.PostgresURL(t)
		addr, prefix := testenv.RedisAddr(t)
		d.storage = config.Storage{
			DatabaseURL: pg,
			Sessions:    "redis",
			Redis:       config.Redis{URL: "redis://" + addr, Addrs: []string{}, KeyPrefix: prefix},
		}
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	d.up = &recorder{}
	srv := httptest.NewServer(d.up)
	t.Cleanup(srv.Close)
	d.upURL = srv.URL

	obsCore, logs := observer.New(zapcore.DebugLevel)
	d.logs, d.logText = logs, &testenv.Buffer{}
	jsonCore := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), d.logText, zapcore.DebugLevel)
	d.logger = zap.New(zapcore.NewTee(obsCore, jsonCore))

	// Registered first, so it runs after every instance has stopped.
	t.Cleanup(func() {
		d.checkSecrets(t)
		if t.Failed() {
			t.Logf("gateway warnings and errors:\n%s", d.warnings())
		}
	})
	return d
}

// checkSecrets fails t if any log line so far contains a recorded secret.
func (d *deployment) checkSecrets(t testing.TB) {
	t.Helper()
	text := d.logText.String()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.secrets {
		if strings.Contains(text, s) {
			t.Errorf("a log line contains a secret the test used (%d bytes, starting %q)", len(s), s[:min(6, len(s))])
		}
	}
}

// secret records values that must never appear in a log line.
func (d *deployment) secret(values ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range values {
		if v != "" {
			d.secrets = append(d.secrets, v)
		}
	}
}

// warnings returns the captured log lines at warn level and above.
func (d *deployment) warnings() string {
	var b strings.Builder
	for _, e := range d.logs.FilterLevelExact(zapcore.WarnLevel).All() {
		b.WriteString(e.LoggerName + ": " + e.Message + "\n")
	}
	for _, e := range d.logs.FilterLevelExact(zapcore.ErrorLevel).All() {
		b.WriteString(e.LoggerName + ": " + e.Message + "\n")
	}
	return b.String()
}

// testPolicy lets every logged-in user through, everywhere.
const testPolicy = `p, authenticated, /*, *
`

// config is the deployment's configuration before mutate: plain-HTTP
// cookies, small argon2 parameters, generous hashing slots, one upstream
// "app" on "/".
func (d *deployment) config(t testing.TB, mutate func(*config.Config)) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Server.AdminAddr = ""
	cfg.Server.ShutdownTimeout = 5 * time.Second
	cfg.Upstreams = []config.Upstream{{Name: "app", Prefix: "/", URL: d.upURL, Timeout: 10 * time.Second}}
	cfg.Storage = d.storage
	cfg.Tokens.KeysDir = d.keysDir
	cfg.Cookies.Secure = false
	cfg.Passwords.MemoryKiB = testMemoryKiB
	cfg.Passwords.Iterations = testIterations
	cfg.Passwords.MaxConcurrent = 8
	cfg.Passwords.MaxWait = 10 * time.Second
	cfg.Log.Level = "debug"
	// These flows are about accounts: any logged-in user reaches every
	// path, /auth/admin included, and nobody else does. Authorization is
	// tested over the repository's policy.csv (policy_e2e_test.go,
	// admin_e2e_test.go).
	cfg.Policy.File = filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(cfg.Policy.File, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every test logs in and registers from 127.0.0.1, many times: the
	// abuse limits are another test's subject, not these flows'.
	unlimited := config.Rate{Limit: 1_000_000, Window: time.Minute}
	cfg.RateLimits = config.RateLimits{LoginPerIP: unlimited, LoginPerAccount: unlimited, LoginPerAccountIP: unlimited,
		RegisterPerIP: unlimited, ForgotPerAccount: unlimited, ForgotPerIP: unlimited}
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test configuration invalid: %v", err)
	}
	return &cfg
}

// instance is one running gateway.
type instance struct {
	d   *deployment
	cfg *config.Config
	app *app
	URL string
	// AdminURL is the admin listener's base URL ("" unless the test set
	// server.admin_addr).
	AdminURL string
	host     string // 127.0.0.1:PORT
	hc       *http.Client
	stop     func()
}

// start builds and serves a gateway on d with the configuration adjusted by
// mutate, and waits until it is ready. It stops at the end of t, or
// earlier through stop.
func (d *deployment) start(t testing.TB, mutate func(*config.Config)) *instance {
	t.Helper()
	in := d.launch(t, mutate)
	// Ready once the revocation view has replayed the feed.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := in.send(t, request{method: http.MethodGet, path: "/readyz"})
		if r.status == http.StatusOK {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready after 15s: %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// launch is start without waiting for readiness: for a replica that starts
// while a dependency is down.
func (d *deployment) launch(t testing.TB, mutate func(*config.Config)) *instance {
	t.Helper()
	cfg := d.config(t, mutate)
	bg, stopBackground := context.WithCancel(context.Background())
	a, err := build(bg, cfg, d.logger, nil, true)
	if err != nil {
		stopBackground()
		t.Fatalf("build: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		stopBackground()
		a.close()
		t.Fatal(err)
	}
	// The admin listener only when the test sets server.admin_addr.
	var adminLn net.Listener
	adminURL := ""
	if cfg.Server.AdminAddr != "" {
		if adminLn, err = net.Listen("tcp", cfg.Server.AdminAddr); err != nil {
			stopBackground()
			ln.Close()
			a.close()
			t.Fatal(err)
		}
		adminURL = "http://" + adminLn.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.server.Serve(ctx, ln, adminLn) }()
	in := &instance{
		d: d, cfg: cfg, app: a,
		URL:      "http://" + ln.Addr().String(),
		AdminURL: adminURL,
		host:     ln.Addr().String(),
		hc:       newHTTPClient(nil),
	}
	in.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		stopBackground()
		a.close()
		in.hc.CloseIdleConnections()
	})
	t.Cleanup(in.stop)
	return in
}

func newHTTPClient(jar http.CookieJar) *http.Client {
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// request is one call to the gateway.
type request struct {
	method, path string
	// json is marshalled as the body with Content-Type application/json;
	// otherwise body is sent as is with contentType (if any).
	json        any
	body        string
	contentType string
	bearer      string
	header      http.Header
	cookies     []*http.Cookie
	// client replaces the instance's client (a browser with a jar).
	client *http.Client
}

// response is a finished answer.
type response struct {
	status int
	header http.Header
	body   []byte
	// cookies are the Set-Cookie lines of the answer.
	cookies []*http.Cookie
}

func (in *instance) send(t testing.TB, r request) *response {
	t.Helper()
	res, err := in.sendErr(r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// sendErr is send for goroutines other than the test's: it reports
// failures instead of ending the test.
func (in *instance) sendErr(r request) (*response, error) {
	var body io.Reader
	ct := r.contentType
	switch {
	case r.json != nil:
		b, err := json.Marshal(r.json)
		if err != nil {
			return nil, err
		}
		body, ct = bytes.NewReader(b), "application/json"
	case r.body != "":
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, in.URL+r.path, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	for _, c := range r.cookies {
		req.AddCookie(c)
	}
	hc := in.hc
	if r.client != nil {
		hc = r.client
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the body: %w", r.method, r.path, err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b, cookies: res.Cookies()}, nil
}

// object decodes a JSON object answer.
func (r *response) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// problemDoc is an RFC 9457 answer.
type problemDoc struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail"`
	Code   string            `json:"code"`
	Errors map[string]string `json:"errors"`
}

// wantStatus fails t unless the answer has status.
func (r *response) wantStatus(t testing.TB, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

// wantProblem fails t unless the answer is a problem document with status
// and code.
func (r *response) wantProblem(t testing.TB, status int, code string) problemDoc {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d; body %s", r.status, status, r.body)
	}
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	if mt != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", r.header.Get("Content-Type"))
	}
	var p problemDoc
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body is not JSON: %v: %s", err, r.body)
	}
	if p.Code != code || p.Status != status {
		t.Errorf("problem code %q status %d, want %q %d (detail %q)", p.Code, p.Status, code, status, p.Detail)
	}
	return p
}

// cookie returns the Set-Cookie of the answer named name, or nil.
func (r *response) cookie(name string) *http.Cookie {
	for _, c := range r.cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// testUser is a registered user with its password.
type testUser struct {
	ID, Email, Password string
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newPassword returns a strong password unique to the test.
func newPassword(t testing.TB) string {
	return "Tr0ub4dor-" + randomHex(t, 6) + "-staple"
}

// register creates an account with a fresh email under local ("alice")
// and a strong password, through POST /auth/register.
func (in *instance) register(t testing.TB, local string) testUser {
	t.Helper()
	a := testUser{Email: local + "-" + randomHex(t, 4) + "@example.com", Password: newPassword(t)}
	in.d.secret(a.Password)
	r := in.send(t, request{method: http.MethodPost, path: "/auth/register",
		json: map[string]any{"email": a.Email, "password": a.Password, "name": local}})
	r.wantStatus(t, http.StatusCreated)
	u := r.object(t)["user"].(map[string]any)
	a.ID = u["id"].(string)
	return a
}

// tokens is a login or refresh answer in bearer mode.
type tokens struct {
	Access, Refresh string
	ExpiresIn       float64
	User            map[string]any
}

// login logs a in (bearer mode) and returns the tokens.
func (in *instance) login(t testing.TB, a testUser) tokens {
	t.Helper()
	r := in.send(t, request{method: http.MethodPost, path: "/auth/login",
		json: map[string]any{"email": a.Email, "password": a.Password}})
	r.wantStatus(t, http.StatusOK)
	return in.d.tokensOf(t, r)
}

// refresh rotates a refresh token (bearer mode) and returns the answer.
func (in *instance) refresh(t testing.TB, refreshToken string) *response {
	t.Helper()
	r := in.send(t, request{method: http.MethodPost, path: "/auth/refresh",
		json: map[string]any{"refresh_token": refreshToken}})
	if r.status == http.StatusOK {
		in.d.tokensOf(t, r)
	}
	return r
}

func (d *deployment) tokensOf(t testing.TB, r *response) tokens {
	t.Helper()
	m := r.object(t)
	tk := tokens{}
	tk.Access, _ = m["access_token"].(string)
	tk.Refresh, _ = m["refresh_token"].(string)
	tk.ExpiresIn, _ = m["expires_in"].(float64)
	tk.User, _ = m["user"].(map[string]any)
	d.secret(tk.Access, tk.Refresh)
	return tk
}

// get sends GET path with a bearer token.
func (in *instance) get(t testing.TB, path, bearer string) *response {
	t.Helper()
	return in.send(t, request{method: http.MethodGet, path: path, bearer: bearer})
}

// browser is a client with a cookie jar, as a browser keeps cookies
// (Max-Age honoured; Secure cookies are not sent over plain HTTP).
func (in *instance) browser(t testing.TB) (*http.Client, *cookiejar.Jar) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return newHTTPClient(jar), jar
}

// jarCookie returns the value the jar would send for name, or "".
func (in *instance) jarCookie(jar *cookiejar.Jar, name string) string {
	u, _ := url.Parse(in.URL)
	for _, c := range jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// eventually polls cond every 10 ms until it holds or within passes, and
// returns how long it took; it fails t at the deadline.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// JWT helpers, for reading the gateway's tokens and forging attackers'.

var b64url = base64.RawURLEncoding

// jwtPart decodes the header (0) or payload (1) of a compact JWS.
func jwtPart(t testing.TB, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	raw, err := b64url.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("JWS part %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("JWS part %d: %v", i, err)
	}
	return m
}

// signJWS builds a compact JWS of header and claims, signed by sign (nil:
// an empty signature).
func signJWS(t testing.TB, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64url.EncodeToString(h) + "." + b64url.EncodeToString(c)
	sig := []byte(nil)
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + b64url.EncodeToString(sig)
}

// verifyEd25519 checks a compact JWS's signature with pub.
func verifyEd25519(tok string, pub ed25519.PublicKey) bool {
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		return false
	}
	sig, err := b64url.DecodeString(tok[i+1:])
	return err == nil && ed25519.Verify(pub, []byte(tok[:i]), sig)
}

// signingKey returns the deployment's signing key (the first key file) and
// its kid, read from keys_dir as an operator could.
func (d *deployment) signingKey(t testing.TB) (ed25519.PrivateKey, string) {
	t.Helper()
	ks, _, err := token.Load(d.keysDir, "EdDSA")
	if err != nil {
		t.Fatalf("loading keys: %v", err)
	}
	file := ks.Keys()[0].File
	data, err := os.ReadFile(filepath.Join(d.keysDir, file))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		t.Fatalf("%s: %T, want an Ed25519 key", file, k)
	}
	return priv, ks.SigningKeyID()
}

// jwks fetches the instance's JWKS and returns its Ed25519 keys by kid.
func (in *instance) jwks(t testing.TB) map[string]ed25519.PublicKey {
	t.Helper()
	r := in.send(t, request{method: http.MethodGet, path: "/.well-known/jwks.json"})
	r.wantStatus(t, http.StatusOK)
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("JWKS: %v: %s", err, r.body)
	}
	out := map[string]ed25519.PublicKey{}
	for _, k := range doc.Keys {
		if _, ok := k["d"]; ok {
			t.Fatalf("the JWKS publishes a private key")
		}
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" {
			t.Fatalf("JWKS key %v: want kty OKP, crv Ed25519", k)
		}
		x, err := b64url.DecodeString(k["x"].(string))
		if err != nil || len(x) != ed25519.PublicKeySize {
			t.Fatalf("JWKS key x: %v (len %d)", err, len(x))
		}
		out[k["kid"].(string)] = ed25519.PublicKey(x)
	}
	return out
}
