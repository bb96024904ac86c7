package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/database"
	"github.com/authgate/gateway/gateway/mail"
	"github.com/authgate/gateway/gateway/password"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/ratelimit"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/internal/mailtest"
	"github.com/authgate/gateway/internal/testenv"
)

const resetPublicURL = "https://gw.example.com"

// resetEnv is a Service on real stores whose mail goes over SMTP to an
// in-process server: SQLite with SQL sessions (newResetEnv), or PostgreSQL
// with Redis sessions (newBackendEnv), the two deployments of the README.
type resetEnv struct {
	svc   *Service
	users *account.SQLStore
	view  *session.View
	smtp  *mailtest.Server
	logs  *observer.ObservedLogs
	// sessOpts are the session lifetimes; redisPrefix is the key prefix of
	// the postgres+redis backend ("" on sqlite+sql), for stores that tests
	// point at an unreachable Redis (see redisDown).
	sessOpts    session.Options
	redisPrefix string
	db          *database.DB
	rdb         *redis.Client // nil on sqlite+sql
	// clock is what svc.now returns when set (zero: the real time).
	mu    sync.Mutex
	clock time.Time
}

// The backends of newBackendEnv.
const (
	backendSQLite   = "sqlite+sql"
	backendPostgres = "postgres+redis"
)

var allBackends = []string{backendSQLite, backendPostgres}

func newResetEnv(t *testing.T, opts ...mailtest.Option) *resetEnv {
	t.Helper()
	return newBackendEnv(t, backendSQLite, opts...)
}

