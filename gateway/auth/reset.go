package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/mail"
	"github.com/authgate/gateway/gateway/observe"
	"github.com/authgate/gateway/gateway/problem"
)

// Password reset by mail (SPEC section 4, /auth/password/forgot and
// /auth/password/reset).
//
// A reset token is 256 random bits, mailed base64url-encoded in a link and
// stored only as its SHA-256 (account.ResetStore), for ResetTokenTTL. It
// works once, and is void as soon as the account's password or email
// changes by any path. A reset ends every session of the user, on every
// replica, like "log out everywhere".

// ResetTokenTTL is how long a reset link works.
const ResetTokenTTL = 30 * time.Minute

const (
	// resetTokenBytes is the token's entropy: 256 bits.
	resetTokenBytes = 32
	// maxResetMails bounds the reset mails in flight; beyond, a request is
	// answered like any other but its mail is dropped (and logged). The
	// rate limits keep a legitimate user far from it.
	maxResetMails = 32
	// resetMailTimeout bounds the lookup, the token and the SMTP exchange
	// of one reset mail.
	resetMailTimeout = 30 * time.Second
	// resetDrainTimeout is how long Close lets mails in flight finish.
	resetDrainTimeout = 5 * time.Second
)

// ResetTokens keeps password reset tokens (account.ResetStore). Tokens are
// passed as their SHA-256; a token that cannot be used is
// account.ErrResetInvalid.
type ResetTokens interface {
	// CreateReset stores a token for the user until expires.
	CreateReset(ctx context.Context, userID string, tokenHash []byte, now, expires time.Time) error
	// CheckReset returns the user the token would reset at now.
	CheckReset(ctx context.Context, tokenHash []byte, now time.Time) (string, error)
	// ConsumeReset uses the token, sets the password hash and voids the
	// user's other tokens, atomically; it returns the user's id.
	ConsumeReset(ctx context.Context, tokenHash []byte, newHash string, now time.Time) (string, error)
}

var _ ResetTokens = (*account.ResetStore)(nil)

// Rate-limit keys of the forgot flow (see the login ones in service.go).
const (
	keyForgotIP      = "forgot_ip\x00"
	keyForgotAccount = "forgot_account\x00"
)

var (
	errInvalidResetToken = problem.New(http.StatusBadRequest, problem.InvalidToken,
		"this reset link is invalid, expired or already used; ask for a new one")
	errResetUnavailable = problem.New(http.StatusServiceUnavailable, problem.Overloaded,
		"password reset is not available")
)

// ForgotPassword mails a reset link to the account of email, if there is
// one and it is enabled. Its answer never tells whether there is: nil for
// any well-formed address, in the same time, because everything that
// depends on the account (lookup, token, SMTP) runs in the background
// after the answer, bounded by resetMailTimeout and maxResetMails; a
// failure there is logged, not answered.
//
// Rate limits, both counted on every request: forgot_per_ip on the client
// address, then forgot_per_account on the normalised email, whether or not
// it has an account (a limit that applied only to real accounts would tell
// which exist). Over either is 429 rate_limited with Retry-After.
//
// The link is {server.public_url}/auth/password/reset?token=…. Without
// public_url it is built from the request's origin, but only when mail goes
// to the log (development): a mailed link built from the Host header is
// the "password reset poisoning" attack (an attacker asks for a reset of
// the victim's account with Host: evil.example, and the victim's click
// hands the token to evil.example; see PortSwigger, "Password reset
// poisoning"), so configuration validation requires public_url with SMTP.
func (s *Service) ForgotPassword(ctx context.Context, email string, c Client) error {
	if s.Resets == nil {
		return errResetUnavailable
	}
	const event = "password_reset_requested"
	if err := s.limit(ctx, event, "forgot_per_ip", keyForgotIP+c.IP, s.settings.Limits.ForgotPerIP, true, c); err != nil {
		return err
	}
	norm, err := account.NormalizeEmail(email)
	if err != nil {
		// No account can have it: saying so tells nothing about accounts.
		return validation(map[string]string{"email": emailMessage(err)})
	}
	if err := s.limit(ctx, event, "forgot_per_account", keyForgotAccount+norm, s.settings.Limits.ForgotPerAccount, true, c); err != nil {
		return err
	}
	origin := s.settings.PublicURL
	if origin == "" && s.settings.ResetLinkFromRequest {
		origin = c.Origin
	}
	if origin == "" {
		s.Logger.Error("password reset mail not sent: no origin for the link; set server.public_url")
		s.audit(event, "failure", zap.String("reason", "no_public_url"), zap.String("ip", c.IP))
		return nil
	}
	if !s.mails.try(func(ctx context.Context) { s.sendReset(ctx, norm, origin, c) }) {
		s.Logger.Warn("password reset mail dropped: too many in flight, or shutting down", zap.Int("limit", maxResetMails))
		s.audit(event, "failure", zap.String("reason", "overloaded"), zap.String("ip", c.IP))
	}
	return nil
}

