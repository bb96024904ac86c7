package auth

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/scope"
)

// Directory is the part of the account store the admin API adds: listing.
type Directory interface {
	List(ctx context.Context, q account.Query) ([]account.User, string, error)
}

var _ Directory = (*account.SQLStore)(nil)

// Admin serves /auth/admin: user administration. Who may call it is decided
// by the policy before the request reaches these handlers (the gateway
// authorizes every /auth/admin request like a proxied one); the handlers
// only need the caller's identity, for the audit log.
type Admin struct {
	svc   *Service
	dir   Directory
	authn *Authenticator
}

// NewAdmin returns the admin handlers.
func NewAdmin(svc *Service, dir Directory, authn *Authenticator) *Admin {
	return &Admin{svc: svc, dir: dir, authn: authn}
}

// Register adds the /auth/admin routes to e.
func (a *Admin) Register(e *echo.Echo) {
	// Route middleware, not the group's, for the reason given in
	// Handlers.Register (405, not 404, for a method a path does not serve).
	g, protect := e.Group("/auth/admin"), a.protect
	g.GET("/users", a.list, protect)
	g.POST("/users", a.create, protect)
	g.GET("/users/:id", a.get, protect)
	g.PATCH("/users/:id", a.patch, protect)
	g.GET("/users/:id/sessions", a.sessions, protect)
	g.DELETE("/users/:id/sessions", a.revokeSessions, protect)
}

// protect applies the /auth guard (no caching, no cross-origin cookie
// requests) and fails closed: it serves only requests the gateway has
// authenticated and the policy has allowed.
func (a *Admin) protect(next echo.HandlerFunc) echo.HandlerFunc {
	return a.authn.apiGuard(func(c echo.Context) error {
		if sc := scope.Of(c.Request()); sc == nil || sc.Identity == nil || sc.Decision != "allow" {
			return problem.New(http.StatusForbidden, problem.Forbidden, "you are not allowed to access this resource")
		}
		return next(c)
	})
}

// adminUserJSON is a user as administrators see it.
type adminUserJSON struct {
	userJSON
	Disabled  bool      `json:"disabled"`
	UpdatedAt time.Time `json:"updated_at"`
}

func adminView(u account.User) adminUserJSON {
	return adminUserJSON{userJSON: userView(u), Disabled: u.Disabled, UpdatedAt: u.UpdatedAt}
}

func (a *Admin) list(c echo.Context) error {
	q := account.Query{EmailPrefix: c.QueryParam("q"), Cursor: c.QueryParam("cursor")}
	// No email holds a control character; ?q=%00 is malformed, not a
	// search (and PostgreSQL would refuse the NUL).
	if strings.ContainsFunc(q.EmailPrefix, unicode.IsControl) {
		return validation(map[string]string{"q": "must not contain control characters"})
	}
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > account.MaxListLimit {
			return validation(map[string]string{"limit": "must be a number from 1 to " + strconv.Itoa(account.MaxListLimit)})
		}
		q.Limit = n
	}
	users, next, err := a.dir.List(c.Request().Context(), q)
	switch {
	case errors.Is(err, account.ErrInvalidCursor):
		return validation(map[string]string{"cursor": "is not a cursor this server returned"})
	case err != nil:
		return a.svc.unavailable(whatUsers, err)
	}
	out := make([]adminUserJSON, 0, len(users))
	for _, u := range users {
		out = append(out, adminView(u))
	}
	return c.JSON(http.StatusOK, map[string]any{"users": out, "next_cursor": next})
}

type createUserRequest struct {
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Name     string   `json:"name"`
	Roles    []string `json:"roles"`
}

func (a *Admin) create(c echo.Context) error {
	var req createUserRequest
	if err := decodeJSON(c.Request(), &req); err != nil {
		return err
	}
	if err := required(map[string]string{"email": req.Email}); err != nil {
		return err
	}
	actor := a.actor(c)
	u, err := a.svc.CreateUser(c.Request().Context(), actor, req.Email, req.Password, req.Name, req.Roles)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"user": adminView(u)})
}

func (a *Admin) get(c echo.Context) error {
	u, err := a.svc.Users.ByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return a.svc.userError(err)
	}
	return c.JSON(http.StatusOK, adminView(u))
}

