// Package auth is the gateway's account API and its request authenticator.
//
// Service holds the account flows (register, login, refresh, logout,
// password change, sessions) independent of HTTP; handlers.go maps them to
// the /auth endpoints of SPEC section 4; Authenticator proves who sent a
// proxied request (Bearer token, else the gateway's cookies with transparent
// refresh) without I/O in the steady state.
//
// Guarantees:
//   - A login answer takes the same time whether or not the account exists:
//     an unknown email costs one argon2id verification like a known one.
//   - Passwords are never logged, and neither are tokens: the audit log
//     records who, what, the result and why.
//   - Every change that must end access (logout, logout everywhere,
//     password change, disabling, role changes) is applied to this
//     replica's revocation view at once and published on the feed for the
//     others. So is refresh-token reuse when the session store names the
//     session it revoked (see reused); otherwise only the session's refresh
//     tokens end at once.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/mail"
	"github.com/authgate/gateway/gateway/observe"
	"github.com/authgate/gateway/gateway/password"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/ratelimit"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/gateway/token"
)

// Users is the part of the account store the service uses.
type Users interface {
	Create(ctx context.Context, u account.User) (account.User, error)
	ByID(ctx context.Context, id string) (account.User, error)
	ByEmail(ctx context.Context, email string) (account.User, error)
	Update(ctx context.Context, id string, p account.Patch) (account.User, error)
	SetPasswordHash(ctx context.Context, id, hash string) error
	ReplacePasswordHash(ctx context.Context, id, oldHash, newHash string) (bool, error)
}

var _ Users = (*account.SQLStore)(nil)

// EventObserver counts account events, for metrics. AuthEvent is called
// once per audit log line, synchronously and concurrently: it must be fast
// and safe for concurrent use. event and result are constants of this
// package (never an email, a user id or other input).
type EventObserver interface {
	AuthEvent(event, result string)
	// StoreError counts a technical failure of a store (observe.Store*).
	StoreError(store string)
}

// Deps are what a Service is built from. All are required but Events and
// Limiter.
type Deps struct {
	Users    Users
	Sessions session.Store
	Feed     session.Feed
	View     *session.View
	Issuer   *token.Issuer
	Verifier *token.Verifier
	Hasher   *password.Hasher
	Rules    password.Rules
	Audit    *zap.Logger
	Logger   *zap.Logger
	// Events, if set, is told of every audited event.
	Events EventObserver
	// Limiter, if set, enforces Settings.Limits on login and registration;
	// nil means no limits (unit tests).
	Limiter ratelimit.Limiter
	// Resets keeps password reset tokens; nil disables password reset
	// (503). Mailer sends the reset mail; nil is the development mailer
	// writing to Logger.
	Resets ResetTokens
	Mailer mail.Mailer
}

// Settings are the configuration the flows depend on.
type Settings struct {
	RegistrationEnabled bool
	DefaultRoles        []string
	// Limits are the abuse limits, enforced when Deps.Limiter is set.
	Limits config.RateLimits
	// PublicURL is the origin reset links point to (server.public_url).
	// When empty, ResetLinkFromRequest lets the link use the origin the
	// request came to (Client.Origin); see ForgotPassword.
	PublicURL            string
	ResetLinkFromRequest bool
}

// Service implements the account flows.
type Service struct {
	Deps
	settings Settings
	now      func() time.Time
	// mails runs the reset mails in the background (reset.go).
	mails *background
}

