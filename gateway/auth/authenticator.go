package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/forwarded"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/scope"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/gateway/token"
)

// Authenticator proves who sent a request. It implements the gateway's
// Authenticator seam.
//
// Order: an Authorization header decides alone (Bearer; API clients);
// otherwise the access cookie; otherwise, or when the access cookie has
// expired or was revoked, the refresh cookie is rotated at the edge and
// fresh cookies are set on the response (transparent refresh for
// browsers). The steady state costs a cache lookup and two map lookups: no
// signature check, no database, no Redis. Until the revocation view has
// replayed the feed once, a request with an access token gets 503: the
// view could not refuse a revoked one.
//
// Cookie-authenticated requests with unsafe methods are refused when they
// come from another origin (CSRF), judged by Sec-Fetch-Site and Origin.
// Bearer requests are not: a browser never attaches a bearer token by
// itself.
type Authenticator struct {
	svc     *Service
	cookies cookieJar
	csrf    *http.CrossOriginProtection
	now     func() time.Time
}

// NewAuthenticator returns the authenticator for svc. trustedOrigins are
// other origins allowed to send cookie-authenticated unsafe requests (the
// CORS allowed origins).
func NewAuthenticator(svc *Service, cookies config.Cookies, trustedOrigins []string) (*Authenticator, error) {
	csrf := http.NewCrossOriginProtection()
	for _, o := range trustedOrigins {
		if err := csrf.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("auth: trusted origin %q: %w", o, err)
		}
	}
	return &Authenticator{svc: svc, cookies: newCookieJar(cookies), csrf: csrf, now: time.Now}, nil
}

// Errors of authentication: answers, not failures.
var (
	errBadAuthorization = problem.New(http.StatusUnauthorized, problem.InvalidToken, "the Authorization header must be \"Bearer <token>\"")
	errTokenInvalid     = problem.New(http.StatusUnauthorized, problem.InvalidToken, "the access token is invalid")
	errTokenExpired     = problem.New(http.StatusUnauthorized, problem.TokenExpired, "the access token has expired")
	errTokenRevoked     = problem.New(http.StatusUnauthorized, problem.InvalidToken, "the access token has been revoked")
	errCrossOrigin      = problem.New(http.StatusForbidden, problem.Forbidden, "cross-origin request refused")
)

// Authenticate implements the gateway's Authenticator. It records the
// access token that proved the identity in the request's scope, for
// tokens.forward_access_token.
func (a *Authenticator) Authenticate(w http.ResponseWriter, r *http.Request) (*scope.Identity, error) {
	id, tok, err := a.authenticate(w, r)
	if id != nil {
		if sc := scope.Of(r); sc != nil {
			sc.AccessToken = tok
		}
	}
	return id, err
}

func (a *Authenticator) authenticate(w http.ResponseWriter, r *http.Request) (*scope.Identity, string, error) {
	if h, ok := r.Header["Authorization"]; ok {
		return a.bearer(h)
	}
	access, refresh := a.cookies.read(r)
	if access == "" && refresh == "" {
		return nil, "", nil
	}
	if err := a.csrf.Check(r); err != nil {
		return nil, "", errCrossOrigin
	}
	if access != "" {
		id, err := a.verify(access)
		if err == nil {
			return id, access, nil
		}
		if errors.Is(err, session.ErrNotReady) {
			// This replica cannot tell yet whether the cookie's session
			// was revoked: neither accept it, nor drop the cookies as if it
			// were dead, nor rotate the refresh cookie for a request that
			// would come back here. The client retries.
			return nil, "", err
		}
		if refresh == "" {
			// A dead access cookie and nothing to renew it: the browser
			// is anonymous now; drop the stale cookie.
			a.cookies.clear(w)
			return nil, "", nil
		}
	}
	pair, err := a.svc.Refresh(r.Context(), refresh, clientOf(r))
	if err != nil {
		if p := problem.As(err); p != nil && p.Status < http.StatusInternalServerError {
			// The session is over: forget it and continue anonymously,
			// so that the policy decides (public pages stay public).
			a.cookies.clear(w)
			return nil, "", nil
		}
		return nil, "", err
	}
	a.cookies.set(w, pair, a.now())
	if sc := scope.Of(r); sc != nil {
		sc.FreshCredentials = true
	}
	id := &scope.Identity{UserID: pair.User.ID, Email: pair.User.Email, Roles: pair.User.Roles, SessionID: pair.Session.ID}
	return id, pair.AccessToken, nil
}

// bearer authenticates an Authorization header. Exactly one header with
// the Bearer scheme is accepted: two headers could be read differently by
// another component.
func (a *Authenticator) bearer(values []string) (*scope.Identity, string, error) {
	if len(values) != 1 {
		return nil, "", errBadAuthorization
	}
	scheme, tok, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, "", errBadAuthorization
	}
	tok = strings.TrimLeft(tok, " ")
	// IndexByte, not ContainsAny: this runs on every API request, and
	// ContainsAny's set scan cost half of the cached authentication.
	if tok == "" || strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, '\t') >= 0 {
		return nil, "", errBadAuthorization
	}
	id, err := a.verify(tok)
	return id, tok, err
}

// verify checks an access token: signature and claims (cached), then the
// revocation view. A cache hit is checked against the view like any other
// token. A view that has not replayed the feed yet (the replica started
// while the feed was unreachable) cannot refuse a revoked token, so the
// token is not accepted either: 503 with Retry-After, wrapping
// session.ErrNotReady. Before the fix an empty view let tokens logged out
// on another replica through (audit finding: the gateway failed open).
func (a *Authenticator) verify(tok string) (*scope.Identity, error) {
	c, err := a.svc.Verifier.VerifyCached(tok)
	switch {
	case errors.Is(err, token.ErrTokenExpired):
		return nil, errTokenExpired
	case err != nil:
		return nil, errTokenInvalid
	}
	switch err := a.svc.View.Check(c.Subject, c.SessionID, c.Stamp); {
	case errors.Is(err, session.ErrStale):
		// Roles or the account changed: the client refreshes and gets a
		// token that says what is true now.
		return nil, errTokenExpired
	case errors.Is(err, session.ErrNotReady):
		return nil, a.svc.unavailable(whatFeed, err)
	case err != nil:
		return nil, errTokenRevoked
	}
	return c.Identity(), nil
}

// clientOf describes the caller for sessions and the audit log.
func clientOf(r *http.Request) Client {
	c := Client{UserAgent: r.UserAgent()}
	sc := scope.Of(r)
	if sc == nil {
		return c
	}
	if sc.ClientIP.IsValid() {
		c.IP = sc.ClientIP.String()
	}
	// The edge took Host from the request or a trusted proxy; checked
	// again because it ends up in links (reset mail in development).
	if host := strings.ToLower(sc.Host); (sc.Scheme == "http" || sc.Scheme == "https") && forwarded.ValidHost(host) {
		c.Origin = sc.Scheme + "://" + host
	}
	return c
}
