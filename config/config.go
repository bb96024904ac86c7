// Package config defines the gateway's configuration: its typed shape, the
// built-in defaults, loading (defaults < YAML file < GATEWAY_* environment) and
// validation.
//
// Guarantees:
//   - Load either returns a Config that passed Validate, or an *Error that
//     lists every problem at once, each prefixed by its key (a typo is an
//     error, not a silently ignored key; a value that cannot be decoded is
//     reported once, without follow-on problems from its zero value).
//   - Secrets may be given inline or through a companion "*_file" key naming a
//     file; Load reads the file (dropping a trailing newline) and fills the
//     inline field, so the rest of the program sees one value. When both are
//     set the file wins. No problem message ever contains a secret's value.
//   - Validate has no side effects; it never touches the network or the disk.
//
// Durations are Go durations ("15m", "1h30m") and may also use a "d" suffix for
// whole days ("7d"); negative durations are refused. A bare number is refused
// for a duration because "timeout: 60" would otherwise mean 60 nanoseconds.
// Byte sizes accept "16KiB", "1MiB" or a plain number of bytes. Numbers must
// be whole and fit their field (iterations: -1 is refused, not wrapped), and
// booleans must be true or false (an empty GATEWAY_COOKIES_SECURE is refused,
// not taken as false). Lists may be given in the environment as
// "a,b" or as a JSON list.
//
// deploy/gateway.example.yaml documents every key; a test keeps it complete.
package config

import (
	"time"
)

// Config is the whole configuration. Field tags name the YAML keys; the
// environment variable for a key is GATEWAY_ followed by the upper-cased path
// with "." replaced by "_" (server.addr -> GATEWAY_SERVER_ADDR). The upstream
// list is replaced whole by GATEWAY_UPSTREAMS, a JSON list.
type Config struct {
	Server       Server       `mapstructure:"server"`
	Upstreams    []Upstream   `mapstructure:"upstreams"`
	Storage      Storage      `mapstructure:"storage"`
	Tokens       Tokens       `mapstructure:"tokens"`
	Cookies      Cookies      `mapstructure:"cookies"`
	Headers      Headers      `mapstructure:"headers"`
	Passwords    Passwords    `mapstructure:"passwords"`
	Registration Registration `mapstructure:"registration"`
	RateLimits   RateLimits   `mapstructure:"rate_limits"`
	Policy       Policy       `mapstructure:"policy"`
	Mail         Mail         `mapstructure:"mail"`
	Log          Log          `mapstructure:"log"`
	CORS         CORS         `mapstructure:"cors"`
}

// Server configures the public and admin listeners.
type Server struct {
	// Addr is the public listener, host:port or :port. Required.
	Addr string `mapstructure:"addr"`
	// AdminAddr serves /metrics and /debug/pprof/. Empty disables the admin
	// listener. Keep it on loopback or a private network.
	AdminAddr string `mapstructure:"admin_addr"`
	TLS       TLS    `mapstructure:"tls"`
	// TrustedProxies lists CIDRs (or single addresses) whose X-Forwarded-For,
	// X-Forwarded-Proto/Host, Forwarded and X-Request-Id are believed. Empty
	// means the TCP peer is always the client.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	// Must be positive.
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	// IdleTimeout closes keep-alive connections idle this long. Must be
	// positive.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// ShutdownTimeout is how long in-flight requests may finish after
	// SIGTERM. Must be positive.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// MaxHeaderBytes bounds the request line and headers (431 beyond it);
	// between 1KiB and 1MiB.
	MaxHeaderBytes ByteSize `mapstructure:"max_header_bytes"`
	// PublicURL is the origin users reach the gateway at, used in links,
	// cookies and redirects. Empty means links are built from the request.
	PublicURL string `mapstructure:"public_url"`
}

