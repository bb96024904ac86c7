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
	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/auth"
	"github.com/authgate/gateway/gateway/database"
	"github.com/authgate/gateway/gateway/password"
	"github.com/authgate/gateway/gateway/proxy"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/gateway/token"
	"github.com/authgate/gateway/policy"
)

// app is the wired gateway: stores, services and the server.
type app struct {
	server *gateway.Server
	// auth is the account service, for what acts on accounts outside the
	// HTTP API (the user commands, tests).
	auth    *auth.Service
	closers []func()
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// build constructs everything serve needs from cfg. Background work (the
// revocation feed, cleanups) runs until ctx is done. migrate applies the
// database migrations first.
func build(ctx context.Context, cfg *config.Config, log *zap.Logger, migrate bool) (a *app, err error) {
	a = &app{}
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	db, err := database.Open(ctx, cfg.Storage.DatabaseURL)
	if err != nil {
		return a, err
	}
	a.closers = append(a.closers, func() { db.Close() })
	if migrate {
		if err := db.Migrate(ctx); err != nil {
			return a, err
		}
	}
	checks := []gateway.ReadinessCheck{db}

	sessOpts := session.OptionsFromConfig(cfg.Tokens)
	feedOpts := session.FeedOptions{Logger: log.Named("revocations")}
	var (
		sessions session.Store
		feed     session.Feed
	)
	switch cfg.Storage.Sessions {
	case "redis":
		rdb, err := redisClient(cfg.Storage.Redis)
		if err != nil {
			return a, err
		}
		a.closers = append(a.closers, func() { rdb.Close() })
		rs, err := session.NewRedisStore(rdb, cfg.Storage.Redis.KeyPrefix, sessOpts)
		if err != nil {
			return a, err
		}
		sessions, feed = rs, session.NewRedisFeed(rdb, cfg.Storage.Redis.KeyPrefix, feedOpts)
		checks = append(checks, namedCheck{"redis", rs.Ping})
	default:
		ss, err := session.NewSQLStore(db, sessOpts)
		if err != nil {
			return a, err
		}
		sf := session.NewSQLFeed(db, feedOpts)
		sessions, feed = ss, sf
		go every(ctx, 10*time.Minute, func(ctx context.Context) {
			now := time.Now()
			if _, err := ss.Cleanup(ctx, now); err != nil {
				log.Warn("session cleanup failed", zap.Error(err))
			}
			if _, err := sf.Prune(ctx, now.Add(-2*(cfg.Tokens.AccessTTL+session.DefaultLeeway))); err != nil {
				log.Warn("revocation feed prune failed", zap.Error(err))
			}
		})
	}
	view, err := session.StartView(ctx, feed, session.ViewOptions{AccessTTL: cfg.Tokens.AccessTTL, Logger: log.Named("revocations")})
	if err != nil {
		return a, err
	}
	checks = append(checks, view.ReadyCheck())

	keys, err := loadKeys(cfg.Tokens, log)
	if err != nil {
		return a, err
	}
	tokOpts := token.Options{Issuer: cfg.IssuerOrDefault(), Audience: cfg.Tokens.Audience, AccessTTL: cfg.Tokens.AccessTTL}
	issuer, err := token.NewIssuer(keys, tokOpts)
	if err != nil {
		return a, err
	}
	verifier, err := token.NewVerifier(keys, tokOpts)
	if err != nil {
		return a, err
	}
	var signer proxy.AssertionSigner // a nil interface, not a nil *Asserter
	if cfg.Headers.SignAssertion {
		asserter, err := token.NewAsserter(keys, token.AssertionOptions{Issuer: cfg.IssuerOrDefault(), TTL: cfg.Headers.AssertionTTL})
		if err != nil {
			return a, err
		}
		signer = asserter
	}

	hasher, err := password.New(cfg.Passwords, nil)
	if err != nil {
		return a, err
	}
	users := account.NewSQLStore(db)
	svc, err := auth.NewService(auth.Deps{
		Users:    users,
		Sessions: sessions,
		Feed:     feed,
		View:     view,
		Issuer:   issuer,
		Verifier: verifier,
		Hasher:   hasher,
		Rules:    password.NewRules(cfg.Passwords),
		Audit:    log.Named("audit"),
		Logger:   log.Named("auth"),
	}, auth.Settings{RegistrationEnabled: cfg.Registration.Enabled, DefaultRoles: cfg.Registration.DefaultRoles})
	if err != nil {
		return a, err
	}
	authn, err := auth.NewAuthenticator(svc, cfg.Cookies, cfg.CORS.AllowedOrigins)
	if err != nil {
		return a, err
	}
	a.auth = svc
	handlers := auth.NewHandlers(svc, authn, keys)
	admin := auth.NewAdmin(svc, users, authn)

	enforcer, err := policy.NewEnforcer(cfg.Policy.File, policy.Options{Logger: log.Named("policy")})
	if err != nil {
		return a, err
	}
	if cfg.Policy.Watch {
		go func() { _ = enforcer.Run(ctx) }()
	}
	checks = append(checks, policyCheck{enforcer})

	a.server, err = gateway.New(gateway.Options{
		Config:        cfg,
		Logger:        log,
		Authenticator: authn,
		Authorizer:    gateway.Policy{Enforcer: enforcer},
		Signer:        signer,
		Checks:        checks,
		Routes: func(e *echo.Echo) {
			handlers.Register(e)
			admin.Register(e)
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
	}
	if r.SentinelMaster == "" && len(r.Addrs) > 1 {
		opts.IsClusterMode = true
	}
	return redis.NewUniversalClient(opts), nil
}

// namedCheck adapts a ping function to a readiness check.
type namedCheck struct {
	name string
	ping func(context.Context) error
}

func (c namedCheck) Name() string { return c.name }
func (c namedCheck) Check(ctx context.Context) error {
	if err := c.ping(ctx); err != nil {
		return fmt.Errorf("%s unreachable", c.name)
	}
	return nil
}

// policyCheck reports the policy in /readyz: a refused reload leaves the
// previous policy in force, so it is a warning, not unreadiness (taking
// every replica out of the load balancer over a typo would be worse).
type policyCheck struct{ e *policy.Enforcer }

func (policyCheck) Name() string                { return "policy" }
func (policyCheck) Check(context.Context) error { return nil }
func (c policyCheck) Warning() string {
	if err := c.e.Stats().LastError; err != nil {
		return "the policy file was refused; the previous policy stays in force: " + err.Error()
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
