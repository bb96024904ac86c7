package main

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway"
	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/auth"
	"github.com/authgate/gateway/gateway/database"
	"github.com/authgate/gateway/gateway/mail"
	"github.com/authgate/gateway/gateway/observe"
	"github.com/authgate/gateway/gateway/password"
	"github.com/authgate/gateway/gateway/ratelimit"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/gateway/token"
)

// core is what `gateway serve` and the commands that act on accounts (user
// create, set-roles, disable, ...) share: the database, the session store
// and revocation feed, the revocation view, and the account service. The
// commands go through the same auth.Service as the admin API, so that a
// change made from the command line is audited and published on the feed
// exactly like one made over HTTP: running gateways see it within 1 s.
type core struct {
	db       *database.DB
	users    *account.SQLStore
	sessions session.Store
	feed     session.Feed
	view     *session.View
	keys     *token.KeySet
	issuer   *token.Issuer
	verifier *token.Verifier
	auth     *auth.Service
	// checks are the readiness checks of what core opened.
	checks  []gateway.ReadinessCheck
	closers []func()
}

func (c *core) close() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
}

// coreOptions say what kind of process the core is for.
type coreOptions struct {
	// migrate applies the database migrations first.
	migrate bool
	// serve builds a long-running gateway: its revocation view follows the
	// feed (replaying the last access-token lifetime first), SQL sessions
	// and feed entries are cleaned up periodically until ctx is done, and
	// tokens are signed with the configured keys (generated into keys_dir
	// on first start).
	//
	// Otherwise the core is for a short command: the view only records what
	// this process publishes (a command never checks a token), nothing runs
	// in the background, and the keys are an HMAC secret that lives in
	// memory only: a command issues no token that leaves the process, and
	// must not create keys_dir on an operator's machine or need to read
	// the production signing keys.
	serve bool
	// metrics, if set, counts the account events and password hashing.
	metrics *observe.Metrics
}