// newBackendEnv is a resetEnv on backend. postgres+redis needs the test
// servers (testenv.PostgresURL, testenv.RedisAddr).
func newBackendEnv(t *testing.T, backend string, opts ...mailtest.Option) *resetEnv {
	t.Helper()
	sessOpts := session.Options{IdleTTL: time.Hour, MaxTTL: 24 * time.Hour}
	var (
		db          *database.DB
		rdb         *redis.Client
		sessions    session.Store
		feed        session.Feed
		redisPrefix string
		err         error
	)
	switch backend {
	case backendSQLite:
		db = testenv.SQLite(t)
		if sessions, err = session.NewSQLStore(db, sessOpts); err != nil {
			t.Fatal(err)
		}
		feed = session.NewSQLFeed(db, session.FeedOptions{})
	case backendPostgres:
		db = testenv.OpenMigrated(t, testenv.PostgresURL(t))
		var addr string
		addr, redisPrefix = testenv.RedisAddr(t)
		rdb = redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { rdb.Close() })
		if sessions, err = session.NewRedisStore(rdb, redisPrefix, sessOpts); err != nil {
			t.Fatal(err)
		}
		feed = session.NewRedisFeed(rdb, redisPrefix, session.FeedOptions{})
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	issuer, verifier := hmacTokens(t, time.Minute)
	pwcfg := config.Default().Passwords
	pwcfg.MemoryKiB, pwcfg.Iterations, pwcfg.MaxConcurrent, pwcfg.MaxWait = 64, 1, 4, 5*time.Second
	hasher, err := password.New(pwcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	view, err := session.NewView(session.ViewOptions{AccessTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv := mailtest.Start(t, opts...)
	mailer, err := mail.NewSMTP(mail.SMTPConfig{URL: srv.URL(), From: "Gateway <noreply@example.com>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	users := account.NewSQLStore(db)
	svc, err := NewService(Deps{
		Users: users, Sessions: sessions, Feed: feed, View: view,
		Issuer: issuer, Verifier: verifier, Hasher: hasher, Rules: password.NewRules(pwcfg),
		Audit: zap.New(core).Named("audit"), Logger: zap.New(core).Named("auth"),
		Resets: account.NewResetStore(db), Mailer: mailer,
	}, Settings{RegistrationEnabled: true, DefaultRoles: []string{"user"}, PublicURL: resetPublicURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	e := &resetEnv{svc: svc, users: users, view: view, smtp: srv, logs: logs, sessOpts: sessOpts,
		redisPrefix: redisPrefix, db: db, rdb: rdb}
	svc.now = func() time.Time {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.clock.IsZero() {
			return time.Now()
		}
		return e.clock
	}
	return e
}

// useSessions replaces the session store by one with the lifetimes o, on
// the same backend and data.
func (e *resetEnv) useSessions(t *testing.T, o session.Options) {
	t.Helper()
	var err error
	if e.rdb != nil {
		e.svc.Sessions, err = session.NewRedisStore(e.rdb, e.redisPrefix, o)
	} else {
		e.svc.Sessions, err = session.NewSQLStore(e.db, o)
	}
	if err != nil {
		t.Fatal(err)
	}
	e.sessOpts = o
}

func (e *resetEnv) setClock(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock = t
}

var client = Client{IP: "192.0.2.10", UserAgent: "test"}

func (e *resetEnv) register(t *testing.T, email, pw string) account.User {
	t.Helper()
	u, err := e.svc.Register(context.Background(), email, pw, "", client)
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return u
}

// requestToken asks for a reset of email and returns the token of the mail.
func (e *resetEnv) requestToken(t *testing.T, email string) string {
	t.Helper()
	if err := e.svc.ForgotPassword(context.Background(), email, client); err != nil {
		t.Fatalf("ForgotPassword: %v", err)
	}
	m := e.smtp.Wait(10 * time.Second)
	tok := m.ResetToken()
	if tok == "" {
		t.Fatalf("no reset link in the mail: %q", m.Text)
	}
	return tok
}

func wantProblem(t *testing.T, err error, status int, code string) *problem.Problem {
	t.Helper()
	p := problem.As(err)
	if p == nil || p.Status != status || p.Code != code {
		t.Fatalf("error %v, want %d %s", err, status, code)
	}
	return p
}

const (
	oldPW = "correct horse battery staple 1"
	newPW = "a quite different passphrase 2"
)

// The whole flow: the mail, the reset, the old password refused, every
// session ended, the token used up.
func TestResetPasswordFlow(t *testing.T) {
	e := newResetEnv(t)
	ctx := context.Background()
	u := e.register(t, "ada@example.com", oldPW)
	pair, err := e.svc.Login(ctx, u.Email, oldPW, client)
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.svc.Login(ctx, u.Email, oldPW, client)
	if err != nil {
		t.Fatal(err)
	}
	stampBefore, err := e.svc.Sessions.UserStamp(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}

	if err := e.svc.ForgotPassword(ctx, "  ADA@example.com ", client); err != nil {
		t.Fatalf("ForgotPassword: %v", err)
	}
	m := e.smtp.Wait(10 * time.Second)
	if len(m.EnvelopeTo) != 1 || m.EnvelopeTo[0] != u.Email || m.From != "noreply@example.com" {
		t.Errorf("mail from %q to %q", m.From, m.EnvelopeTo)
	}
	link := m.ResetLink()
	if !strings.HasPrefix(link, resetPublicURL+"/auth/password/reset?token=") {
		t.Fatalf("link %q, want it under %s", link, resetPublicURL)
	}
	tok := m.ResetToken()
	if len(tok) != 43 {
		t.Errorf("token of %d characters, want 43 (256 bits, base64url)", len(tok))
	}
	if err := e.svc.CheckResetToken(ctx, tok); err != nil {
		t.Fatalf("CheckResetToken: %v", err)
	}
	if err := e.svc.ResetPassword(ctx, tok, newPW, client); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}

	_, err = e.svc.Login(ctx, u.Email, oldPW, client)
	wantProblem(t, err, http.StatusUnauthorized, problem.InvalidCredentials)
	if _, err := e.svc.Login(ctx, u.Email, newPW, client); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	// Every session before the reset is over: refresh refused, access
	// tokens refused by this replica's view (the stamp moved too).
	for _, p := range []*Pair{pair, other} {
		_, err := e.svc.Refresh(ctx, p.RefreshToken, client)
		wantProblem(t, err, http.StatusUnauthorized, problem.InvalidToken)
		if err := e.view.Check(u.ID, p.Session.ID, stampBefore); err == nil {
			t.Errorf("session %s still accepted by the revocation view", p.Session.ID)
		}
	}
	if stamp, _ := e.svc.Sessions.UserStamp(ctx, u.ID); stamp <= stampBefore {
		t.Errorf("user stamp %d after the reset, want more than %d", stamp, stampBefore)
	}

	// Used up.
	wantProblem(t, e.svc.CheckResetToken(ctx, tok), http.StatusBadRequest, problem.InvalidToken)
	wantProblem(t, e.svc.ResetPassword(ctx, tok, "yet another passphrase 3", client), http.StatusBadRequest, problem.InvalidToken)
	if _, err := e.svc.Login(ctx, u.Email, newPW, client); err != nil {
		t.Fatalf("a reused token changed the password: %v", err)
	}

	// Audited once the server has answered the message: soon after it
	// arrived.
	eventuallyTrue(t, "the password_reset_requested success line", func() bool {
		return e.logs.FilterLoggerName("audit").FilterMessage("password_reset_requested").
			FilterField(zap.String("result", "success")).FilterField(zap.String("user_id", u.ID)).Len() == 1
	})
	audit := e.logs.FilterLoggerName("audit")
	if n := audit.FilterMessage("password_reset_done").FilterField(zap.String("result", "success")).Len(); n != 1 {
		t.Errorf("%d password_reset_done success lines, want 1", n)
	}
	if n := audit.FilterMessage("password_reset_done").FilterField(zap.String("result", "failure")).Len(); n != 1 {
		t.Errorf("%d password_reset_done failure lines, want 1 (the reuse)", n)
	}
	for _, entry := range e.logs.All() {
		for k, v := range entry.ContextMap() {
			if s, ok := v.(string); ok && (strings.Contains(s, tok) || strings.Contains(s, newPW)) {
				t.Errorf("log %q field %s holds a secret", entry.Message, k)
			}
		}
	}
}

// Unknown, disabled and known addresses get the same answer; only the
// known, enabled one gets a mail.
func TestForgotPasswordAnswersAlike(t *testing.T) {
	e := newResetEnv(t)
	ctx := context.Background()
	known := e.register(t, "known@example.com", oldPW)
	off := e.register(t, "off@example.com", oldPW)
	if _, err := e.svc.SetDisabled(ctx, "admin", off.ID, true); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"nobody@example.com", off.Email, known.Email} {
		if err := e.svc.ForgotPassword(ctx, email, client); err != nil {
			t.Errorf("ForgotPassword(%s) = %v, want nil", email, err)
		}
	}
	m := e.smtp.Wait(10 * time.Second)
	if m.EnvelopeTo[0] != known.Email {
		t.Errorf("mail to %q", m.EnvelopeTo)
	}
	requested := func() *observer.ObservedLogs { // a snapshot
		return e.logs.FilterLoggerName("audit").FilterMessage("password_reset_requested")
	}
	eventuallyTrue(t, "three audit lines", func() bool { return requested().Len() >= 3 })
	audit := requested()
	for result, n := range map[string]int{"unknown_email": 1, "disabled": 1, "success": 1} {
		if got := audit.FilterField(zap.String("result", result)).Len(); got != n {
			t.Errorf("%d %s lines, want %d", got, result, n)
		}
	}
	if n := e.smtp.Count(); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}

	// Not an address at all: 400 on the field, which says nothing about
	// accounts.
	p := wantProblem(t, e.svc.ForgotPassword(ctx, "not an address", client), http.StatusBadRequest, problem.ValidationFailed)
	if p.Errors["email"] == "" {
		t.Errorf("errors %v, want one on email", p.Errors)
	}
}

func eventuallyTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

// The answer does not wait for the mail server: a slow relay (or a lookup
// that finds an account) does not show in the answer's time.
func TestForgotPasswordDoesNotWaitForSMTP(t *testing.T) {
	e := newResetEnv(t, mailtest.WithDataDelay(1500*time.Millisecond))
	u := e.register(t, "slow@example.com", oldPW)
	start := time.Now()
	if err := e.svc.ForgotPassword(context.Background(), u.Email, client); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("ForgotPassword took %v with a 1.5s relay", d)
	}
	if m := e.smtp.Wait(10 * time.Second); m.ResetToken() == "" {
		t.Error("no token in the mail")
	}
}

func TestResetTokenExpires(t *testing.T) {
	e := newResetEnv(t)
	ctx := context.Background()
	u := e.register(t, "late@example.com", oldPW)
	issued := time.Now()
	e.setClock(issued)
	tok := e.requestToken(t, u.Email)

	e.setClock(issued.Add(ResetTokenTTL - time.Second))
	if err := e.svc.CheckResetToken(ctx, tok); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	e.setClock(issued.Add(ResetTokenTTL))
	wantProblem(t, e.svc.CheckResetToken(ctx, tok), http.StatusBadRequest, problem.InvalidToken)
	wantProblem(t, e.svc.ResetPassword(ctx, tok, newPW, client), http.StatusBadRequest, problem.InvalidToken)
	e.setClock(time.Time{})
	if _, err := e.svc.Login(ctx, u.Email, oldPW, client); err != nil {
		t.Errorf("an expired token changed the password: %v", err)
	}
}

// Any password change voids the tokens mailed before it.
func TestResetTokenVoidAfterPasswordChange(t *testing.T) {
	e := newResetEnv(t)
	ctx := context.Background()
	u := e.register(t, "change@example.com", oldPW)
	pair, err := e.svc.Login(ctx, u.Email, oldPW, client)
	if err != nil {
		t.Fatal(err)
	}
	tok := e.requestToken(t, u.Email)
	if err := e.svc.ChangePassword(ctx, u.ID, pair.Session.ID, oldPW, newPW, client); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, e.svc.CheckResetToken(ctx, tok), http.StatusBadRequest, problem.InvalidToken)
	wantProblem(t, e.svc.ResetPassword(ctx, tok, "an attacker's passphrase 9", client), http.StatusBadRequest, problem.InvalidToken)

	// And a password set outside the account API (administrator, command
	// line) likewise.
	tok = e.requestToken(t, u.Email)
	if err := e.users.SetPasswordHash(ctx, u.ID, "$argon2id$set-by-admin"); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, e.svc.ResetPassword(ctx, tok, "an attacker's passphrase 9", client), http.StatusBadRequest, problem.InvalidToken)
}

// A reset voids the other tokens of the user.
func TestResetVoidsTheOtherTokens(t *testing.T) {
	e := newResetEnv(t)
	ctx := context.Background()
	u := e.register(t, "two@example.com", oldPW)
	first := e.requestToken(t, u.Email)
	second := e.requestToken(t, u.Email)
	if err := e.svc.ResetPassword(ctx, second, newPW, client); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, e.svc.ResetPassword(ctx, first, "yet another passphrase 3", client), http.StatusBadRequest, problem.InvalidToken)
}

