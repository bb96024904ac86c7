package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway"
	"github.com/authgate/gateway/gateway/auth"
	"github.com/authgate/gateway/gateway/observe"
	"github.com/authgate/gateway/gateway/proxy"
	"github.com/authgate/gateway/gateway/streams"
	"github.com/authgate/gateway/gateway/token"
	"github.com/authgate/gateway/gateway/ui"
	"github.com/authgate/gateway/gateway/ui/clientjs"
	"github.com/authgate/gateway/policy"
)

// app is the wired gateway: stores, services and the server.
type app struct {
	server *gateway.Server
	// auth is the account service, for what acts on accounts outside the
	// HTTP API (tests; the user commands build a core of their own).
	auth *auth.Service
	// metrics are served at /metrics on the admin listener.
	metrics *observe.Metrics
	closers []func()
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// build constructs everything serve needs from cfg: the core (see core.go)
// and the server on it. Background work (the revocation feed, cleanups,
// the policy watch) runs until ctx is done. access writes the access log
// (nil: log.Named("access")). migrate applies the database migrations
// first.
func build(ctx context.Context, cfg *config.Config, log, access *zap.Logger, migrate bool) (a *app, err error) {
	a = &app{}
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	metrics := observe.NewMetrics(buildVersion())
	a.metrics = metrics
	c, err := newCore(ctx, cfg, log, coreOptions{migrate: migrate, serve: true, metrics: metrics})
	if err != nil {
		return a, err
	}
	a.closers = append(a.closers, c.close)
	a.auth = c.auth
	checks := c.checks

	var signer proxy.AssertionSigner // a nil interface, not a nil *Asserter
	if cfg.Headers.SignAssertion {
		asserter, err := token.NewAsserter(c.keys, token.AssertionOptions{Issuer: cfg.IssuerOrDefault(), TTL: cfg.Headers.AssertionTTL})
		if err != nil {
			return a, err
		}
		signer = asserter
	}

	authn, err := auth.NewAuthenticator(c.auth, cfg.Cookies, cfg.CORS.Origins())
	if err != nil {
		return a, err
	}
	handlers := auth.NewHandlers(c.auth, authn, c.keys)
	// The hosted pages (issue 5): their form posts share the API's paths
	// and reach them through handlers.Forms.
	pages, err := ui.New(ui.Options{Service: c.auth, Browser: authn, RegistrationEnabled: cfg.Registration.Enabled,
		PasswordMinLength: cfg.Passwords.MinLength, Logger: log.Named("ui")})
	if err != nil {
		return a, err
	}
	handlers.Forms = pages
	admin := auth.NewAdmin(c.auth, c.users, authn)

	enforcer, err := policy.NewEnforcer(cfg.Policy.File, policy.Options{
		Logger:   log.Named("policy"),
		OnReload: func(_ *policy.Policy, err error) { metrics.PolicyReload(err) },
	})
	if err != nil {
		return a, err
	}
	if cfg.Policy.Watch {
		go func() { _ = enforcer.Run(ctx) }()
	}
	checks = append(checks, policyCheck{enforcer}, keysCheck{c.keys})

	// Open WebSockets and event streams end with their session (issue 8).
	streamGuard, err := streams.New(streams.Options{View: c.view, Sessions: c.sessions, Verifier: c.verifier,
		AccessTTL: cfg.Tokens.AccessTTL, Logger: log.Named("streams")})
	if err != nil {
		return a, err
	}
	a.closers = append(a.closers, c.view.Subscribe(streamGuard.Revoked))

	a.server, err = gateway.New(gateway.Options{
		Config:        cfg,
		Logger:        log,
		AccessLogger:  access,
		Authenticator: authn,
		Authorizer:    gateway.Policy{Enforcer: enforcer},
		Signer:        signer,
		Checks:        checks,
		Metrics:       metrics,
		Streams:       streamGuard,
		// Around the /auth/admin policy check too, so that a listed
		// origin's preflight to it is answered and its 401/403 readable.
		CORS: auth.CORS(cfg.CORS.Origins()),
		Routes: func(e *echo.Echo) {
			handlers.Register(e)
			pages.Routes(e)
			admin.Register(e)
			// GET /auth/client.js: the front ends' module (issue 9).
			clientjs.New().Register(e)
		},
	})
	return a, err
}

// loadKeys loads the signing keys, generating one on first start.
func loadKeys(t config.Tokens, log *zap.Logger) (*token.KeySet, error) {
	if t.Algorithm == "HS256" {
		return token.NewHMACKeySet([]byte(t.HMACSecret))
	}
	keys, warnings, err := token.LoadOrGenerate(t.KeysDir, t.Algorithm)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn("signing keys", zap.String("warning", w))
	}
	log.Info("signing keys loaded", zap.String("dir", t.KeysDir), zap.String("kid", keys.SigningKeyID()), zap.Int("keys", len(keys.Keys())))
	return keys, nil
}

