package ui

// The pages' test environment: a real auth.Service on SQLite (users,
// sessions, revocation feed), the real authenticator and /auth handlers,
// served by the real gateway server (edge, guard, security headers, the
// login redirect of protected routes) over httptest, in front of an
// upstream that says which path it served.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway"
	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/auth"
	"github.com/authgate/gateway/gateway/mail"
	"github.com/authgate/gateway/gateway/password"
	"github.com/authgate/gateway/gateway/ratelimit"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/gateway/token"
	"github.com/authgate/gateway/internal/mailtest"
	"github.com/authgate/gateway/internal/testenv"
)

// testPassword is long enough for the default rules (12).
const testPassword = "correct-horse-battery-staple"

type env struct {
	t    *testing.T
	svc  *auth.Service
	cfg  config.Config
	URL  string
	logs *observer.ObservedLogs
	// mail is the SMTP server the reset mails go to.
	mail *mailtest.Server
}

type envOptions struct {
	registrationDisabled bool
	// limits, if set, are enforced by an in-memory limiter.
	limits *config.RateLimits
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := config.Default()
	cfg.Cookies.Secure = false
	cfg.Passwords.MemoryKiB = 64
	cfg.Passwords.Iterations = 1
	cfg.Passwords.MaxConcurrent = 4
	cfg.Registration.Enabled = !o.registrationDisabled

	db := testenv.SQLite(t)
	sessions, err := session.NewSQLStore(db, session.OptionsFromConfig(cfg.Tokens))
	if err != nil {
		t.Fatal(err)
	}
	feed := session.NewSQLFeed(db, session.FeedOptions{})
	view, err := session.StartView(ctx, feed, session.ViewOptions{AccessTTL: cfg.Tokens.AccessTTL})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !view.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("revocation view not ready after 10s")
		}
	}
	keys, _, err := token.LoadOrGenerate(filepath.Join(t.TempDir(), "keys"), cfg.Tokens.Algorithm)
	if err != nil {
		t.Fatal(err)
	}
	tokOpts := token.Options{Issuer: cfg.IssuerOrDefault(), Audience: cfg.Tokens.Audience, AccessTTL: cfg.Tokens.AccessTTL}
	issuer, err := token.NewIssuer(keys, tokOpts)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := token.NewVerifier(keys, tokOpts)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(cfg.Passwords, nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	deps := auth.Deps{
		Users: account.NewSQLStore(db), Sessions: sessions, Feed: feed, View: view,
		Issuer: issuer, Verifier: verifier, Hasher: hasher, Rules: password.NewRules(cfg.Passwords),
		Audit: log.Named("audit"), Logger: log.Named("auth"),
	}
	mailSrv := mailtest.Start(t)
	mailer, err := mail.NewSMTP(mail.SMTPConfig{URL: mailSrv.URL(), From: "gateway@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	deps.Resets, deps.Mailer = account.NewResetStore(db), mailer
	settings := auth.Settings{RegistrationEnabled: cfg.Registration.Enabled, DefaultRoles: cfg.Registration.DefaultRoles,
		PublicURL: "https://gateway.example"}
	if o.limits != nil {
		deps.Limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
		settings.Limits = *o.limits
	}
	svc, err := auth.NewService(deps, settings)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	authn, err := auth.NewAuthenticator(svc, cfg.Cookies, nil)
	if err != nil {
		t.Fatal(err)
	}
	handlers := auth.NewHandlers(svc, authn, keys)
	pages, err := New(Options{Service: svc, Browser: authn, RegistrationEnabled: cfg.Registration.Enabled,
		PasswordMinLength: cfg.Passwords.MinLength, Logger: log.Named("ui")})
	if err != nil {
		t.Fatal(err)
	}

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream %s", r.URL.RequestURI())
	}))
	t.Cleanup(up.Close)
	cfg.Upstreams = []config.Upstream{{Name: "app", Prefix: "/", URL: up.URL, Timeout: 10 * time.Second}}
	srv, err := gateway.New(gateway.Options{
		Config: &cfg, Logger: log, Authenticator: authn, Authorizer: gateway.RequireLogin{},
		Routes: func(e *echo.Echo) {
			handlers.Forms = pages
			handlers.Register(e)
			pages.Routes(e)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{t: t, svc: svc, cfg: cfg, URL: hs.URL, logs: logs, mail: mailSrv}
}

// user registers an account through the service.
func (e *env) user(local string) account.User {
	e.t.Helper()
	u, err := e.svc.Register(context.Background(), local+"@example.com", testPassword, strings.ToUpper(local[:1])+local[1:], auth.Client{IP: "127.0.0.1"})
	if err != nil {
		e.t.Fatalf("register %s: %v", local, err)
	}
	return u
}

// browser is a client with a cookie jar that does not follow redirects.
type browser struct {
	t   *testing.T
	e   *env
	jar *cookiejar.Jar
	hc  *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, jar: jar, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer.
type page struct {
	status int
	header http.Header
	body   string
	doc    *dom
}

func (b *browser) do(method, path string, form url.Values, header http.Header) *page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// What a browser sends with a same-origin form post.
		req.Header.Set("Origin", b.e.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := &page{status: res.StatusCode, header: res.Header, body: string(raw)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		p.doc = parseDOM(b.t, p.body)
	}
	return p
}

func (b *browser) get(path string) *page { b.t.Helper(); return b.do(http.MethodGet, path, nil, nil) }

func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	return b.do(http.MethodPost, path, form, nil)
}

// cookie is the value the jar holds for name.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// login signs the browser in through the login form.
func (b *browser) login(email, pw string) {
	b.t.Helper()
	p := b.post("/auth/login", url.Values{"email": {email}, "password": {pw}, "rd": {"/"}})
	p.wantStatus(b.t, http.StatusSeeOther)
	if b.cookie(b.e.cfg.Cookies.AccessName) == "" {
		b.t.Fatalf("no access cookie after login")
	}
}

func (p *page) wantStatus(t *testing.T, status int) {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d; body:\n%s", p.status, status, p.body)
	}
}

func (p *page) wantRedirect(t *testing.T, location string) {
	t.Helper()
	p.wantStatus(t, http.StatusSeeOther)
	if got := p.header.Get("Location"); got != location {
		t.Fatalf("Location %q, want %q", got, location)
	}
}

func clientForTest() auth.Client { return auth.Client{IP: "127.0.0.1", UserAgent: "test"} }

// resetToken asks for a reset of email through the forgot page and returns
// the token of the link that arrives by mail.
func (e *env) resetToken(b *browser, email string) string {
	e.t.Helper()
	b.post("/auth/password/forgot", url.Values{"email": {email}}).wantRedirect(e.t, "/auth/password/forgot?sent=1")
	link := e.mail.Wait(10 * time.Second).ResetLink()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		e.t.Fatalf("no reset link in the mail: %q", link)
	}
	return u.Query().Get("token")
}
