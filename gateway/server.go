// Package gateway assembles the gateway's HTTP server: the Echo instance, the
// middleware order, the route table, and the public and admin listeners.
//
// Every request passes, in this order:
//
//	edge     request id, client address (trusted-proxy aware), access log
//	recover  a panic becomes a logged 500 (inside edge, so it is logged)
//	guard    431 oversized head, 405 TRACE/CONNECT, 400 ambiguous path;
//	         then the gateway's own endpoints (/auth, /healthz, /readyz,
//	         /.well-known/jwks.json) go through CORS (Options.CORS), the
//	         policy for /auth/admin, and the router; everything else is
//	         authenticated, authorized and proxied
//
// The gateway is deny-by-default once an Authorizer is configured; until
// then (AllowAll) it forwards every request anonymously.
package gateway

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/forwarded"
	"github.com/authgate/gateway/gateway/observe"
	"github.com/authgate/gateway/gateway/proxy"
)

// DefaultOwnTimeout is Options.OwnTimeout's default: far above any
// answer of a healthy store (milliseconds) and a password check under load
// (passwords.max_wait, 2 s), well below a client's patience.
const DefaultOwnTimeout = 10 * time.Second

// Options are the parts a Server is built from. Only Config is required.
type Options struct {
	Config *config.Config
	Logger *zap.Logger
	// AccessLogger writes the access lines; nil means Logger.Named("access").
	AccessLogger *zap.Logger
	// Authenticator defaults to Anonymous, Authorizer to AllowAll.
	Authenticator Authenticator
	Authorizer    Authorizer
	Signer        proxy.AssertionSigner
	Checks        []ReadinessCheck
	// Routes registers the gateway's own endpoints (the /auth API) on the
	// Echo instance.
	Routes func(e *echo.Echo)
	// OwnTimeout bounds every request to the gateway's own endpoints
	// (/auth, the pages, /readyz): past it their store calls fail and the
	// answer is 503. 0 means DefaultOwnTimeout.
	OwnTimeout time.Duration
	// CORS, if set, wraps every request to the gateway's own endpoints
	// before anything decides on it, the policy of /auth/admin included
	// (auth.CORS): it answers CORS preflights and marks the answers,
	// errors too, for the origins it allows. nil: no CORS.
	CORS echo.MiddlewareFunc
	// Metrics records requests, policy decisions and upstream answers, and
	// is served at /metrics on the admin listener; nil: no metrics.
	Metrics *observe.Metrics
	// Streams ends open WebSockets and event streams whose credentials
	// stop holding (streams.Registry); nil: they are never ended.
	Streams proxy.StreamGuard
}

// Server is the gateway's HTTP server.
type Server struct {
	cfg      *config.Config
	log      *zap.Logger
	access   *zap.Logger
	echo     *echo.Echo
	proxy    *proxy.Proxy
	resolver *forwarded.Resolver
	authn    Authenticator
	authz    Authorizer
	checks   []ReadinessCheck
	ready    *readinessLog
	metrics  *observe.Metrics
	// wsOrigins judges the origin of cookie-authenticated WebSocket
	// handshakes (see crossOriginWebSocket).
	wsOrigins *http.CrossOriginProtection
	// cors wraps the gateway's own endpoints (Options.CORS); nil: none.
	cors echo.MiddlewareFunc
	// ownTimeout bounds a request to the gateway's own endpoints.
	ownTimeout time.Duration
	// ownRoutes maps the path pattern of each route registered on echo
	// to its route class ("auth:/auth/login"), for the metrics.
	ownRoutes map[string]string
}