func TestResetTokenTampered(t *testing.T) {
	e := newResetEnv(t)
	ctx := context.Background()
	u := e.register(t, "ada@example.com", oldPW)
	v := e.register(t, "bob@example.com", oldPW)
	tok := e.requestToken(t, u.Email)
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for name, bad := range map[string]string{
		"first char changed": flip(tok, 0),
		"last char changed":  flip(tok, len(tok)-1),
		"middle changed":     flip(tok, 20),
		"truncated":          tok[:len(tok)-1],
		"half":               tok[:21],
		"extended":           tok + "A",
		"padded":             tok + "=",
		"empty":              "",
		"whitespace":         " " + tok,
		"upper-cased":        strings.ToUpper(tok),
		"a refresh token":    strings.Repeat("x", 43),
	} {
		t.Run(name, func(t *testing.T) {
			if bad == tok {
				t.Skip("the change is a no-op for this token")
			}
			wantProblem(t, e.svc.CheckResetToken(ctx, bad), http.StatusBadRequest, problem.InvalidToken)
			wantProblem(t, e.svc.ResetPassword(ctx, bad, newPW, client), http.StatusBadRequest, problem.InvalidToken)
		})
	}
	// Another user's token resets that user, never this one.
	theirs := e.requestToken(t, v.Email)
	if err := e.svc.ResetPassword(ctx, theirs, newPW, client); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Login(ctx, u.Email, oldPW, client); err != nil {
		t.Errorf("another user's token changed this user's password: %v", err)
	}
	if _, err := e.svc.Login(ctx, v.Email, newPW, client); err != nil {
		t.Errorf("the other user's reset did not apply: %v", err)
	}
	// And this user's own token still works.
	if err := e.svc.ResetPassword(ctx, tok, newPW, client); err != nil {
		t.Errorf("the untampered token: %v", err)
	}
}

