package auth

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/scope"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/gateway/token"
)

// Handlers serves the /auth JSON API and the JWKS.
type Handlers struct {
	svc   *Service
	authn *Authenticator
	jwks  []byte
	now   func() time.Time

	// Forms, when set before Register, answers the form posts of the hosted
	// pages on the paths they share with the API.
	Forms Forms
}

// NewHandlers returns the handlers of svc, authenticating with authn and
// publishing the public keys of keys.
func NewHandlers(svc *Service, authn *Authenticator, keys *token.KeySet) *Handlers {
	return &Handlers{svc: svc, authn: authn, jwks: keys.JWKS(), now: time.Now}
}

// Register adds the routes to e.
func (h *Handlers) Register(e *echo.Echo) {
	e.GET("/.well-known/jwks.json", h.jwksDocument)

	// The guard is route middleware, not the group's: Echo v4 gives a
	// group with middleware catch-all routes (/auth, /auth/*), and those
	// answer 404 to a known path with a method it does not serve, where
	// RFC 9110 section 15.5.6 wants 405 with Allow.
	g, guard := e.Group("/auth"), h.authn.apiGuard
	g.POST("/register", h.formOr(h.register, func(f Forms) echo.HandlerFunc { return f.Register }), guard)
	g.POST("/login", h.formOr(h.login, func(f Forms) echo.HandlerFunc { return f.Login }), guard)
	g.POST("/refresh", h.refresh, guard)
	g.POST("/logout", h.logout, guard)
	g.GET("/me", h.me, guard)
	g.PATCH("/me", h.updateMe, guard)
	g.POST("/password", h.changePassword, guard)
	g.POST("/password/forgot", h.formOr(h.forgotPassword, func(f Forms) echo.HandlerFunc { return f.ForgotPassword }), guard)
	g.POST("/password/reset", h.formOr(h.resetPassword, func(f Forms) echo.HandlerFunc { return f.ResetPassword }), guard)
	g.GET("/sessions", h.sessions, guard)
	g.DELETE("/sessions/:id", h.revokeSession, guard)
	g.GET("/openapi.json", h.openapiDocument, guard)
}

// apiGuard keeps every /auth answer out of caches (they carry tokens and
// personal data) and refuses unsafe requests that a browser sent from
// another origin (login CSRF, forced logout, password change): the /auth
// API acts on cookies. Non-browser clients send neither Sec-Fetch-Site nor
// Origin and pass; so does a request with a Bearer token, which a browser
// never attaches by itself (SPEC section 5: Bearer requests are not
// subject to CSRF checks).
func (a *Authenticator) apiGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// The security headers of every own answer are set by the gateway's
		// guard before routing.
		c.Response().Header().Set("Cache-Control", "no-store")
		r := c.Request()
		if !hasBearer(r) {
			if err := a.csrf.Check(r); err != nil {
				return errCrossOrigin
			}
		}
		return next(c)
	}
}

// hasBearer reports whether r carries one Authorization header with a
// Bearer token. Only that exempts a request from the CSRF check: a browser
// does attach Basic, Digest or Negotiate credentials it holds for the site
// to a cross-site form post by itself, and such a header let a forged
// login, refresh or logout through.
func hasBearer(r *http.Request) bool {
	h := r.Header["Authorization"]
	if len(h) != 1 {
		return false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	return ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) != ""
}