// New builds the server from validated configuration.
func New(o Options) (*Server, error) {
	if o.Config == nil {
		return nil, errors.New("gateway: Options.Config is required")
	}
	cfg := o.Config
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	trusted, err := config.ParsePrefixes(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("gateway: server.trusted_proxies: %w", err)
	}
	var upstreamObserver proxy.Observer // a nil interface, not a nil *Metrics
	if o.Metrics != nil {
		upstreamObserver = o.Metrics
	}
	px, err := proxy.New(proxy.Options{
		Upstreams:          cfg.Upstreams,
		Headers:            cfg.Headers,
		CookieNames:        []string{cfg.Cookies.AccessName, cfg.Cookies.RefreshName},
		Signer:             o.Signer,
		ForwardAccessToken: cfg.Tokens.ForwardAccessToken,
		Logger:             o.Logger.Named("proxy"),
		Observer:           upstreamObserver,
		Streams:            o.Streams,
	})
	if err != nil {
		return nil, err
	}
	wsOrigins := http.NewCrossOriginProtection()
	for _, o := range cfg.CORS.Origins() {
		if err := wsOrigins.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("gateway: cors.allowed_origins %q: %w", o, err)
		}
	}
	s := &Server{
		cfg:        cfg,
		log:        o.Logger,
		access:     o.AccessLogger,
		proxy:      px,
		resolver:   forwarded.NewResolver(trusted),
		authn:      o.Authenticator,
		authz:      o.Authorizer,
		checks:     o.Checks,
		ready:      newReadinessLog(o.Logger.Named("readiness")),
		metrics:    o.Metrics,
		cors:       o.CORS,
		ownTimeout: cmp.Or(o.OwnTimeout, DefaultOwnTimeout),
	}
	s.wsOrigins = wsOrigins
	if s.access == nil {
		s.access = o.Logger.Named("access")
	}
	if s.authn == nil {
		s.authn = Anonymous{}
	}
	if s.authz == nil {
		s.authz = AllowAll{}
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Pre(s.edge, s.recoverPanics, s.guard)
	e.GET("/healthz", s.healthz)
	e.HEAD("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.HEAD("/readyz", s.readyz)
	if o.Routes != nil {
		o.Routes(e)
	}
	headRoutes(e)
	s.echo = e
	s.ownRoutes = routeClasses(e)
	return s, nil
}

// Handler is the public handler, for tests that serve it with httptest.
func (s *Server) Handler() http.Handler { return s.echo }

// Proxy is the upstream table.
func (s *Server) Proxy() *proxy.Proxy { return s.proxy }

// ListenAndServe listens on the configured addresses and serves until ctx is
// done, then shuts down gracefully.
func (s *Server) ListenAndServe(ctx context.Context) error {
	pub, err := net.Listen("tcp", s.cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Server.Addr, err)
	}
	var admin net.Listener
	if s.cfg.Server.AdminAddr != "" {
		if admin, err = net.Listen("tcp", s.cfg.Server.AdminAddr); err != nil {
			_ = pub.Close()
			return fmt.Errorf("listen %s: %w", s.cfg.Server.AdminAddr, err)
		}
	}
	return s.Serve(ctx, pub, admin)
}

// Serve serves the public handler on pub and the admin handler on admin (nil
// disables it) until ctx is done. Then it stops accepting connections, lets
// in-flight requests finish within server.shutdown_timeout, and cancels what
// is still running (streams, WebSockets).
func (s *Server) Serve(ctx context.Context, pub, admin net.Listener) error {
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()

	servers := []*http.Server{s.newPublicServer(baseCtx)}
	listeners := []net.Listener{pub}
	if admin != nil {
		servers = append(servers, s.newAdminServer(baseCtx))
		listeners = append(listeners, admin)
	}

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() {
			var err error
			if i == 0 && s.cfg.Server.TLS.Enabled() {
				err = srv.ServeTLS(listeners[i], s.cfg.Server.TLS.CertFile, s.cfg.Server.TLS.KeyFile)
			} else {
				err = srv.Serve(listeners[i])
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	s.log.Info("gateway listening", zap.String("addr", pub.Addr().String()),
		zap.Stringer("admin_addr", addrOf(admin)), zap.Bool("tls", s.cfg.Server.TLS.Enabled()))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		// A listener failed: shut the others down too.
	}

	s.log.Info("shutting down", zap.Duration("timeout", s.cfg.Server.ShutdownTimeout))
	shutCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutCtx); err != nil {
			s.log.Warn("graceful shutdown incomplete; closing remaining connections", zap.Error(err))
			_ = srv.Close()
		}
	}
	// Hijacked connections (WebSockets) are not tracked by Shutdown; ending
	// the base context ends their proxy loops.
	cancelBase()
	s.proxy.CloseIdleConnections()
	return serveErr
}