// newCore opens and constructs the core from cfg. On error everything
// opened so far is closed again.
func newCore(ctx context.Context, cfg *config.Config, log *zap.Logger, o coreOptions) (_ *core, err error) {
	// c is a local, not the named result: `return nil, err` sets the
	// result to nil before the deferred cleanup runs, and the cleanup must
	// still see what was opened.
	c := &core{}
	defer func() {
		if err != nil {
			c.close()
		}
	}()

	c.db, err = database.Open(ctx, cfg.Storage.DatabaseURL)
	if err != nil {
		return nil, err
	}
	db := c.db
	c.closers = append(c.closers, func() { _ = db.Close() }) // at exit; nothing is left to act on an error
	if o.migrate {
		if err := db.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	// Bounded like the other pings: a partitioned database would
	// otherwise take all of /readyz's time, and the checks after it would
	// fail on an expired context.
	c.checks = []gateway.ReadinessCheck{namedCheck{db.Name(), db.Ping}}

	// The abuse limits are shared through Redis whenever Redis is
	// configured (storage.redis), so that every replica counts the same
	// attempts, also with sessions in SQL; without Redis each process
	// counts its own (bounded memory, see ratelimit.Memory).
	var limiter ratelimit.Limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	sessOpts := session.OptionsFromConfig(cfg.Tokens)
	feedOpts := session.FeedOptions{Logger: log.Named("revocations")}
	var rdb redis.UniversalClient
	if cfg.Storage.Redis.Enabled() {
		// go-redis logs reconnection trouble itself; through zap, as JSON
		// with everything else (SPEC 8), not as plain text on stderr.
		redis.SetLogger(redisLogger{log.Named("redis")})
		if rdb, err = redisClient(cfg.Storage.Redis); err != nil {
			return nil, err
		}
		client := rdb
		c.closers = append(c.closers, func() { _ = client.Close() }) // at exit, as above
		limiter = ratelimit.NewRedis(rdb, cfg.Storage.Redis.KeyPrefix)
	}
	switch cfg.Storage.Sessions {
	case "redis":
		if rdb == nil {
			return nil, errors.New("storage.sessions: redis needs storage.redis.url or storage.redis.addrs")
		}
		rs, err := session.NewRedisStore(rdb, cfg.Storage.Redis.KeyPrefix, sessOpts)
		if err != nil {
			return nil, err
		}
		c.sessions, c.feed = rs, session.NewRedisFeed(rdb, cfg.Storage.Redis.KeyPrefix, feedOpts)
		c.checks = append(c.checks, namedCheck{"redis", rs.Ping})
	default:
		if rdb != nil {
			client := rdb
			c.checks = append(c.checks, namedCheck{"redis", func(ctx context.Context) error { return client.Ping(ctx).Err() }})
		}
		ss, err := session.NewSQLStore(db, sessOpts)
		if err != nil {
			return nil, err
		}
		sf := session.NewSQLFeed(db, feedOpts)
		c.sessions, c.feed = ss, sf
		if o.serve {
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
	}

	viewOpts := session.ViewOptions{AccessTTL: cfg.Tokens.AccessTTL, Logger: log.Named("revocations")}
	if o.serve {
		c.view, err = session.StartView(ctx, c.feed, viewOpts)
		if err != nil {
			return nil, err
		}
		c.checks = append(c.checks, c.view.ReadyCheck())
		c.keys, err = loadKeys(cfg.Tokens, log)
	} else {
		if c.view, err = session.NewView(viewOpts); err != nil {
			return nil, err
		}
		c.keys, err = ephemeralKeys()
	}
	if err != nil {
		return nil, err
	}

	tokOpts := token.Options{Issuer: cfg.IssuerOrDefault(), Audience: cfg.Tokens.Audience, AccessTTL: cfg.Tokens.AccessTTL,
		CacheSize: cfg.Tokens.CacheSize}
	if c.issuer, err = token.NewIssuer(c.keys, tokOpts); err != nil {
		return nil, err
	}
	if c.verifier, err = token.NewVerifier(c.keys, tokOpts); err != nil {
		return nil, err
	}
	// Nil interfaces, not nil *Metrics, when there are no metrics.
	var hashObs password.Observer
	var events auth.EventObserver
	if o.metrics != nil {
		hashObs, events = o.metrics, o.metrics
	}
	hasher, err := password.New(cfg.Passwords, hashObs)
	if err != nil {
		return nil, err
	}
	c.users = account.NewSQLStore(db)
	// Empty mail.smtp_url: reset links go to the log (development).
	mailer, err := mail.New(cfg.Mail, log.Named("mail"))
	if err != nil {
		return nil, err
	}
	c.auth, err = auth.NewService(auth.Deps{
		Users:    c.users,
		Sessions: c.sessions,
		Feed:     c.feed,
		View:     c.view,
		Issuer:   c.issuer,
		Verifier: c.verifier,
		Hasher:   hasher,
		Rules:    password.NewRules(cfg.Passwords),
		Audit:    log.Named("audit"),
		Logger:   log.Named("auth"),
		Events:   events,
		Limiter:  limiter,
		Resets:   account.NewResetStore(db),
		Mailer:   mailer,
	}, auth.Settings{RegistrationEnabled: cfg.Registration.Enabled, DefaultRoles: cfg.Registration.DefaultRoles,
		Limits: cfg.RateLimits, PublicURL: strings.TrimSuffix(cfg.Server.PublicURL, "/"),
		// Links from the request's Host only when they are logged, never
		// mailed (config validation requires public_url with SMTP).
		ResetLinkFromRequest: cfg.Mail.SMTPURL == ""})
	if err != nil {
		return nil, err
	}
	// Reset mails in flight finish (or are given up) before the stores close.
	c.closers = append(c.closers, c.auth.Close)
	return c, nil
}

// ephemeralKeys is a random HS256 key that is never written anywhere.
func ephemeralKeys() (*token.KeySet, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	return token.NewHMACKeySet(secret)
}

// commandCore loads the configuration (--config FILE, else ./gateway.yaml,
// then GATEWAY_* variables, as serve does) and builds a core for a short
// command, after applying any pending database migration: on a fresh
// install the first command run is `gateway user create`, before any serve.
// The caller closes the core.
func (e *env) commandCore(ctx context.Context, configFile string) (*config.Config, *core, error) {
	cfg, err := config.Load(configFile, e.environ)
	if err != nil {
		return nil, nil, err
	}
	log, err := e.commandLogger(cfg.Log)
	if err != nil {
		return nil, nil, err
	}
	c, err := newCore(ctx, cfg, log, coreOptions{migrate: true})
	if err != nil {
		return nil, nil, err
	}
	return cfg, c, nil
}

// commandLogger writes a command's audit events (the account changes it
// makes, the same lines serve writes for the admin API) and every warning
// or error to e.stderr, in the configured format and no more verbose than
// the configured level. The informational lines of the components ("view
// caught up") are a server's business, not an operator's at a terminal.
func (e *env) commandLogger(l config.Log) (*zap.Logger, error) {
	enc, level, err := observe.Encoder(l)
	if err != nil {
		return nil, err
	}
	out := zapcore.Lock(zapcore.AddSync(e.stderr))
	return zap.New(commandLogCore{zapcore.NewCore(enc, out, level)}, zap.ErrorOutput(out)), nil
}

// commandLogCore drops entries below warn level except the audit logger's.
type commandLogCore struct{ zapcore.Core }

func (c commandLogCore) With(fields []zapcore.Field) zapcore.Core {
	return commandLogCore{c.Core.With(fields)}
}

func (c commandLogCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if ent.Level < zapcore.WarnLevel && ent.LoggerName != "audit" {
		return ce
	}
	return c.Core.Check(ent, ce)
}
