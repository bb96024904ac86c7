package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/authgate/gateway/gateway/forwarded"
	"github.com/authgate/gateway/gateway/observe"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/proxy"
	"github.com/authgate/gateway/gateway/scope"
)

// recoverPanics turns a panic into a logged 500 problem. http.ErrAbortHandler
// is re-raised: it is how the proxy aborts a broken stream on purpose.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			s.log.Error("panic serving request",
				zap.String("request_id", c.Response().Header().Get(s.cfg.Headers.RequestID)),
				zap.Any("panic", rec), zap.ByteString("stack", debug.Stack()))
			err = problem.Wrap(http.StatusInternalServerError, problem.Internal, "internal error", fmt.Errorf("panic: %v", rec))
		}()
		return next(c)
	}
}

// edge establishes the request's scope (id, client address) and writes the
// access log line when the request is done.
func (s *Server) edge(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		r := c.Request()
		origin := s.resolver.Resolve(r)
		sc := &scope.Scope{
			ClientIP:    origin.ClientIP,
			PeerTrusted: origin.PeerTrusted,
			Scheme:      origin.Scheme,
			Host:        origin.Host,
		}
		if id := r.Header.Get(s.cfg.Headers.RequestID); origin.PeerTrusted && observe.ValidRequestID(id) {
			sc.RequestID = id
		} else {
			sc.RequestID = observe.NewRequestID()
		}
		c.SetRequest(r.WithContext(scope.With(r.Context(), sc)))
		c.Response().Header().Set(s.cfg.Headers.RequestID, sc.RequestID)
		if r.TLS != nil {
			// The gateway terminates TLS for this origin: browsers must
			// never come back over plain HTTP (a year, the common
			// minimum for preload lists; no includeSubDomains, which
			// would bind hosts the operator may not control).
			c.Response().Header().Set("Strict-Transport-Security", "max-age=31536000")
		}

		// Deferred so that a stream the proxy aborts (a panic with
		// http.ErrAbortHandler, re-raised by recoverPanics) is logged too.
		defer func() {
			d := time.Since(start)
			if sc.Route == "" {
				// One of the gateway's own endpoints, or a request the
				// guard refused before routing.
				sc.Route = s.ownRouteClass(c)
			}
			status := c.Response().Status
			if !c.Response().Committed {
				status = 0 // nothing was answered (the client went away)
			}
			s.logAccess(c, sc, status, d)
			s.metrics.Request(sc.Route, r.Method, status, d)
		}()
		if err := next(c); err != nil {
			// Render now so that the access line records the real status.
			c.Error(err)
		}
		return nil
	}
}

// ownRouteClass is the route class of a request the proxy did not take: the
// registered route Echo matched (its pattern), else "none".
func (s *Server) ownRouteClass(c echo.Context) string {
	if class, ok := s.ownRoutes[c.Path()]; ok {
		return class
	}
	return "none"
}

func (s *Server) logAccess(c echo.Context, sc *scope.Scope, status int, d time.Duration) {
	ce := s.access.Check(zapcore.InfoLevel, "request")
	if ce == nil {
		return
	}
	r, res := c.Request(), c.Response()
	// The path as received, byte for byte: it is what the policy decided
	// on and what the upstream got. r.URL.Path is decoded, and RawPath is
	// empty whenever the escaping is Go's default ("caf%C3%A9" would be
	// logged as "café"), so neither matches the wire.
	path, _, _ := strings.Cut(r.RequestURI, "?")
	userID := ""
	if sc.Identity != nil {
		userID = sc.Identity.UserID
	}
	// The query is never logged: reset tokens and API keys travel there.
	// upstream is "" on the gateway's own answers rather than left out, as
	// user_id and decision are when they do not apply: every line has the
	// same fields.
	ce.Write(
		zap.String("request_id", sc.RequestID),
		zap.String("method", r.Method),
		zap.String("path", path),
		zap.Int("status", status),
		zap.Duration("duration", d),
		zap.Int64("bytes", res.Size),
		zap.String("client_ip", sc.ClientIP.String()),
		zap.String("route", sc.Route),
		zap.String("upstream", sc.Upstream),
		zap.String("user_id", userID),
		zap.String("decision", sc.Decision),
		zap.String("rule", sc.Rule),
	)
}