func (s *Server) newPublicServer(base context.Context) *http.Server {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: s.cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.Server.IdleTimeout,
		// Read and write timeouts stay off: they would cut uploads,
		// downloads and event streams. Slow clients are bounded by
		// ReadHeaderTimeout and IdleTimeout.
		// The guard enforces server.max_header_bytes exactly and answers
		// 431 as problem+json. net/http's own limit (this value plus 4 KiB)
		// answers text/plain, so it gets headroom: heads up to twice the
		// limit get the problem answer, larger ones net/http's plain 431.
		MaxHeaderBytes: 2 * int(s.cfg.Server.MaxHeaderBytes),
		BaseContext:    func(net.Listener) context.Context { return base },
		ErrorLog:       zap.NewStdLog(s.log.Named("http")),

		// net/http would answer "OPTIONS *" itself (200, empty), past the
		// guard and the access log. Without that, the guard refuses it
		// with 400 like every target that is not origin-form (SPEC 6).
		DisableGeneralOptionsHandler: true,
	}
	if s.cfg.Server.TLS.Enabled() {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return srv
}

func (s *Server) newAdminServer(base context.Context) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	if s.metrics != nil {
		mux.Handle("/metrics", s.metrics.Handler())
	}
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       s.cfg.Server.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          zap.NewStdLog(s.log.Named("admin")),

		// As on the public listener: "OPTIONS *" is not one of this
		// listener's paths, and gets the mux's plain 400 rather than
		// net/http's 200.
		DisableGeneralOptionsHandler: true,
	}
}

// headRoutes registers HEAD for every GET route that has none: HEAD must
// work wherever GET does (RFC 9110 section 9.3.2: the same status and
// header fields, no body), and Echo v4 routes it as a method of its own,
// so that it would answer 405. The HEAD route runs the GET route, route
// middleware included; net/http drops the body of an answer to HEAD.
func headRoutes(e *echo.Echo) {
	head := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == http.MethodHead {
			head[r.Path] = true
		}
	}
	asGet := func(c echo.Context) error {
		e.Router().Find(http.MethodGet, echo.GetPath(c.Request()), c)
		return c.Handler()(c)
	}
	for _, r := range e.Routes() {
		if r.Method == http.MethodGet && !head[r.Path] {
			e.HEAD(r.Path, asGet)
			head[r.Path] = true
		}
	}
}

// routeClasses names the route class of every route registered on e by
// its path pattern: "auth:/auth/sessions/:id" under /auth, "gateway:/healthz"
// for the other own endpoints. Patterns, not request paths: the set is fixed
// at start-up, so a label made from it is bounded.
func routeClasses(e *echo.Echo) map[string]string {
	classes := map[string]string{}
	for _, r := range e.Routes() {
		if ownPath(r.Path) {
			if r.Path == "/auth" || strings.HasPrefix(r.Path, "/auth/") {
				classes[r.Path] = "auth:" + r.Path
			} else {
				classes[r.Path] = "gateway:" + r.Path
			}
		}
	}
	return classes
}

type addrStringer struct{ l net.Listener }

func (a addrStringer) String() string {
	if a.l == nil {
		return "disabled"
	}
	return a.l.Addr().String()
}

func addrOf(l net.Listener) addrStringer { return addrStringer{l} }