type patchUserRequest struct {
	Roles    *[]string `json:"roles"`
	Disabled *bool     `json:"disabled"`
	Name     *string   `json:"name"`
}

func (a *Admin) patch(c echo.Context) error {
	var req patchUserRequest
	if err := decodeJSON(c.Request(), &req); err != nil {
		return err
	}
	ctx, id, actor := c.Request().Context(), c.Param("id"), a.actor(c)
	if req.Name != nil {
		if msg := nameMessage(*req.Name); msg != "" {
			return validation(map[string]string{"name": msg})
		}
	}
	u, err := a.svc.Users.ByID(ctx, id)
	if err != nil {
		return a.svc.userError(err)
	}
	// Roles first: they are the only field the store can still refuse
	// (an invalid role name), and a refused patch must change nothing.
	if req.Roles != nil {
		if u, err = a.svc.SetRoles(ctx, actor, id, *req.Roles); err != nil {
			return err
		}
	}
	if req.Name != nil {
		if u, err = a.svc.Users.Update(ctx, id, account.Patch{Name: req.Name}); err != nil {
			return a.svc.userError(err)
		}
		a.svc.audit("admin_update_user", "success", zap.String("actor_id", actor), zap.String("user_id", id))
	}
	// Asked to disable, the sessions end and the stamp moves even when
	// the user is disabled already: a previous request may have written
	// the row and then failed (503) to end them, and this retry must
	// finish it. SetDisabled is idempotent.
	if req.Disabled != nil && (*req.Disabled || u.Disabled) {
		if u, err = a.svc.SetDisabled(ctx, actor, id, *req.Disabled); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, adminView(u))
}

func (a *Admin) sessions(c echo.Context) error {
	ctx, id := c.Request().Context(), c.Param("id")
	if _, err := a.svc.Users.ByID(ctx, id); err != nil {
		return a.svc.userError(err)
	}
	list, err := a.svc.ListSessions(ctx, id)
	if err != nil {
		return err
	}
	out := make([]sessionJSON, 0, len(list))
	for _, s := range list {
		out = append(out, sessionView(s, ""))
	}
	return c.JSON(http.StatusOK, map[string]any{"sessions": out})
}

func (a *Admin) revokeSessions(c echo.Context) error {
	ctx, id := c.Request().Context(), c.Param("id")
	if _, err := a.svc.Users.ByID(ctx, id); err != nil {
		return a.svc.userError(err)
	}
	if err := a.svc.endAllSessions(ctx, id); err != nil {
		return err
	}
	a.svc.audit("admin_revoke_sessions", "success", zap.String("actor_id", a.actor(c)), zap.String("user_id", id))
	return c.NoContent(http.StatusNoContent)
}

// actor is the administrator's user id, as the gateway authenticated it.
func (a *Admin) actor(c echo.Context) string {
	if sc := scope.Of(c.Request()); sc != nil && sc.Identity != nil {
		return sc.Identity.UserID
	}
	return ""
}

// CreateUser creates an account as an administrator or the CLI: roles as
// given (the default roles when nil), and no password when pw is empty (the
// user sets one through a password reset).
func (s *Service) CreateUser(ctx context.Context, actorID, email, pw, name string, roles []string) (account.User, error) {
	norm, err := account.NormalizeEmail(email)
	if err != nil {
		return account.User{}, validation(map[string]string{"email": emailMessage(err)})
	}
	if msg := nameMessage(name); msg != "" {
		return account.User{}, validation(map[string]string{"name": msg})
	}
	if roles == nil {
		roles = s.settings.DefaultRoles
	}
	hash := ""
	if pw != "" {
		if err := s.Rules.Check(pw, norm); err != nil {
			return account.User{}, ruleProblem(err, "password")
		}
		if hash, err = s.Hasher.Hash(ctx, pw); err != nil {
			return account.User{}, s.unavailable("password hashing", err)
		}
	}
	u, err := s.Users.Create(ctx, account.User{Email: norm, Name: name, PasswordHash: hash, Roles: roles})
	if err != nil {
		return u, s.userError(err)
	}
	s.audit("admin_create_user", "success", zap.String("actor_id", actorID), zap.String("user_id", u.ID), zap.Strings("roles", u.Roles))
	return u, nil
}