// guard refuses requests the gateway must not interpret: oversized headers,
// methods that have no business at an application origin, and ambiguous
// paths. Then it dispatches: the gateway's own endpoints go to the router,
// everything else to the upstream that owns the path.
func (s *Server) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if headerBytes(r) > int(s.cfg.Server.MaxHeaderBytes) {
			return problem.New(http.StatusRequestHeaderFieldsTooLarge, problem.HeaderFieldsTooLarge, "request headers too large")
		}
		if r.Host != "" && !forwarded.ValidHost(strings.ToLower(r.Host)) {
			// net/http lets ',' ';' and other bytes through in Host; they
			// would reach the upstream in X-Forwarded-Host and links.
			return problem.New(http.StatusBadRequest, problem.BadRequest, "invalid Host header")
		}
		switch r.Method {
		case http.MethodConnect, http.MethodTrace, "TRACK":
			// TRACE echoes credentials back (cross-site tracing); CONNECT
			// would make the gateway an open tunnel.
			return problem.New(http.StatusMethodNotAllowed, problem.MethodNotAllowed, "method not allowed")
		}
		path, _, err := proxy.CheckTarget(r.RequestURI)
		if err != nil {
			return problem.Wrap(http.StatusBadRequest, problem.BadRequest, "invalid request path: "+err.Error(), err)
		}
		if ownPath(path) {
			setOwnSecurityHeaders(c.Response().Header())
			// The gateway's own answers wait on the database and Redis.
			// A store that is partitioned (connections open, nothing
			// answering) would hold them for as long as the client waits,
			// and each held request keeps a pooled connection: bounded, a
			// call fails with the deadline and the answer is 503 (SPEC 9:
			// never a hang).
			ctx, cancel := context.WithTimeout(r.Context(), s.ownTimeout)
			defer cancel()
			c.SetRequest(r.WithContext(ctx))
			h := next
			if isAdminPath(path) {
				// User administration is decided by the policy like any
				// proxied path (SPEC section 4: "decided by policy.csv").
				scope.Of(r).Route = "auth:admin"
				h = s.admitted(path, next)
			}
			// CORS wraps authorization too: a preflight carries no
			// credentials, so one from a listed origin to /auth/admin
			// must be answered before the policy asks for them, and a
			// 401 or 403 must carry the CORS headers for the page to
			// read it. It answers preflights only; every other request
			// still goes through h.
			if s.cors != nil {
				h = s.cors(h)
			}
			return h(c)
		}
		sc := scope.Of(r)
		rt := s.proxy.Match(path)
		if rt == nil {
			sc.Route = "none"
			return problem.New(http.StatusNotFound, problem.NotFound, "no upstream serves this path")
		}
		return s.proxied(c, rt, path)
	}
}

// admitted returns next behind admit: it runs only for requests the policy
// allows on path.
func (s *Server) admitted(path string, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if ok, err := s.admit(c, path); !ok {
			return err
		}
		return next(c)
	}
}

// ownPath reports whether the gateway answers path itself.
func ownPath(path string) bool {
	switch path {
	case "/auth", "/healthz", "/readyz", "/.well-known/jwks.json":
		return true
	}
	// "/auth/" itself included: the whole namespace is the gateway's, and
	// no request in it may reach an upstream.
	return strings.HasPrefix(path, "/auth/")
}

// setOwnSecurityHeaders marks an answer of the gateway itself (JSON, the
// JWKS, health) as never to be sniffed into HTML, framed, or followed by a
// referrer. Proxied answers are the upstream's business.
func setOwnSecurityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
}

// isAdminPath reports whether path is under /auth/admin.
func isAdminPath(path string) bool {
	return path == "/auth/admin" || strings.HasPrefix(path, "/auth/admin/")
}

// headerBytes approximates the size of the request head as sent: request
// line plus every header line. net/http's own limit allows some slack beyond
// MaxHeaderBytes; this makes the configured limit exact.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// errorHandler renders every error as problem+json. Echo's own errors
// (404, 405, 413 from its router and binders) are mapped to problems.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := problem.As(err)
	if p == nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			p = fromEchoError(he)
		} else {
			p = problem.Wrap(http.StatusInternalServerError, problem.Internal, "internal error", err)
		}
	}
	if p.Status >= 500 {
		s.log.Error("request failed", zap.String("request_id", c.Response().Header().Get(s.cfg.Headers.RequestID)), zap.Error(err))
	}
	if c.Request().Method == http.MethodHead {
		problem.WriteHead(c.Response(), p)
		return
	}
	problem.Write(c.Response(), p)
}

func fromEchoError(he *echo.HTTPError) *problem.Problem {
	code := problem.BadRequest
	detail := http.StatusText(he.Code)
	switch he.Code {
	case http.StatusNotFound:
		code, detail = problem.NotFound, "not found"
	case http.StatusMethodNotAllowed:
		code = problem.MethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		code = problem.PayloadTooLarge
	case http.StatusUnsupportedMediaType:
		code = problem.UnsupportedMedia
	case http.StatusUnauthorized:
		code = problem.Unauthenticated
	case http.StatusForbidden:
		code = problem.Forbidden
	case http.StatusTooManyRequests:
		code = problem.RateLimited
	case http.StatusServiceUnavailable:
		code = problem.Overloaded
	default:
		if he.Code >= 500 {
			return problem.Wrap(he.Code, problem.Internal, "internal error", he)
		}
	}
	return problem.Wrap(he.Code, code, detail, he)
}