// sendReset is the background part of ForgotPassword.
func (s *Service) sendReset(ctx context.Context, email, origin string, c Client) {
	const event = "password_reset_requested"
	ctx, cancel := context.WithTimeout(ctx, resetMailTimeout)
	defer cancel()
	u, err := s.Users.ByEmail(ctx, email)
	switch {
	case errors.Is(err, account.ErrNotFound):
		s.audit(event, "unknown_email", zap.String("ip", c.IP))
		return
	case err != nil:
		s.backgroundFailure(event, "database", observe.StoreDatabase, c, "", err)
		return
	}
	if u.Disabled {
		s.audit(event, "disabled", zap.String("user_id", u.ID), zap.String("ip", c.IP))
		return
	}
	tok, hash, err := newResetToken()
	if err != nil {
		s.backgroundFailure(event, "random", "", c, u.ID, err)
		return
	}
	now := s.now()
	if err := s.Resets.CreateReset(ctx, u.ID, hash, now, now.Add(ResetTokenTTL)); err != nil {
		s.backgroundFailure(event, "database", observe.StoreDatabase, c, u.ID, err)
		return
	}
	msg, err := resetMessage(u.Email, origin+"/auth/password/reset?token="+url.QueryEscape(tok))
	if err == nil {
		err = s.Mailer.Send(ctx, msg)
	}
	if err != nil {
		s.backgroundFailure(event, "mail", "", c, u.ID, err)
		return
	}
	s.audit(event, "success", zap.String("user_id", u.ID), zap.String("ip", c.IP))
}

// backgroundFailure logs and audits a failure after the answer was sent.
func (s *Service) backgroundFailure(event, reason, store string, c Client, userID string, err error) {
	if store != "" && s.Events != nil {
		s.Events.StoreError(store)
	}
	fields := []zap.Field{zap.String("reason", reason), zap.String("ip", c.IP)}
	if userID != "" {
		fields = append(fields, zap.String("user_id", userID))
	}
	s.Logger.Warn("password reset mail not sent", append(fields, zap.Error(err))...)
	s.audit(event, "failure", fields...)
}

// CheckResetToken returns nil if token would be accepted by ResetPassword
// now, else 400 invalid_token. It changes nothing: the reset page uses it
// to say "expired" before the user types a new password.
func (s *Service) CheckResetToken(ctx context.Context, token string) error {
	if s.Resets == nil {
		return errResetUnavailable
	}
	hash, ok := parseResetToken(token)
	if !ok {
		return errInvalidResetToken
	}
	if _, err := s.Resets.CheckReset(ctx, hash, s.now()); err != nil {
		if errors.Is(err, account.ErrResetInvalid) {
			return errInvalidResetToken
		}
		return s.unavailable(whatUsers, err)
	}
	return nil
}

