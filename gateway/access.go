package gateway

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/proxy"
	"github.com/authgate/gateway/gateway/scope"
	"github.com/authgate/gateway/policy"
)

// Authenticator establishes who sent a request. It is the seam where token
// and cookie authentication plug in.
type Authenticator interface {
	// Authenticate returns the identity proven by r's credentials, or nil
	// when r carries none. A *problem.Problem error means credentials were
	// presented but are not acceptable: it is the answer, and a 401 one gets
	// a Bearer challenge (error="invalid_token"), or a redirect to the login
	// page for a browser page load. Any other error is a fault of the system
	// (500). It may set cookies on w (transparent refresh, clearing).
	Authenticate(w http.ResponseWriter, r *http.Request) (*scope.Identity, error)
}

// Authorizer decides whether an identity (nil for anonymous) may send method
// to path. path is the request's raw path, exactly as it will be forwarded.
type Authorizer interface {
	Authorize(id *scope.Identity, method, path string) Decision
}

// Decision is an authorization answer and the rule that gave it.
type Decision struct {
	Allow bool
	Rule  string
}

// Anonymous is the Authenticator used until one is configured: every request
// is anonymous.
type Anonymous struct{}

// Authenticate implements Authenticator.
func (Anonymous) Authenticate(http.ResponseWriter, *http.Request) (*scope.Identity, error) {
	return nil, nil
}

// AllowAll is the Authorizer used until a policy is configured.
type AllowAll struct{}

// Authorize implements Authorizer.
func (AllowAll) Authorize(*scope.Identity, string, string) Decision {
	return Decision{Allow: true, Rule: "allow-all (no policy configured)"}
}

// RequireLogin is the Authorizer used until a policy is configured: any
// authenticated user may pass, anonymous requests may not (deny by default).
type RequireLogin struct{}

// Authorize implements Authorizer.
func (RequireLogin) Authorize(id *scope.Identity, _, _ string) Decision {
	if id == nil {
		return Decision{Allow: false, Rule: "login required (no policy configured)"}
	}
	return Decision{Allow: true, Rule: "login required (no policy configured)"}
}

// proxied authenticates, authorizes and forwards one request to rt.
func (s *Server) proxied(c echo.Context, rt *proxy.Route, path string) error {
	sc := scope.Of(c.Request())
	sc.Route = rt.Class
	sc.Upstream = rt.Name
	if ok, err := s.admit(c, path); !ok {
		return err
	}
	if s.crossOriginWebSocket(c.Request(), sc) {
		sc.Decision = "deny"
		return errCrossOriginWebSocket
	}
	rt.ServeHTTP(c.Response(), c.Request())
	return nil
}

// errCrossOriginWebSocket refuses a cookie-authenticated WebSocket handshake
// from another origin.
var errCrossOriginWebSocket = problem.New(http.StatusForbidden, problem.Forbidden, "cross-origin WebSocket handshake refused")

// crossOriginWebSocket reports whether r is a WebSocket handshake that a
// browser sent from another origin and that the gateway's cookies
// authenticated. Browsers attach cookies to cross-site WebSocket handshakes
// and apply no same-origin policy to them, and the handshake is a GET, which
// the CSRF check of unsafe methods lets through: without this, any site
// could open a socket as the signed-in user (Cross-Site WebSocket
// Hijacking; SPEC 6: a cookie-authenticated handshake must be same-origin).
// The origin is judged as for unsafe methods (Sec-Fetch-Site, else Origin
// against Host, cors.allowed_origins trusted). A handshake with an
// Authorization header is not a browser's doing and is not judged.
func (s *Server) crossOriginWebSocket(r *http.Request, sc *scope.Scope) bool {
	if sc.Identity == nil || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	if _, bearer := r.Header["Authorization"]; bearer {
		return false
	}
	// CrossOriginProtection passes safe methods; judge the handshake as
	// the state-changing request it is.
	probe := r.WithContext(r.Context())
	probe.Method = http.MethodPost
	return s.wsOrigins.Check(probe) != nil
}

// admit authenticates the request and asks the Authorizer. It returns true
// when the request may go on, with its identity and decision in the scope;
// otherwise the refusal was answered (a redirect to the login page) or is
// the returned error (401, 403).
func (s *Server) admit(c echo.Context, path string) (bool, error) {
	r := c.Request()
	sc := scope.Of(r)
	id, err := s.authn.Authenticate(c.Response(), r)
	if err != nil {
		if p := problem.As(err); p != nil && p.Status == http.StatusUnauthorized {
			// Credentials were presented and refused (expired, revoked,
			// forged): a 401 must carry a challenge (RFC 9110 section
			// 15.5.2), and a browser is sent to log in again.
			sc.Decision = "deny"
			return false, s.challenge(c, p, problem.ChallengeInvalidToken)
		}
		return false, err
	}
	sc.Identity = id

	d := s.authz.Authorize(id, r.Method, path)
	s.metrics.PolicyDecision(d.Allow)
	sc.Rule = d.Rule
	if !d.Allow {
		sc.Decision = "deny"
		return false, s.deny(c, id)
	}
	sc.Decision = "allow"
	return true, nil
}

// deny answers a refused request: 403 for a known user; for anonymous ones a
// browser page load is sent to the login page, anything else gets 401.
func (s *Server) deny(c echo.Context, id *scope.Identity) error {
	if id != nil {
		return problem.New(http.StatusForbidden, problem.Forbidden, "you are not allowed to access this resource")
	}
	return s.challenge(c, problem.New(http.StatusUnauthorized, problem.Unauthenticated, "authentication required"),
		problem.ChallengeBearer)
}

// challenge asks for (valid) credentials: a browser page load is sent to the
// login page, anything else gets p (a 401) with the WWW-Authenticate value.
func (s *Server) challenge(c echo.Context, p *problem.Problem, wwwAuthenticate string) error {
	r := c.Request()
	if isPageLoad(r) {
		return c.Redirect(http.StatusSeeOther, "/auth/login?rd="+url.QueryEscape(r.RequestURI))
	}
	c.Response().Header().Set("WWW-Authenticate", wwwAuthenticate)
	return p
}

// isPageLoad reports whether r is a browser navigation rather than an API
// call: a GET or HEAD that accepts HTML. A request with an Authorization
// header is an API client's whatever it accepts (browsers never attach one
// to a navigation by themselves): it gets the 401 and its challenge, which
// a redirect to a login page would hide from it (SPEC section 6).
func isPageLoad(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if _, ok := r.Header["Authorization"]; ok {
		return false
	}
	if dest := r.Header.Get("Sec-Fetch-Dest"); dest != "" {
		return dest == "document"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// Policy authorizes with the Casbin policy: it decides for the user's roles
// plus "authenticated" when logged in ("anonymous" the policy adds itself),
// and reports the deciding line.
type Policy struct {
	Enforcer *policy.Enforcer
}

// Authorize implements Authorizer.
func (p Policy) Authorize(id *scope.Identity, method, path string) Decision {
	var roles []string
	if id != nil {
		// A new slice: the identity's own may be shared by concurrent
		// requests (the verified-token cache hands out one value).
		var buf [8]string
		roles = append(append(buf[:0], id.Roles...), policy.Authenticated)
	}
	d := p.Enforcer.Decide(roles, method, path)
	rule := d.Rule
	if rule == "" {
		rule = d.Reason
	}
	return Decision{Allow: d.Allow, Rule: rule}
}