// NewService checks deps and returns a Service.
func NewService(d Deps, s Settings) (*Service, error) {
	if d.Users == nil || d.Sessions == nil || d.Feed == nil || d.View == nil ||
		d.Issuer == nil || d.Verifier == nil || d.Hasher == nil {
		return nil, errors.New("auth: NewService: missing dependency")
	}
	if d.Audit == nil {
		d.Audit = zap.NewNop()
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.Mailer == nil {
		d.Mailer = mail.NewLog(d.Logger.Named("mail"))
	}
	return &Service{Deps: d, settings: s, now: time.Now, mails: newBackground(maxResetMails)}, nil
}

// Client describes who is calling, for sessions and the audit log.
type Client struct {
	IP        string
	UserAgent string
	// Origin is scheme://host the request was sent to, as the edge
	// established it (a validated Host); reset links use it only when
	// server.public_url is empty and mail goes to the log.
	Origin string
}

// Pair is a fresh access token with its refresh token.
type Pair struct {
	AccessToken    string
	AccessExpires  time.Time
	RefreshToken   string
	RefreshExpires time.Time
	Session        *session.Session
	User           account.User
}

// Problems the flows answer with.
var (
	errInvalidCredentials = problem.New(http.StatusUnauthorized, problem.InvalidCredentials, "email or password is incorrect")
	errAccountDisabled    = problem.New(http.StatusForbidden, problem.AccountDisabled, "this account is disabled")
	errInvalidRefresh     = problem.New(http.StatusUnauthorized, problem.InvalidToken, "the refresh token is invalid or has been revoked")
	errExpiredRefresh     = problem.New(http.StatusUnauthorized, problem.TokenExpired, "the session has expired; log in again")
	// errAccountGone answers a valid token whose user was deleted since.
	errAccountGone = problem.New(http.StatusUnauthorized, problem.InvalidToken, "the account no longer exists")
)

// What failed, as unavailable names it to the client; each maps to a store
// label of gateway_store_errors_total.
const (
	whatUsers    = "the user database"
	whatSessions = "the session store"
	whatFeed     = "the revocation feed"
	whatLimiter  = "the rate limiter"
)

// storeOf maps what failed to the store label of the metric; "" for what is
// not a store (password hashing).
var storeOf = map[string]string{
	whatUsers: observe.StoreDatabase, whatSessions: observe.StoreSessions, whatFeed: observe.StoreFeed,
	whatLimiter: observe.StoreRateLimit,
}

// unavailable wraps a technical failure of a store as 503: the request may
// succeed later, and the cause is logged, never sent. Store failures are
// counted for operators (gateway_store_errors_total).
func (s *Service) unavailable(what string, err error) error {
	if p := problem.As(err); p != nil {
		return p
	}
	if ra, ok := password.RetryAfter(err); ok {
		return &problem.Problem{Status: http.StatusServiceUnavailable, Code: problem.Overloaded,
			Detail: "too many logins in progress; try again shortly", RetryAfter: ra, Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return problem.Wrap(http.StatusServiceUnavailable, problem.Overloaded, "the request was cancelled", err)
	}
	if store := storeOf[what]; store != "" && s.Events != nil {
		s.Events.StoreError(store)
	}
	return &problem.Problem{Status: http.StatusServiceUnavailable, Code: problem.Overloaded,
		Detail: what + " is unavailable; try again shortly", RetryAfter: 5 * time.Second, Err: err}
}

// Register creates an account with the default roles.
func (s *Service) Register(ctx context.Context, email, pw, name string, c Client) (account.User, error) {
	if !s.settings.RegistrationEnabled {
		return account.User{}, problem.New(http.StatusForbidden, problem.Forbidden, "registration is disabled")
	}
	if err := s.limit(ctx, "register", "register_per_ip", keyRegisterIP+c.IP, s.settings.Limits.RegisterPerIP, true, c); err != nil {
		return account.User{}, err
	}
	fields := map[string]string{}
	norm, err := account.NormalizeEmail(email)
	if err != nil {
		fields["email"] = emailMessage(err)
	}
	if msg := nameMessage(name); msg != "" {
		fields["name"] = msg
	}
	if err := s.Rules.Check(pw, norm); err != nil {
		var re *password.RuleError
		if errors.As(err, &re) && len(fields) == 0 {
			return account.User{}, &problem.Problem{Status: http.StatusBadRequest, Code: re.Code,
				Detail: re.Message, Errors: map[string]string{"password": re.Message}}
		}
		if errors.As(err, &re) {
			fields["password"] = re.Message
		}
	}
	if len(fields) > 0 {
		return account.User{}, validation(fields)
	}
	hash, err := s.Hasher.Hash(ctx, pw)
	if err != nil {
		return account.User{}, s.unavailable("password hashing", err)
	}
	u, err := s.Users.Create(ctx, account.User{Email: norm, Name: name, PasswordHash: hash, Roles: s.settings.DefaultRoles})
	if err != nil {
		if errors.Is(err, account.ErrEmailTaken) {
			s.audit("register", "failure", zap.String("email", norm), zap.String("reason", "email_taken"), zap.String("ip", c.IP))
		}
		return account.User{}, s.userError(err)
	}
	s.audit("register", "success", zap.String("user_id", u.ID), zap.String("email", u.Email), zap.String("ip", c.IP))
	return u, nil
}

// Login checks the credentials and starts a session.
//
// Rate limits (when a Limiter is set), in this order and before any
// password hashing: login_per_ip counts every attempt from the client IP;
// login_per_account_ip and login_per_account are keyed on the normalised
// email (with the client IP for the first) and count failed attempts only,
// so a user who types the right password is never slowed by their own
// logins, but every attempt is refused while either is exhausted.
// login_per_account_ip is the tighter of the two (5 against 10 per 15
// minutes by default): an attacker guessing from one address is stopped
// there, long before the account-wide limit, so the owner can still log in
// from their own address. Only failures spread over several addresses reach
// login_per_account, and even then GCRA lets one more attempt through every
// window/limit (90 s by default): a slowdown, not a lockout.
func (s *Service) Login(ctx context.Context, email, pw string, c Client) (*Pair, error) {
	if err := s.limit(ctx, "login", "login_per_ip", keyLoginIP+c.IP, s.settings.Limits.LoginPerIP, true, c); err != nil {
		return nil, err
	}
	if err := s.Rules.CheckMax(pw); err != nil {
		// Refused before any hashing, so that a 1 MB "password" costs
		// nothing (SPEC section 9).
		return nil, validation(map[string]string{"password": ruleMessage(err)})
	}
	norm, err := account.NormalizeEmail(email)
	fail := func(reason string, u *account.User) (*Pair, error) {
		fields := []zap.Field{zap.String("reason", reason), zap.String("ip", c.IP)}
		if u != nil {
			fields = append(fields, zap.String("user_id", u.ID))
		}
		s.audit("login", "failure", fields...)
		if norm != "" {
			if err := s.countFailure(ctx, norm, c); err != nil {
				return nil, err
			}
		}
		return nil, errInvalidCredentials
	}
	if err == nil {
		// Checked for unknown addresses too: whether a limit applies must
		// not tell which addresses have accounts.
		if err := s.checkAccountLimits(ctx, "login", norm, c); err != nil {
			return nil, err
		}
	}
	if err != nil {
		if err := s.Hasher.VerifyUnknown(ctx, pw); err != nil {
			return nil, s.unavailable("password hashing", err)
		}
		return fail("invalid_email", nil)
	}
	u, err := s.Users.ByEmail(ctx, norm)
	switch {
	case errors.Is(err, account.ErrNotFound):
		// Same cost as a real check: timing must not tell which
		// addresses have accounts.
		if err := s.Hasher.VerifyUnknown(ctx, pw); err != nil {
			return nil, s.unavailable("password hashing", err)
		}
		return fail("unknown_email", nil)
	case err != nil:
		return nil, s.unavailable(whatUsers, err)
	}
	if u.PasswordHash == "" {
		if err := s.Hasher.VerifyUnknown(ctx, pw); err != nil {
			return nil, s.unavailable("password hashing", err)
		}
		return fail("no_password", &u)
	}
	ok, rehash, err := s.Hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return nil, s.unavailable("password hashing", err)
	}
	if !ok {
		return fail("bad_password", &u)
	}
	if rehash && !u.Disabled {
		s.rehash(ctx, u, pw)
	}
	// The account as it is now, with the stamp read before it: a role
	// change or a disable that committed while the password was checked
	// (tens of milliseconds) is either seen here or bumps the stamp after
	// this read, which makes the token stale; the roles read by ByEmail
	// must not be signed under a stamp read after them.
	stamp, err := s.Sessions.UserStamp(ctx, u.ID)
	if err != nil {
		return nil, s.unavailable(whatSessions, err)
	}
	u, err = s.Users.ByID(ctx, u.ID)
	switch {
	case errors.Is(err, account.ErrNotFound): // deleted meanwhile
		return fail("unknown_email", nil)
	case err != nil:
		return nil, s.unavailable(whatUsers, err)
	}
	// Disabled is told only to whoever knows the password.
	if u.Disabled {
		s.audit("login", "failure", zap.String("reason", "disabled"), zap.String("user_id", u.ID), zap.String("ip", c.IP))
		return nil, errAccountDisabled
	}
	sess, refresh, err := s.Sessions.Create(ctx, session.NewSession{UserID: u.ID, UserAgent: c.UserAgent, IP: c.IP}, s.now())
	if err != nil {
		return nil, s.unavailable(whatSessions, err)
	}
	pair, err := s.issue(u, sess, refresh, stamp)
	if err != nil {
		return nil, err
	}
	s.audit("login", "success", zap.String("user_id", u.ID), zap.String("session_id", sess.ID), zap.String("ip", c.IP))
	return pair, nil
}

// Rate-limit keys: a name per limit, then the subject. The limiters store
// only a SHA-256 of the key, never the email or address in it.
const (
	keyLoginIP        = "login_ip\x00"
	keyLoginAccount   = "login_account\x00"
	keyLoginAccountIP = "login_account_ip\x00"
	keyRegisterIP     = "register_ip\x00"
)

func accountIPKey(email, ip string) string { return keyLoginAccountIP + email + "\x00" + ip }

// limit applies one rate limit: record counts the attempt (Allow), else it
// is only checked (Check). Over the limit is 429 rate_limited with
// Retry-After, audited as event "rate_limited"; a limiter that cannot
// answer is 503: the limits fail closed.
func (s *Service) limit(ctx context.Context, event, name, key string, r config.Rate, record bool, c Client) error {
	if s.Limiter == nil {
		return nil
	}
	var res ratelimit.Result
	var err error
	if record {
		res, err = s.Limiter.Allow(ctx, key, r)
	} else {
		res, err = s.Limiter.Check(ctx, key, r)
	}
	if err != nil {
		return s.unavailable(whatLimiter, err)
	}
	if res.Allowed {
		return nil
	}
	s.audit(event, "rate_limited", zap.String("limit", name), zap.String("ip", c.IP))
	return &problem.Problem{Status: http.StatusTooManyRequests, Code: problem.RateLimited,
		Detail: "too many attempts; try again later", RetryAfter: max(res.RetryAfter, time.Second)}
}

// checkAccountLimits refuses an attempt at the password of the account
// with address email (normalised) while login_per_account_ip or
// login_per_account is used up. It records nothing: failures are recorded
// by countFailure, after the hash, so guesses sent at once all pass this
// check before the first failure is recorded (a known gap, see the
// README's rate limits).
func (s *Service) checkAccountLimits(ctx context.Context, event, email string, c Client) error {
	if err := s.limit(ctx, event, "login_per_account_ip", accountIPKey(email, c.IP), s.settings.Limits.LoginPerAccountIP, false, c); err != nil {
		return err
	}
	return s.limit(ctx, event, "login_per_account", keyLoginAccount+email, s.settings.Limits.LoginPerAccount, false, c)
}

// countFailure records a failed login against the per-account limits. The
// answer stays "invalid credentials" even when this failure uses up a
// limit: the next attempt is the one refused.
func (s *Service) countFailure(ctx context.Context, email string, c Client) error {
	if s.Limiter == nil {
		return nil
	}
	if _, err := s.Limiter.Allow(ctx, accountIPKey(email, c.IP), s.settings.Limits.LoginPerAccountIP); err != nil {
		return s.unavailable(whatLimiter, err)
	}
	if _, err := s.Limiter.Allow(ctx, keyLoginAccount+email, s.settings.Limits.LoginPerAccount); err != nil {
		return s.unavailable(whatLimiter, err)
	}
	return nil
}

// rehash stores a hash with the current parameters after a login proved the
// password. It swaps only if the stored hash is still the one verified: a
// password change that committed meanwhile must not be undone by a login
// with the old password. Failure only delays the upgrade to the next login.
func (s *Service) rehash(ctx context.Context, u account.User, pw string) {
	hash, err := s.Hasher.Hash(ctx, pw)
	if err == nil {
		_, err = s.Users.ReplacePasswordHash(ctx, u.ID, u.PasswordHash, hash)
	}
	if err != nil {
		s.Logger.Warn("password rehash failed", zap.String("user_id", u.ID), zap.Error(err))
	}
}

// Refresh rotates a refresh token and issues a new pair with the user's
// current roles. A replayed old token ends the session (theft detection).
func (s *Service) Refresh(ctx context.Context, refreshToken string, c Client) (*Pair, error) {
	sess, refresh, err := s.Sessions.Rotate(ctx, refreshToken, s.now())
	switch {
	case errors.Is(err, session.ErrReused):
		s.reused(ctx, sess, c)
		return nil, errInvalidRefresh
	case errors.Is(err, session.ErrExpired):
		return nil, errExpiredRefresh
	case errors.Is(err, session.ErrInvalid):
		s.audit("refresh", "failure", zap.String("reason", "invalid_token"), zap.String("ip", c.IP))
		return nil, errInvalidRefresh
	case err != nil:
		return nil, s.unavailable(whatSessions, err)
	}
	u, err := s.Users.ByID(ctx, sess.UserID)
	switch {
	case errors.Is(err, account.ErrNotFound):
		_ = s.endSession(ctx, sess.UserID, sess.ID)
		return nil, errInvalidRefresh
	case err != nil:
		s.undoRotate(ctx, sess, refresh)
		return nil, s.unavailable(whatUsers, err)
	}
	if u.Disabled {
		_ = s.endSession(ctx, u.ID, sess.ID)
		s.audit("refresh", "failure", zap.String("reason", "disabled"), zap.String("user_id", u.ID))
		return nil, errAccountDisabled
	}
	// The stamp came with the rotation, read before the user's roles
	// were: see session.Session.UserStamp.
	pair, err := s.issue(u, sess, refresh, sess.UserStamp)
	if err != nil {
		s.undoRotate(ctx, sess, refresh)
		return nil, err
	}
	s.audit("refresh", "success", zap.String("user_id", u.ID), zap.String("session_id", sess.ID))
	return pair, nil
}

// undoTimeout bounds undoRotate, which may run after the client has gone.
const undoTimeout = time.Second

// undoRotate takes back the rotation of a refresh that failed after it (the
// user read or the signing), whose new token the client never gets. The
// client still holds the token it sent, which the rotation made the
// previous one: a retry later than reuse_grace (an outage outlasts it)
// would be taken for reuse and end the session, logging the user out for
// an outage. Undone, that token is the newest again and the retry works
// whenever it comes. Best effort, on a context of its own so that a client
// that cancelled (its request context is done) is still undone; a failure
// is logged and the answer stays what it was. The store does nothing if
// the rotation was a sibling or the session has moved on since.
func (s *Service) undoRotate(ctx context.Context, sess *session.Session, refresh string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	undone, err := s.Sessions.UndoRotate(ctx, sess, refresh, s.now())
	if err != nil {
		s.Logger.Warn("undoing a refresh token rotation failed; a retry after reuse_grace ends the session",
			zap.String("session_id", sess.ID), zap.Error(err))
		return
	}
	if ce := s.Logger.Check(zap.DebugLevel, "refresh token rotation after a failed refresh"); ce != nil {
		ce.Write(zap.String("session_id", sess.ID), zap.Bool("undone", undone))
	}
}

// reused answers a replayed refresh token (theft detection): the store has
// revoked the session, and its access tokens must stop too, here at once
// and on every replica. That needs the session's id, which the presented
// token (opaque) does not carry: when the store names the session it
// revoked (a non-nil session with ErrReused) it is published like a logout;
// otherwise the session's access tokens end with their short lifetime.
func (s *Service) reused(ctx context.Context, sess *session.Session, c Client) {
	fields := []zap.Field{zap.String("ip", c.IP), zap.String("user_agent", c.UserAgent)}
	if sess != nil && sess.ID != "" {
		fields = append(fields, zap.String("user_id", sess.UserID), zap.String("session_id", sess.ID))
		// The answer is a 401 whatever happens: a feed failure is logged,
		// and this replica has applied the revocation already.
		if err := s.publish(ctx, session.Event{Kind: session.KindSessionRevoked, UserID: sess.UserID, SessionID: sess.ID}); err != nil {
			s.Logger.Warn("publishing the revocation of a reused session failed", zap.String("session_id", sess.ID), zap.Error(err))
		}
	}
	s.audit("refresh", "reuse_detected", fields...)
}

// issue signs the access token of a session, with the user's security
// stamp. The token expires with the session if that comes first (the
// earlier of its idle and absolute expiry): ending every session of a user
// (logout everywhere, a password change or reset, disabling) revokes only
// the sessions that are still live, so a token that outlived its session
// would stay good to its own exp whatever the user did (an access_ttl of
// 60 s with a refresh_max_ttl of 5 s gave a token issued at 3 s a minute
// past its session). expires_in and the access cookie's Max-Age follow
// the exp returned here.
func (s *Service) issue(u account.User, sess *session.Session, refresh string, stamp int64) (*Pair, error) {
	at, exp, err := s.Issuer.IssueAccess(token.AccessClaims{
		Subject: u.ID, SessionID: sess.ID, Email: u.Email, Roles: u.Roles, Stamp: stamp,
		ExpiresAt: sess.ExpiresAt(),
	})
	if err != nil {
		return nil, fmt.Errorf("auth: signing access token: %w", err)
	}
	return &Pair{AccessToken: at, AccessExpires: exp, RefreshToken: refresh,
		RefreshExpires: sess.ExpiresAt(), Session: sess, User: u}, nil
}

// Logout ends one session.
func (s *Service) Logout(ctx context.Context, userID, sessionID string) error {
	if err := s.endSession(ctx, userID, sessionID); err != nil && !errors.Is(err, session.ErrNotFound) {
		return err
	}
	s.audit("logout", "success", zap.String("user_id", userID), zap.String("session_id", sessionID))
	return nil
}

// LogoutRefresh ends the session of a refresh token, or with all every
// session of its user.
func (s *Service) LogoutRefresh(ctx context.Context, refreshToken string, all bool, c Client) error {
	// The store finds sessions by refresh token only through rotation;
	// the new token is discarded with the session.
	sess, _, err := s.Sessions.Rotate(ctx, refreshToken, s.now())
	switch {
	case errors.Is(err, session.ErrReused):
		s.reused(ctx, sess, c)
		return errInvalidRefresh
	case errors.Is(err, session.ErrInvalid):
		return errInvalidRefresh
	case err != nil:
		return s.unavailable(whatSessions, err)
	}
	if all {
		return s.LogoutAll(ctx, sess.UserID)
	}
	return s.Logout(ctx, sess.UserID, sess.ID)
}

// LogoutAll ends every session of the user.
func (s *Service) LogoutAll(ctx context.Context, userID string) error {
	if err := s.endAllSessions(ctx, userID); err != nil {
		return err
	}
	s.audit("logout", "success", zap.String("user_id", userID), zap.Bool("all", true))
	return nil
}

// ChangePassword checks the current password, stores the new one and ends
// the user's other sessions.
//
// The other sessions end first, then the password is stored. The session
// store (Redis) and the user database fail independently; in the other
// order a failure to end the sessions answered 503 with the password
// already changed and the sessions (of whoever knew the old password)
// alive, and the client's retry was refused because its current password
// was no longer right. In this order a 503 has changed nothing or only
// ended the other sessions (fail closed: they log in again), and the retry
// finishes. As before, a login that checked the old password while the
// change ran may keep the session it creates after the revocation (see
// session.Store.RevokeUser).
//
// The current password is a password check like a login's, and counts
// against the same per-account limits (login_per_account_ip,
// login_per_account): whoever holds a stolen access token or cookie must
// not get unlimited guesses at the password here, outside every login
// limit.
func (s *Service) ChangePassword(ctx context.Context, userID, sessionID, current, next string, c Client) error {
	if err := s.Rules.CheckMax(current); err != nil {
		return validation(map[string]string{"current_password": ruleMessage(err)})
	}
	u, err := s.Users.ByID(ctx, userID)
	if err != nil {
		if errors.Is(err, account.ErrNotFound) {
			return errAccountGone
		}
		return s.unavailable(whatUsers, err)
	}
	if err := s.Rules.Check(next, u.Email); err != nil {
		return ruleProblem(err, "new_password")
	}
	if err := s.checkAccountLimits(ctx, "password_change", u.Email, c); err != nil {
		return err
	}
	ok := false
	if u.PasswordHash != "" {
		if ok, _, err = s.Hasher.Verify(ctx, current, u.PasswordHash); err != nil {
			return s.unavailable("password hashing", err)
		}
	}
	if !ok {
		s.audit("password_change", "failure", zap.String("user_id", userID), zap.String("reason", "bad_password"), zap.String("ip", c.IP))
		if err := s.countFailure(ctx, u.Email, c); err != nil {
			return err
		}
		return &problem.Problem{Status: http.StatusForbidden, Code: problem.InvalidCredentials,
			Detail: "the current password is incorrect", Errors: map[string]string{"current_password": "is incorrect"}}
	}
	hash, err := s.Hasher.Hash(ctx, next)
	if err != nil {
		return s.unavailable("password hashing", err)
	}
	if err := s.endUserSessions(ctx, userID, sessionID); err != nil {
		return err
	}
	if err := s.Users.SetPasswordHash(ctx, userID, hash); err != nil {
		return s.unavailable(whatUsers, err)
	}
	s.audit("password_change", "success", zap.String("user_id", userID), zap.String("session_id", sessionID))
	return nil
}

// Me returns the current user.
func (s *Service) Me(ctx context.Context, userID string) (account.User, error) {
	u, err := s.Users.ByID(ctx, userID)
	switch {
	case errors.Is(err, account.ErrNotFound):
		return u, errAccountGone
	case err != nil:
		return u, s.unavailable(whatUsers, err)
	}
	return u, nil
}

// UpdateMe changes the user's own name or email. tokenEmail is the address
// in the caller's access token. Access tokens carry the address, so they
// become stale (the stamp moves) whenever the stored address differs from
// the caller's token's after the update: on a change, and also on the retry
// of a change whose first request wrote the address and then failed (503)
// to move the stamp, which comparing the stored address before and after
// would take for "nothing changed". A save that changes nothing leaves the
// tokens alone.
func (s *Service) UpdateMe(ctx context.Context, userID, tokenEmail string, name, email *string) (account.User, error) {
	fields := map[string]string{}
	p := account.Patch{Name: name}
	if name != nil {
		if msg := nameMessage(*name); msg != "" {
			fields["name"] = msg
		}
	}
	if email != nil {
		norm, err := account.NormalizeEmail(*email)
		if err != nil {
			fields["email"] = emailMessage(err)
		}
		p.Email = &norm
	}
	if len(fields) > 0 {
		return account.User{}, validation(fields)
	}
	u, err := s.Users.Update(ctx, userID, p)
	switch {
	case errors.Is(err, account.ErrNotFound):
		return u, errAccountGone
	case err != nil:
		return u, s.userError(err)
	}
	if u.Email != tokenEmail {
		if err := s.bumpStamp(ctx, userID); err != nil {
			return u, err
		}
		s.audit("email_change", "success", zap.String("user_id", userID))
	}
	return u, nil
}

// ListSessions lists the user's live sessions.
func (s *Service) ListSessions(ctx context.Context, userID string) ([]session.Session, error) {
	list, err := s.Sessions.ListByUser(ctx, userID)
	if err != nil {
		return nil, s.unavailable(whatSessions, err)
	}
	return list, nil
}

// RevokeSession ends one of the user's own sessions; another user's session
// is "not found", so that ids cannot be probed.
func (s *Service) RevokeSession(ctx context.Context, userID, sessionID string) error {
	sess, err := s.Sessions.Get(ctx, sessionID)
	switch {
	case errors.Is(err, session.ErrNotFound) || (err == nil && sess.UserID != userID):
		return problem.New(http.StatusNotFound, problem.NotFound, "no such session")
	case err != nil:
		return s.unavailable(whatSessions, err)
	}
	if err := s.endSession(ctx, userID, sessionID); err != nil {
		return err
	}
	s.audit("session_revoke", "success", zap.String("user_id", userID), zap.String("session_id", sessionID))
	return nil
}

// SetDisabled disables or enables an account. Disabling ends every session
// and makes every access token of the user stale on every replica.
//
// Disabling writes the row first and enforces it after: enforced before,
// a login or refresh in between would still read an enabled user and
// issue a token, in a new session or under the new stamp. So when the
// session store fails after the write, the 503 leaves a disabled user
// whose tokens still work: the caller's retry must run this again, and it
// does all of it even when the user is disabled already (idempotent). The
// admin API and the CLI call it for every request to disable.
func (s *Service) SetDisabled(ctx context.Context, actorID, userID string, disabled bool) (account.User, error) {
	u, err := s.Users.Update(ctx, userID, account.Patch{Disabled: &disabled})
	if err != nil {
		return u, s.userError(err)
	}
	if disabled {
		if err := s.endAllSessions(ctx, userID); err != nil {
			return u, err
		}
	}
	s.audit("user_disable", "success", zap.String("actor_id", actorID), zap.String("user_id", userID), zap.Bool("disabled", disabled))
	return u, nil
}

// SetRoles replaces a user's roles. Access tokens carrying the old roles
// become stale on every replica: the next request refreshes and sees the new
// ones. The stamp is bumped after the roles are written, and always, also
// when they were already the ones given: a retry after a 503 from the
// session store finishes the change (see SetDisabled).
func (s *Service) SetRoles(ctx context.Context, actorID, userID string, roles []string) (account.User, error) {
	u, err := s.Users.Update(ctx, userID, account.Patch{Roles: &roles})
	if err != nil {
		return u, s.userError(err)
	}
	if err := s.bumpStamp(ctx, userID); err != nil {
		return u, err
	}
	s.audit("role_change", "success", zap.String("actor_id", actorID), zap.String("user_id", userID), zap.Strings("roles", u.Roles))
	return u, nil
}

// userError maps an account store error to an answer.
func (s *Service) userError(err error) error {
	switch {
	case errors.Is(err, account.ErrNotFound):
		return problem.New(http.StatusNotFound, problem.NotFound, "no such user")
	case errors.Is(err, account.ErrInvalidRole):
		return validation(map[string]string{"roles": "role names are letters, digits and _.:- (at most 64)"})
	case errors.Is(err, account.ErrEmailTaken):
		return &problem.Problem{Status: http.StatusConflict, Code: problem.EmailTaken,
			Detail: "an account with this email already exists", Errors: map[string]string{"email": "is already registered"}}
	default:
		return s.unavailable(whatUsers, err)
	}
}

// endSession revokes a session in the store and publishes it, so that its
// access tokens stop working on every replica.
func (s *Service) endSession(ctx context.Context, userID, sessionID string) error {
	if err := s.Sessions.Revoke(ctx, sessionID); err != nil && !errors.Is(err, session.ErrNotFound) {
		return s.unavailable(whatSessions, err)
	}
	return s.publish(ctx, session.Event{Kind: session.KindSessionRevoked, UserID: userID, SessionID: sessionID})
}

// endAllSessions ends every session of the user and makes every access
// token of the user stale (the stamp), as "log out everywhere" promises
// (SPEC 5). The sessions alone are not enough: the store names only the
// sessions live now, and an access token may outlive its session by the
// verifier's clock leeway (up to 30 s), so a session that ended a moment
// ago would keep a token nobody revokes. Every session ending, no token
// of the user needs to stay good.
func (s *Service) endAllSessions(ctx context.Context, userID string) error {
	if err := s.endUserSessions(ctx, userID, ""); err != nil {
		return err
	}
	return s.bumpStamp(ctx, userID)
}

// endUserSessions revokes every session of the user but exceptID.
func (s *Service) endUserSessions(ctx context.Context, userID, exceptID string) error {
	ids, err := s.Sessions.RevokeUser(ctx, userID, exceptID)
	if err != nil {
		return s.unavailable(whatSessions, err)
	}
	for _, id := range ids {
		if err := s.publish(ctx, session.Event{Kind: session.KindSessionRevoked, UserID: userID, SessionID: id}); err != nil {
			return err
		}
	}
	return nil
}

// bumpStamp makes every access token of the user stale.
func (s *Service) bumpStamp(ctx context.Context, userID string) error {
	stamp, err := s.Sessions.BumpUserStamp(ctx, userID)
	if err != nil {
		return s.unavailable(whatSessions, err)
	}
	return s.publish(ctx, session.Event{Kind: session.KindUserStamp, UserID: userID, Stamp: stamp})
}

// publish applies e here at once and sends it to the other replicas.
func (s *Service) publish(ctx context.Context, e session.Event) error {
	if err := s.View.Publish(ctx, s.Feed, e); err != nil {
		return s.unavailable(whatFeed, err)
	}
	return nil
}

func (s *Service) audit(event, result string, fields ...zap.Field) {
	s.Audit.Info(event, append(fields, zap.String("event", event), zap.String("result", result))...)
	if s.Events != nil {
		s.Events.AuthEvent(event, result)
	}
}

// maxNameLen bounds display names, in bytes.
const maxNameLen = 200

// nameMessage returns why name cannot be a display name, or "" when it can.
// Every path that stores a name checks it first (registration, PATCH
// /auth/me, the admin API and CLI), before any password is hashed. A name
// is one line of text, shown on pages, in lists and in the identity an
// administrator reads, so it is refused with:
//   - invalid UTF-8, and control characters (C0, DEL, C1): PostgreSQL
//     refuses both in TEXT (a NUL came back as 503 "the user database is
//     unavailable" and counted as a store error, while SQLite stored it);
//     the hosted forms refuse NUL in any field already;
//   - line and paragraph separators (U+2028, U+2029): line breaks by
//     another name;
//   - the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
//     U+2066-U+2069), which reorder the text displayed after them
//     ("Trojan Source", CVE-2021-42574). The marks LRM, RLM and ALM, and
//     joiners such as the ZWJ of emoji sequences, are text and pass.
func nameMessage(name string) string {
	if len(name) > maxNameLen {
		return fmt.Sprintf("must be at most %d characters", maxNameLen)
	}
	if !utf8.ValidString(name) {
		return "must be valid UTF-8 text"
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r), r == '\u2028', r == '\u2029':
			return "must not contain control characters or line breaks"
		case '\u202A' <= r && r <= '\u202E', '\u2066' <= r && r <= '\u2069':
			return "must not contain bidirectional override characters"
		}
	}
	return ""
}

func validation(fields map[string]string) error {
	return &problem.Problem{Status: http.StatusBadRequest, Code: problem.ValidationFailed,
		Detail: "some fields are invalid", Errors: fields}
}

// ruleMessage is the client-facing text of a password rule error (its
// Error() carries the Go sentinel's text too).
// ruleProblem answers a password that breaks a rule (a *password.RuleError
// from Rules.Check): 400 with the rule's code, its message on field. Any
// other error is returned as it is.
func ruleProblem(err error, field string) error {
	var re *password.RuleError
	if errors.As(err, &re) {
		return &problem.Problem{Status: http.StatusBadRequest, Code: re.Code, Detail: re.Message,
			Errors: map[string]string{field: re.Message}}
	}
	return err
}

func ruleMessage(err error) string {
	var re *password.RuleError
	if errors.As(err, &re) {
		return re.Message
	}
	return "is not acceptable"
}

func emailMessage(err error) string {
	var ee *account.EmailError
	if errors.As(err, &ee) {
		return ee.Msg
	}
	return "is not a valid email address"
}