func TestResetConcurrentConsumers(t *testing.T) {
	e := newResetEnv(t)
	ctx := context.Background()
	u := e.register(t, "race@example.com", oldPW)
	tok := e.requestToken(t, u.Email)
	const n = 6
	errs := make([]error, n)
	pws := make([]string, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		pws[i] = "racing passphrase number " + string(rune('a'+i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = e.svc.ResetPassword(ctx, tok, pws[i], client)
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch p := problem.As(err); {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("two resets with one token succeeded (%d and %d)", winner, i)
			}
			winner = i
		case p != nil && p.Code == problem.InvalidToken:
		default:
			t.Errorf("reset %d: %v, want invalid_token", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no reset succeeded")
	}
	if _, err := e.svc.Login(ctx, u.Email, pws[winner], client); err != nil {
		t.Errorf("the winner's password does not work: %v", err)
	}
}

// A weak password is refused on new_password and leaves the token usable.
func TestResetWeakPassword(t *testing.T) {
	e := newResetEnv(t)
	ctx := context.Background()
	u := e.register(t, "weak@example.com", oldPW)
	tok := e.requestToken(t, u.Email)
	for _, pw := range []string{"short", "password1234", u.Email, strings.Repeat("x", 300)} {
		err := e.svc.ResetPassword(ctx, tok, pw, client)
		p := problem.As(err)
		if p == nil || p.Status != http.StatusBadRequest || (p.Code != problem.WeakPassword && p.Code != problem.ValidationFailed) || p.Errors["new_password"] == "" {
			t.Errorf("ResetPassword(%.12q…) = %v, want 400 weak_password or validation_failed on new_password", pw, err)
		}
	}
	if err := e.svc.ResetPassword(ctx, tok, newPW, client); err != nil {
		t.Errorf("the token after refused passwords: %v", err)
	}
}

func TestForgotPasswordRateLimits(t *testing.T) {
	e := newResetEnv(t)
	ctx := context.Background()
	e.svc.Limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	e.svc.settings.Limits.ForgotPerAccount = config.Rate{Limit: 2, Window: time.Hour}
	e.svc.settings.Limits.ForgotPerIP = config.Rate{Limit: 6, Window: time.Hour}

	// Per account, counted for an address without an account too.
	for _, email := range []string{"ghost@example.com", "known@example.com"} {
		if email == "known@example.com" {
			e.register(t, email, oldPW)
		}
		for i := range 2 {
			if err := e.svc.ForgotPassword(ctx, email, client); err != nil {
				t.Fatalf("%s request %d: %v", email, i+1, err)
			}
		}
		p := wantProblem(t, e.svc.ForgotPassword(ctx, strings.ToUpper(email), client), http.StatusTooManyRequests, problem.RateLimited)
		if p.RetryAfter < time.Second {
			t.Errorf("Retry-After %v", p.RetryAfter)
		}
	}
	// Per IP: six requests counted so far (the ones refused per account
	// too), so the next from this address is refused whatever the email,
	// and another address is not.
	wantProblem(t, e.svc.ForgotPassword(ctx, "fresh@example.com", client), http.StatusTooManyRequests, problem.RateLimited)
	if err := e.svc.ForgotPassword(ctx, "fresh@example.com", Client{IP: "198.51.100.7"}); err != nil {
		t.Errorf("another address: %v", err)
	}
	audit := e.logs.FilterLoggerName("audit").FilterMessage("password_reset_requested").FilterField(zap.String("result", "rate_limited"))
	if n := audit.FilterField(zap.String("limit", "forgot_per_account")).Len(); n != 2 {
		t.Errorf("%d forgot_per_account refusals audited, want 2", n)
	}
	if n := audit.FilterField(zap.String("limit", "forgot_per_ip")).Len(); n != 1 {
		t.Errorf("%d forgot_per_ip refusals audited, want 1", n)
	}
}

// Without server.public_url the development mailer's link uses the
// request's origin; without either, no link is made up.
func TestResetLinkOrigin(t *testing.T) {
	e := newResetEnv(t)
	ctx := context.Background()
	u := e.register(t, "dev@example.com", oldPW)
	core, logs := observer.New(zapcore.DebugLevel)
	e.svc.Mailer = mail.NewLog(zap.New(core))
	e.svc.settings.PublicURL = ""
	e.svc.settings.ResetLinkFromRequest = true
	dev := client
	dev.Origin = "http://localhost:8080"
	if err := e.svc.ForgotPassword(ctx, u.Email, dev); err != nil {
		t.Fatal(err)
	}
	eventuallyTrue(t, "the logged mail", func() bool { return logs.Len() == 1 })
	text, _ := logs.All()[0].ContextMap()["text"].(string)
	if !strings.Contains(text, "http://localhost:8080/auth/password/reset?token=") {
		t.Errorf("logged mail %q, want a link on the request's origin", text)
	}

	// Mail that leaves the machine never takes the request's origin.
	e.svc.settings.ResetLinkFromRequest = false
	if err := e.svc.ForgotPassword(ctx, u.Email, dev); err != nil {
		t.Fatal(err)
	}
	eventuallyTrue(t, "the failure audit", func() bool {
		return e.logs.FilterLoggerName("audit").FilterField(zap.String("reason", "no_public_url")).Len() == 1
	})
	if logs.Len() != 1 {
		t.Errorf("a mail went out without public_url: %d", logs.Len())
	}
}

func TestResetMessage(t *testing.T) {
	link := resetPublicURL + "/auth/password/reset?token=abc"
	m, err := resetMessage(`o'brien&co@example.com`, link)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"text": m.Text, "html": m.HTML} {
		for _, want := range []string{"reset the password", "30 minutes", "ignore this mail", "token=abc"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q", name, want)
			}
		}
	}
	if !strings.Contains(m.Text, link) {
		t.Errorf("text part lacks the link")
	}
	if strings.Contains(m.HTML, "o'brien&co") || !strings.Contains(m.HTML, "o&#39;brien&amp;co@example.com") {
		t.Errorf("HTML part does not escape the address: %s", m.HTML)
	}
	if !strings.Contains(m.HTML, `href="`+link+`"`) {
		t.Errorf("HTML part lacks the link as href: %s", m.HTML)
	}
}

func TestParseResetToken(t *testing.T) {
	tok, hash, err := newResetToken()
	if err != nil {
		t.Fatal(err)
	}
	got, ok := parseResetToken(tok)
	if !ok || string(got) != string(hash) {
		t.Fatalf("parseResetToken(fresh token) = %v", ok)
	}
	for _, bad := range []string{"", tok[:42], tok + "A", tok[:42] + "=", tok[:42] + "+", tok[:42] + "/", strings.Repeat("é", 22)} {
		if _, ok := parseResetToken(bad); ok {
			t.Errorf("parseResetToken(%q) accepted", bad)
		}
	}
	// Two tokens never repeat.
	other, _, _ := newResetToken()
	if other == tok {
		t.Error("two tokens are equal")
	}
}

func TestBackgroundIsBounded(t *testing.T) {
	b := newBackground(2)
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	for range 2 {
		if !b.try(func(ctx context.Context) { started <- struct{}{}; <-release }) {
			t.Fatal("refused below the bound")
		}
	}
	<-started
	<-started
	if b.try(func(context.Context) {}) {
		t.Error("accepted beyond the bound")
	}
	close(release)
	b.close(time.Second)
	if b.try(func(context.Context) {}) {
		t.Error("accepted after close")
	}

	// Work that outlives the grace is cancelled.
	b = newBackground(1)
	cancelled := make(chan error, 1)
	b.try(func(ctx context.Context) { <-ctx.Done(); cancelled <- ctx.Err() })
	start := time.Now()
	b.close(50 * time.Millisecond)
	if err := <-cancelled; !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Errorf("close: %v after %v", err, time.Since(start))
	}
}