// userJSON is a user as the account API shows it.
type userJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"created_at"`
}

func userView(u account.User) userJSON {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, Roles: roles, CreatedAt: u.CreatedAt}
}

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

func (h *Handlers) register(c echo.Context) error {
	var req registerRequest
	if err := decodeJSON(c.Request(), &req); err != nil {
		return err
	}
	if err := required(map[string]string{"email": req.Email, "password": req.Password}); err != nil {
		return err
	}
	u, err := h.svc.Register(c.Request().Context(), req.Email, req.Password, req.Name, clientOf(c.Request()))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"user": userView(u)})
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Cookie asks for the browser mode: tokens in HttpOnly cookies, none in
	// the body.
	Cookie bool `json:"cookie"`
}

// tokenResponse is the answer of login and refresh. In cookie mode the
// tokens are omitted: they are in the cookies, out of reach of scripts.
type tokenResponse struct {
	AccessToken  string   `json:"access_token,omitempty"`
	TokenType    string   `json:"token_type"`
	ExpiresIn    int64    `json:"expires_in"`
	RefreshToken string   `json:"refresh_token,omitempty"`
	User         userJSON `json:"user"`
}

func (h *Handlers) login(c echo.Context) error {
	var req loginRequest
	if err := decodeJSON(c.Request(), &req); err != nil {
		return err
	}
	if err := required(map[string]string{"email": req.Email, "password": req.Password}); err != nil {
		return err
	}
	pair, err := h.svc.Login(c.Request().Context(), req.Email, req.Password, clientOf(c.Request()))
	if err != nil {
		return err
	}
	h.annotate(c, pair)
	return h.tokens(c, pair, req.Cookie)
}

func (h *Handlers) tokens(c echo.Context, pair *Pair, cookie bool) error {
	now := h.now()
	res := tokenResponse{
		TokenType: "Bearer",
		ExpiresIn: int64(pair.AccessExpires.Sub(now).Round(time.Second) / time.Second),
		User:      userView(pair.User),
	}
	if cookie {
		h.authn.cookies.set(c.Response(), pair, now)
	} else {
		res.AccessToken, res.RefreshToken = pair.AccessToken, pair.RefreshToken
	}
	return c.JSON(http.StatusOK, res)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (h *Handlers) refresh(c echo.Context) error {
	var req refreshRequest
	if err := decodeOptionalJSON(c.Request(), &req); err != nil {
		return err
	}
	cookie := false
	if req.RefreshToken == "" {
		_, req.RefreshToken = h.authn.cookies.read(c.Request())
		cookie = true
	}
	if req.RefreshToken == "" {
		return problem.New(http.StatusUnauthorized, problem.Unauthenticated, "no refresh token: send {\"refresh_token\"} or the refresh cookie")
	}
	pair, err := h.svc.Refresh(c.Request().Context(), req.RefreshToken, clientOf(c.Request()))
	if err != nil {
		if cookie {
			h.authn.cookies.clear(c.Response())
		}
		return err
	}
	h.annotate(c, pair)
	return h.tokens(c, pair, cookie)
}

func (h *Handlers) logout(c echo.Context) error {
	var req refreshRequest
	if err := decodeOptionalJSON(c.Request(), &req); err != nil {
		return err
	}
	all := c.QueryParam("all") == "true"
	ctx := c.Request().Context()
	res := c.Response()
	// Whatever happens next, the browser forgets its session.
	h.authn.cookies.clear(res)

	if req.RefreshToken != "" {
		if err := h.svc.LogoutRefresh(ctx, req.RefreshToken, all, clientOf(c.Request())); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
	id, err := h.identity(c)
	if err != nil {
		return err
	}
	// identity() refreshes an expired access cookie at the edge and sets
	// fresh cookies: they belong to the session that is ending, so the
	// answer drops them and only clears.
	res.Header().Del("Set-Cookie")
	h.authn.cookies.clear(res)
	if all {
		err = h.svc.LogoutAll(ctx, id.UserID)
	} else {
		err = h.svc.Logout(ctx, id.UserID, id.SessionID)
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handlers) me(c echo.Context) error {
	id, err := h.identity(c)
	if err != nil {
		return err
	}
	u, err := h.svc.Me(c.Request().Context(), id.UserID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, userView(u))
}

type updateMeRequest struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
}

func (h *Handlers) updateMe(c echo.Context) error {
	id, err := h.identity(c)
	if err != nil {
		return err
	}
	var req updateMeRequest
	if err := decodeJSON(c.Request(), &req); err != nil {
		return err
	}
	u, err := h.svc.UpdateMe(c.Request().Context(), id.UserID, id.Email, req.Name, req.Email)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, userView(u))
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (h *Handlers) changePassword(c echo.Context) error {
	id, err := h.identity(c)
	if err != nil {
		return err
	}
	var req passwordRequest
	if err := decodeJSON(c.Request(), &req); err != nil {
		return err
	}
	if err := required(map[string]string{"current_password": req.CurrentPassword, "new_password": req.NewPassword}); err != nil {
		return err
	}
	if err := h.svc.ChangePassword(c.Request().Context(), id.UserID, id.SessionID, req.CurrentPassword, req.NewPassword, clientOf(c.Request())); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type forgotRequest struct {
	Email string `json:"email"`
}

// forgotPassword answers 202 whatever the email: whether a mail goes out
// is not the client's business (see Service.ForgotPassword).
func (h *Handlers) forgotPassword(c echo.Context) error {
	var req forgotRequest
	if err := decodeJSON(c.Request(), &req); err != nil {
		return err
	}
	if err := required(map[string]string{"email": req.Email}); err != nil {
		return err
	}
	if err := h.svc.ForgotPassword(c.Request().Context(), req.Email, clientOf(c.Request())); err != nil {
		return err
	}
	return c.NoContent(http.StatusAccepted)
}

type resetRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

func (h *Handlers) resetPassword(c echo.Context) error {
	var req resetRequest
	if err := decodeJSON(c.Request(), &req); err != nil {
		return err
	}
	if err := required(map[string]string{"token": req.Token, "new_password": req.NewPassword}); err != nil {
		return err
	}
	if err := h.svc.ResetPassword(c.Request().Context(), req.Token, req.NewPassword, clientOf(c.Request())); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type sessionJSON struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Current    bool      `json:"current"`
}

func sessionView(s session.Session, currentID string) sessionJSON {
	return sessionJSON{ID: s.ID, CreatedAt: s.CreatedAt, LastUsedAt: s.LastUsedAt, ExpiresAt: s.ExpiresAt(),
		UserAgent: s.UserAgent, IP: s.IP, Current: s.ID == currentID}
}

func (h *Handlers) sessions(c echo.Context) error {
	id, err := h.identity(c)
	if err != nil {
		return err
	}
	list, err := h.svc.ListSessions(c.Request().Context(), id.UserID)
	if err != nil {
		return err
	}
	out := make([]sessionJSON, 0, len(list))
	for _, s := range list {
		out = append(out, sessionView(s, id.SessionID))
	}
	return c.JSON(http.StatusOK, map[string]any{"sessions": out})
}

func (h *Handlers) revokeSession(c echo.Context) error {
	id, err := h.identity(c)
	if err != nil {
		return err
	}
	if err := h.svc.RevokeSession(c.Request().Context(), id.UserID, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handlers) jwksDocument(c echo.Context) error {
	hdr := c.Response().Header()
	// Verifiers may cache the key set briefly; a rotation adds the new key
	// before it signs, so a five-minute-old copy still verifies.
	hdr.Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/json", h.jwks)
}

// identity authenticates an /auth request that needs a logged-in user. A
// 401 gets its challenge where every problem is written
// (problem.SetChallenge).
func (h *Handlers) identity(c echo.Context) (*scope.Identity, error) {
	id, err := h.authn.Authenticate(c.Response(), c.Request())
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, problem.New(http.StatusUnauthorized, problem.Unauthenticated, "authentication required")
	}
	if sc := scope.Of(c.Request()); sc != nil {
		sc.Identity = id
	}
	return id, nil
}

// annotate records the logged-in user in the request scope for the access
// log.
func (h *Handlers) annotate(c echo.Context, pair *Pair) {
	if sc := scope.Of(c.Request()); sc != nil {
		sc.Identity = &scope.Identity{UserID: pair.User.ID, Email: pair.User.Email, Roles: pair.User.Roles, SessionID: pair.Session.ID}
	}
}

// required reports the empty ones among the named fields.
func required(fields map[string]string) error {
	missing := map[string]string{}
	for name, v := range fields {
		if v == "" {
			missing[name] = "is required"
		}
	}
	if len(missing) > 0 {
		return validation(missing)
	}
	return nil
}
