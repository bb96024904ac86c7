package ui

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/auth"
	"github.com/authgate/gateway/gateway/scope"
	"github.com/authgate/gateway/gateway/session"
)

// Service is the part of the account service (*auth.Service) the pages
// use. Its errors are *problem.Problem answers (shown on the page) or
// technical failures (logged, a generic message shown).
type Service interface {
	Register(ctx context.Context, email, pw, name string, c auth.Client) (account.User, error)
	Login(ctx context.Context, email, pw string, c auth.Client) (*auth.Pair, error)
	Me(ctx context.Context, userID string) (account.User, error)
	UpdateMe(ctx context.Context, userID, tokenEmail string, name, email *string) (account.User, error)
	ChangePassword(ctx context.Context, userID, sessionID, current, next string, c auth.Client) error
	ListSessions(ctx context.Context, userID string) ([]session.Session, error)
	RevokeSession(ctx context.Context, userID, sessionID string) error
	Logout(ctx context.Context, userID, sessionID string) error
	LogoutAll(ctx context.Context, userID string) error
	ForgotPassword(ctx context.Context, email string, c auth.Client) error
	ResetPassword(ctx context.Context, token, newPassword string, c auth.Client) error
	CheckResetToken(ctx context.Context, token string) error
}

// Browser is the part of the authenticator (*auth.Authenticator) the pages
// use: who is signed in, and the session cookies.
type Browser interface {
	// Authenticate returns the signed-in user of r (nil: anonymous); it
	// refreshes an expired access cookie transparently.
	Authenticate(w http.ResponseWriter, r *http.Request) (*scope.Identity, error)
	StartBrowserSession(w http.ResponseWriter, pair *auth.Pair)
	EndBrowserSession(w http.ResponseWriter)
	// Guard refuses unsafe requests from other origins and marks the
	// answer no-store.
	Guard(next echo.HandlerFunc) echo.HandlerFunc
}

var (
	_ Service = (*auth.Service)(nil)
	_ Browser = (*auth.Authenticator)(nil)
)

// Options are what Pages are built from. Service and Browser are required.
type Options struct {
	Service Service
	Browser Browser
	// RegistrationEnabled mirrors registration.enabled: when false the
	// register page says that registration is closed and the login page
	// does not link to it.
	RegistrationEnabled bool
	// PasswordMinLength is shown as a hint next to new-password fields;
	// zero shows none.
	PasswordMinLength int
	// Logger records technical failures (never form values); nil: none.
	Logger *zap.Logger
}

// Pages serves the hosted pages. It implements auth.Forms: auth.Handlers
// hands it the form posts of the paths it shares with the JSON API.
type Pages struct {
	svc     Service
	browser Browser
	opts    Options
	log     *zap.Logger
	tmpl    templates
	css     asset
}

var _ auth.Forms = (*Pages)(nil)

// New parses the embedded templates and returns the pages.
func New(o Options) (*Pages, error) {
	if o.Service == nil || o.Browser == nil {
		return nil, errors.New("ui: New: Service and Browser are required")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	css, err := loadStylesheet()
	if err != nil {
		return nil, err
	}
	p := &Pages{svc: o.Service, browser: o.Browser, opts: o, log: o.Logger, css: css}
	if p.tmpl, err = parseTemplates(); err != nil {
		return nil, err
	}
	return p, nil
}

// Paths of the pages.
const (
	pathLogin   = "/auth/login"
	pathReg     = "/auth/register"
	pathAccount = "/auth/account"
	pathForgot  = "/auth/password/forgot"
	pathReset   = "/auth/password/reset"
	pathAssets  = "/auth/assets/"
)

// Routes adds the page routes to e (named so because Register is the
// registration form's post, of auth.Forms). The form posts of login,
// registration and password reset are auth.Handlers' routes (set
// Handlers.Forms to p); the account page's posts are this package's own,
// behind the same guard.
func (p *Pages) Routes(e *echo.Echo) {
	// Per route, not a group: an Echo group with middleware registers
	// catch-all routes for its prefix.
	guard := p.browser.Guard
	e.GET(pathLogin, p.loginPage, guard)
	e.GET(pathReg, p.registerPage, guard)
	e.GET(pathAccount, p.accountPage, guard)
	e.POST(pathAccount, p.accountPost, guard)
	e.GET(pathForgot, p.forgotPage, guard)
	e.GET(pathReset, p.resetPage, guard)
	e.GET(pathAssets+":name", p.serveAsset)
}