// TLS enables HTTPS on the public listener. Both files must be set, or
// neither (plain HTTP, e.g. behind a TLS-terminating load balancer).
type TLS struct {
	// CertFile is a PEM certificate chain.
	CertFile string `mapstructure:"cert_file"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `mapstructure:"key_file"`
}

// Enabled reports whether TLS termination is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Upstream is one backend and the path prefix routed to it. The longest
// matching prefix wins.
type Upstream struct {
	// Name labels logs and metrics and is the aud of X-Auth-Assertion:
	// lower-case letters, digits, '-' and '_'; unique.
	Name string `mapstructure:"name"`
	// Prefix is "/" or /segment[/segment...]; unique, and never under a path
	// the gateway answers itself (/auth, /healthz, /readyz, the JWKS).
	Prefix string `mapstructure:"prefix"`
	// URL is the upstream's absolute http(s) URL; a path in it is prepended
	// to the forwarded path.
	URL string `mapstructure:"url"`
	// StripPrefix removes Prefix from the path before forwarding.
	StripPrefix bool `mapstructure:"strip_prefix"`
	// Timeout bounds the wait for the upstream's response headers. Streaming
	// bodies (SSE, downloads, WebSocket) are not cut by it. Zero (unset)
	// means DefaultUpstreamTimeout (60s).
	Timeout time.Duration `mapstructure:"timeout"`
}

// Storage selects where users, sessions and shared counters live.
type Storage struct {
	// DatabaseURL is sqlite://PATH (embedded default; a relative PATH is
	// relative to the working directory, sqlite:///abs/path is absolute) or
	// postgres://user:password@host/db. Required.
	DatabaseURL string `mapstructure:"database_url"`
	// DatabaseURLFile names a file holding DatabaseURL (a secret when it
	// carries a password). Empty means DatabaseURL is used as it is.
	DatabaseURLFile string `mapstructure:"database_url_file"`
	// Sessions is "sql" (the database above) or "redis" (needs Redis).
	Sessions string `mapstructure:"sessions"`
	Redis    Redis  `mapstructure:"redis"`
}

// Redis configures the shared store: a URL for a standalone server, or Addrs
// for a Cluster, or Addrs plus SentinelMaster for Sentinel. With neither URL
// nor Addrs, Redis is not used (rate limits and revocation stay in process,
// which is right for a single replica only).
type Redis struct {
	// URL is redis://, rediss:// or unix:// (may carry a password).
	URL string `mapstructure:"url"`
	// URLFile names a file holding URL. Empty means URL is used as it is.
	URLFile string `mapstructure:"url_file"`
	// Addrs are host:port of the Cluster nodes or the Sentinels; set URL or
	// Addrs, not both.
	Addrs []string `mapstructure:"addrs"`
	// SentinelMaster is the Sentinel master name; empty means Addrs are
	// Cluster nodes.
	SentinelMaster string `mapstructure:"sentinel_master"`
	// Username is the ACL user; empty means the default user.
	Username string `mapstructure:"username"`
	// Password authenticates to Redis; empty means none (or the URL's).
	Password string `mapstructure:"password"`
	// PasswordFile names a file holding Password.
	PasswordFile string `mapstructure:"password_file"`
	// KeyPrefix namespaces every key the gateway writes; empty means none.
	KeyPrefix string `mapstructure:"key_prefix"`
}

// Enabled reports whether a Redis server is configured.
func (r Redis) Enabled() bool { return r.URL != "" || len(r.Addrs) > 0 }

// Tokens configures access tokens, refresh sessions and signing keys.
type Tokens struct {
	// Issuer is the iss claim. Empty means server.public_url, or "gateway".
	Issuer string `mapstructure:"issuer"`
	// Audience is the aud claim of access tokens. Required.
	Audience string `mapstructure:"audience"`
	// Algorithm is EdDSA, ES256, RS256 or HS256. Verification pins it.
	Algorithm string `mapstructure:"algorithm"`
	// KeysDir holds the PEM signing keys (the first in file-name order
	// signs, the others still verify); a key is generated there on first
	// start when it holds none. Required unless Algorithm is HS256.
	KeysDir string `mapstructure:"keys_dir"`
	// HMACSecret is the HS256 key, at least 32 bytes; unused otherwise.
	HMACSecret string `mapstructure:"hmac_secret"`
	// HMACSecretFile names a file holding HMACSecret.
	HMACSecretFile string `mapstructure:"hmac_secret_file"`
	// AccessTTL is the access token lifetime; at least 1s.
	AccessTTL time.Duration `mapstructure:"access_ttl"`
	// RefreshIdleTTL ends a session unused this long; at least 1s.
	RefreshIdleTTL time.Duration `mapstructure:"refresh_idle_ttl"`
	// RefreshMaxTTL is counted from login; rotation never extends it. At
	// least 1s.
	RefreshMaxTTL time.Duration `mapstructure:"refresh_max_ttl"`
	// ReuseGrace is how long a rotated refresh token is still accepted, so
	// that concurrent refreshes from one client do not end its session. Zero
	// means any reuse of a rotated token revokes the session.
	ReuseGrace time.Duration `mapstructure:"reuse_grace"`
	// ForwardAccessToken passes the verified access token to the upstream as
	// Authorization: Bearer; false means the upstream never sees it.
	ForwardAccessToken bool `mapstructure:"forward_access_token"`
	// CacheSize bounds the verified-token cache that keeps signature checks
	// off the hot path, in entries (about 400 bytes each): the default
	// 100,000 holds it near 40 MiB. A token not in the cache is verified
	// again, so a smaller cache costs CPU, never correctness.
	CacheSize int `mapstructure:"cache_size"`
}

// Cookies configures browser-mode cookies.
type Cookies struct {
	// Secure marks cookies Secure (HTTPS only) and, with an empty Domain,
	// gives them the __Host- prefix. Turn off only for plain-HTTP
	// development.
	Secure bool `mapstructure:"secure"`
	// Domain empty means host-only cookies (and the __Host- prefix when secure).
	Domain string `mapstructure:"domain"`
	// SameSite is lax, strict or none (none requires Secure). Load
	// lower-cases it.
	SameSite string `mapstructure:"same_site"`
	// AccessName is the access token cookie's name, without __Host-.
	AccessName string `mapstructure:"access_name"`
	// RefreshName is the refresh token cookie's name, without __Host-.
	RefreshName string `mapstructure:"refresh_name"`
}

// Headers names the identity headers the upstream receives. Every name is
// required and distinct; client-sent copies of each are always removed.
type Headers struct {
	UserID    string `mapstructure:"user_id"`
	Email     string `mapstructure:"email"`
	Roles     string `mapstructure:"roles"`
	SessionID string `mapstructure:"session_id"`
	RequestID string `mapstructure:"request_id"`
	Assertion string `mapstructure:"assertion"`
	// SignAssertion adds the Assertion header: a short-lived JWT for upstreams
	// that verify identity themselves. False means the header is not sent.
	SignAssertion bool `mapstructure:"sign_assertion"`
	// AssertionTTL is the assertion's lifetime, between 1s and 5m (checked
	// only when SignAssertion is on).
	AssertionTTL time.Duration `mapstructure:"assertion_ttl"`
}

// Passwords configures password rules and argon2id cost.
type Passwords struct {
	// MinLength is the shortest accepted password, in characters; at least 1.
	MinLength int `mapstructure:"min_length"`
	// MaxLength is the longest accepted password, checked before hashing;
	// between MinLength and 4096.
	MaxLength int `mapstructure:"max_length"`
	// MemoryKiB is argon2id's memory per hash, at least 8 x Parallelism.
	MemoryKiB uint32 `mapstructure:"memory_kib"`
	// Iterations is argon2id's time cost; at least 1.
	Iterations uint32 `mapstructure:"iterations"`
	// Parallelism is argon2id's lanes; 1 to 255.
	Parallelism uint8 `mapstructure:"parallelism"`
	// MaxConcurrent bounds simultaneous hashes; 0 means 2 x CPUs.
	MaxConcurrent int `mapstructure:"max_concurrent"`
	// MaxWait is how long a request waits for a hashing slot before 503.
	// Must be positive.
	MaxWait time.Duration `mapstructure:"max_wait"`
}

// Registration configures self-service sign-up.
type Registration struct {
	// Enabled allows POST /auth/register; false leaves account creation to
	// admins and the CLI.
	Enabled bool `mapstructure:"enabled"`
	// DefaultRoles are given to a self-registered user; empty means none
	// (the user still has the built-in "authenticated" role).
	DefaultRoles []string `mapstructure:"default_roles"`
}

// Rate is a limit of events per window. Limit is at least 1 and Window at
// least 1s; there is no "unlimited".
type Rate struct {
	Limit  int           `mapstructure:"limit"`
	Window time.Duration `mapstructure:"window"`
}

// RateLimits are the abuse limits of the account endpoints.
type RateLimits struct {
	LoginPerIP        Rate `mapstructure:"login_per_ip"`
	LoginPerAccount   Rate `mapstructure:"login_per_account"`
	LoginPerAccountIP Rate `mapstructure:"login_per_account_ip"`
	RegisterPerIP     Rate `mapstructure:"register_per_ip"`
	ForgotPerAccount  Rate `mapstructure:"forgot_per_account"`
	ForgotPerIP       Rate `mapstructure:"forgot_per_ip"`
}

// Policy locates the Casbin policy file.
type Policy struct {
	// File is the policy CSV, relative to the working directory. Required.
	File string `mapstructure:"file"`
	// Watch reloads File within 2s of a change; false means it is read once
	// at start-up.
	Watch bool `mapstructure:"watch"`
}

// Mail configures outgoing mail. Empty SMTPURL writes reset links to the log.
type Mail struct {
	// SMTPURL is smtp://[user:password@]host:port or smtps://...; empty
	// means reset links are written to the log (development).
	SMTPURL string `mapstructure:"smtp_url"`
	// SMTPURLFile names a file holding SMTPURL.
	SMTPURLFile string `mapstructure:"smtp_url_file"`
	// From is the sender address; required when SMTPURL is set.
	From string `mapstructure:"from"`
}

// Log configures the zap loggers.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `mapstructure:"level"`
	// Format is json (production) or console (development).
	Format string `mapstructure:"format"`
}

// CORS lists the other origins allowed to call the /auth API with credentials.
type CORS struct {
	// AllowedOrigins are scheme://host[:port]; empty means same-origin only.
	// Use them through Origins, which writes them as browsers send them.
	AllowedOrigins []string `mapstructure:"allowed_origins"`
}

// Default returns the built-in configuration: embedded SQLite storage, a
// generated key, one upstream on http://127.0.0.1:8000.
func Default() Config {
	return Config{
		Server: Server{
			Addr:              ":8080",
			AdminAddr:         "127.0.0.1:9090",
			TrustedProxies:    []string{},
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   15 * time.Second,
			MaxHeaderBytes:    16 * KiB,
		},
		Upstreams: []Upstream{{
			Name:    "app",
			Prefix:  "/",
			URL:     "http://127.0.0.1:8000",
			Timeout: 60 * time.Second,
		}},
		Storage: Storage{
			DatabaseURL: "sqlite://data/gateway.db",
			Sessions:    "sql",
			Redis:       Redis{Addrs: []string{}, KeyPrefix: "gateway:"},
		},
		Tokens: Tokens{
			Audience:       "gateway",
			Algorithm:      "EdDSA",
			KeysDir:        "data/keys",
			AccessTTL:      15 * time.Minute,
			RefreshIdleTTL: 7 * 24 * time.Hour,
			RefreshMaxTTL:  30 * 24 * time.Hour,
			ReuseGrace:     10 * time.Second,
			CacheSize:      100_000,
		},
		Cookies: Cookies{
			Secure:      true,
			SameSite:    "lax",
			AccessName:  "gw_access",
			RefreshName: "gw_refresh",
		},
		Headers: Headers{
			UserID:        "X-Auth-User-Id",
			Email:         "X-Auth-User-Email",
			Roles:         "X-Auth-User-Roles",
			SessionID:     "X-Auth-Session-Id",
			RequestID:     "X-Request-Id",
			Assertion:     "X-Auth-Assertion",
			SignAssertion: true,
			AssertionTTL:  5 * time.Minute,
		},
		Passwords: Passwords{
			MinLength:   12,
			MaxLength:   256,
			MemoryKiB:   19456,
			Iterations:  2,
			Parallelism: 1,
			MaxWait:     2 * time.Second,
		},
		Registration: Registration{Enabled: true, DefaultRoles: []string{"user"}},
		RateLimits: RateLimits{
			LoginPerIP:        Rate{20, time.Minute},
			LoginPerAccount:   Rate{10, 15 * time.Minute},
			LoginPerAccountIP: Rate{5, 15 * time.Minute},
			RegisterPerIP:     Rate{10, time.Hour},
			ForgotPerAccount:  Rate{3, time.Hour},
			ForgotPerIP:       Rate{10, time.Hour},
		},
		Policy: Policy{File: "policy.csv", Watch: true},
		Log:    Log{Level: "info", Format: "json"},
		CORS:   CORS{AllowedOrigins: []string{}},
	}
}

// IssuerOrDefault returns the configured issuer, else the public URL, else
// "gateway".
func (c *Config) IssuerOrDefault() string {
	switch {
	case c.Tokens.Issuer != "":
		return c.Tokens.Issuer
	case c.Server.PublicURL != "":
		return c.Server.PublicURL
	default:
		return "gateway"
	}
}