// redisClient connects to a standalone server (url), a Sentinel group
// (addrs + sentinel_master) or a Cluster (several addrs).
func redisClient(r config.Redis) (redis.UniversalClient, error) {
	if r.URL != "" {
		opts, err := redis.ParseURL(r.URL)
		if err != nil {
			// The URL may hold a password: never echo it.
			return nil, errors.New("storage.redis.url: not a valid Redis URL")
		}
		if r.Username != "" {
			opts.Username = r.Username
		}
		if r.Password != "" {
			opts.Password = r.Password
		}
		opts.ContextTimeoutEnabled = true // see below
		return redis.NewClient(opts), nil
	}
	if len(r.Addrs) == 0 {
		return nil, errors.New("storage.redis: no url or addrs")
	}
	opts := &redis.UniversalOptions{
		Addrs:      r.Addrs,
		MasterName: r.SentinelMaster,
		Username:   r.Username,
		Password:   r.Password,
		// Every call ends with its context: without this, go-redis sets
		// its own read and write deadlines and ignores the caller's, so a
		// partitioned Redis held /readyz and the account endpoints for
		// its 3 s read timeout and retries (5 s seen) past their bounds.
		ContextTimeoutEnabled: true,
	}
	if r.SentinelMaster == "" && len(r.Addrs) > 1 {
		opts.IsClusterMode = true
	}
	return redis.NewUniversalClient(opts), nil
}

// redisLogger writes go-redis's own log lines (reconnection trouble) to
// zap at warn.
type redisLogger struct{ log *zap.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}

// namedCheck adapts a ping function to a readiness check.
type namedCheck struct {
	name string
	ping func(context.Context) error
}

func (c namedCheck) Name() string { return c.name }
func (c namedCheck) Check(ctx context.Context) error {
	// A dead server makes the client retry its dial for seconds; a
	// readiness probe needs an answer well inside its own timeout, and
	// the other checks need their share of /readyz's time too.
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := c.ping(ctx); err != nil {
		// The cause goes to the log only, never to /readyz.
		return fmt.Errorf("%s unreachable: %w", c.name, err)
	}
	return nil
}

// pingTimeout bounds one dependency ping of /readyz.
const pingTimeout = 500 * time.Millisecond

// keysCheck reports whether a signing key is loaded. The key set is loaded
// once at start-up (a failure stops the gateway), so this answers for the
// life of the process; it is in /readyz so that the probe lists every
// dependency the gateway needs to issue tokens.
type keysCheck struct{ keys *token.KeySet }

func (keysCheck) Name() string { return "keys" }
func (c keysCheck) Check(context.Context) error {
	if c.keys == nil || c.keys.SigningKeyID() == "" {
		return errors.New("no signing key loaded")
	}
	return nil
}

// policyCheck reports the policy in /readyz: a refused reload leaves the
// previous policy in force, so it is a warning, not unreadiness (taking
// every replica out of the load balancer over a typo would be worse). The
// warning does not quote the error: it names the file, lines and rules,
// which are the operator's business; the enforcer logs them with the
// refusal, and `gateway policy validate` shows them.
type policyCheck struct{ e *policy.Enforcer }

func (policyCheck) Name() string                { return "policy" }
func (policyCheck) Check(context.Context) error { return nil }
func (c policyCheck) Warning() string {
	if c.e.Stats().LastError != nil {
		return "the policy file was refused; the previous policy stays in force (the log says why)"
	}
	return ""
}

// every runs fn every interval until ctx is done.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