// ResetPassword sets the password of the token's user to newPassword,
// under the rules of registration (weak_password or validation_failed on
// new_password), uses the token up, voids the user's other tokens and ends
// every session of the user on every replica. A token that cannot be used
// is 400 invalid_token; of concurrent resets with one token exactly one
// succeeds.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string, c Client) error {
	if s.Resets == nil {
		return errResetUnavailable
	}
	const event = "password_reset_done"
	invalid := func() error {
		s.audit(event, "failure", zap.String("reason", "invalid_token"), zap.String("ip", c.IP))
		return errInvalidResetToken
	}
	hash, ok := parseResetToken(token)
	if !ok {
		return invalid()
	}
	if err := s.Rules.CheckMax(newPassword); err != nil {
		return validation(map[string]string{"new_password": ruleMessage(err)})
	}
	userID, err := s.Resets.CheckReset(ctx, hash, s.now())
	switch {
	case errors.Is(err, account.ErrResetInvalid):
		return invalid()
	case err != nil:
		return s.unavailable(whatUsers, err)
	}
	u, err := s.Users.ByID(ctx, userID)
	switch {
	case errors.Is(err, account.ErrNotFound):
		return invalid()
	case err != nil:
		return s.unavailable(whatUsers, err)
	}
	if err := s.Rules.Check(newPassword, u.Email); err != nil {
		return ruleProblem(err, "new_password")
	}
	newHash, err := s.Hasher.Hash(ctx, newPassword)
	if err != nil {
		return s.unavailable("password hashing", err)
	}
	// As "log out everywhere": every session ends and every access token of
	// the user stops, here at once and on the other replicas through the
	// feed. Before the token is used up: the session store (Redis) and
	// the database fail independently, and ending the sessions after the
	// commit answered 503 with the password set, the token spent (the
	// retry got invalid_token) and the old sessions alive. In this order
	// a 503 has at most ended the sessions (fail closed, and only the
	// holder of a valid token could), and the retry with the same token
	// finishes. Like a password change, a login that checked the old
	// password meanwhile may keep its session.
	if err := s.endAllSessions(ctx, u.ID); err != nil {
		return err
	}
	// The check above was a read: the token may have been used, or the
	// password changed, since. ConsumeReset decides, atomically.
	userID, err = s.Resets.ConsumeReset(ctx, hash, newHash, s.now())
	switch {
	case errors.Is(err, account.ErrResetInvalid):
		return invalid()
	case err != nil:
		return s.unavailable(whatUsers, err)
	}
	s.audit(event, "success", zap.String("user_id", userID), zap.String("ip", c.IP))
	return nil
}

// Close lets the reset mails in flight finish for a few seconds, then
// cancels them, and returns once none runs. ForgotPassword sends no mail
// after Close.
func (s *Service) Close() { s.mails.close(resetDrainTimeout) }

// newResetToken returns a fresh token and its stored hash.
func newResetToken() (string, []byte, error) {
	b := make([]byte, resetTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, account.HashResetToken(tok), nil
}

// parseResetToken returns the stored hash of a well-formed token: exactly
// the 43 characters newResetToken makes. Anything else is refused without
// a database query.
func parseResetToken(tok string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) != resetTokenBytes {
		return nil, false
	}
	return account.HashResetToken(tok), true
}

// The reset mail. html/template escapes the link and the address in the
// HTML part.
var resetHTML = template.Must(template.New("reset").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Reset your password</title></head>
<body>
<p>Someone asked to reset the password of the account {{.Email}}.</p>
<p><a href="{{.Link}}">Choose a new password</a></p>
<p>Or copy this link into your browser:<br>{{.Link}}</p>
<p>The link works once, for {{.Minutes}} minutes.</p>
<p>If you did not ask for this, ignore this mail: your password stays as it is.</p>
</body></html>
`))

func resetMessage(to, link string) (mail.Message, error) {
	minutes := int(ResetTokenTTL / time.Minute)
	text := fmt.Sprintf("Someone asked to reset the password of the account %s.\n\n"+
		"To choose a new password, open this link:\n\n%s\n\n"+
		"The link works once, for %d minutes.\n\n"+
		"If you did not ask for this, ignore this mail: your password stays as it is.\n", to, link, minutes)
	var html bytes.Buffer
	err := resetHTML.Execute(&html, struct {
		Email, Link string
		Minutes     int
	}{to, link, minutes})
	if err != nil {
		return mail.Message{}, err
	}
	return mail.Message{To: to, Subject: "Reset your password", Text: text, HTML: html.String()}, nil
}

// background runs bounded work that outlives the request that started it.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newBackground(n int) *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel, slots: make(chan struct{}, n)}
}

// try runs f in a goroutine, unless all slots are busy or b is closed; it
// reports whether it did.
func (b *background) try(f func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	select {
	case b.slots <- struct{}{}:
	default:
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.slots }()
		f(b.ctx)
	}()
	return true
}

// close refuses new work, waits up to grace for the running work, then
// cancels it and waits for it to return.
func (b *background) close(grace time.Duration) {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		b.cancel()
		<-done
	}
	b.cancel()
}
