// Package config defines the gateway's configuration: its typed shape, the
// built-in defaults, loading (defaults < YAML file < GATEWAY_* environment) and
// validation.
//
// Guarantees:
//   - Load either returns a Config that passed Validate, or an error that lists
//     every problem at once, each prefixed by its key (a typo is an error, not a
//     silently ignored key).
//   - Secrets may be given inline or through a companion "*_file" key naming a
//     file; Load reads the file and fills the inline field, so the rest of the
//     program sees one value.
//   - Validate has no side effects; it never touches the network or the disk.
//
// Durations are Go durations ("15m", "1h30m") and may also use a "d" suffix for
// whole days ("7d"). A bare number is refused for a duration because "timeout:
// 60" would otherwise mean 60 nanoseconds. Byte sizes accept "16KiB", "1MiB" or
// a plain number of bytes.
package config

import (
	"time"
)

// Config is the whole configuration. Field tags name the YAML keys; the
// environment variable for a key is GATEWAY_ followed by the upper-cased path
// with "." replaced by "_" (server.addr -> GATEWAY_SERVER_ADDR).
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
	// Addr is the public listener, host:port.
	Addr string `mapstructure:"addr"`
	// AdminAddr serves /metrics and /debug/pprof/. Empty disables the admin
	// listener. Keep it on loopback or a private network.
	AdminAddr string `mapstructure:"admin_addr"`
	TLS       TLS    `mapstructure:"tls"`
	// TrustedProxies lists CIDRs (or single addresses) whose X-Forwarded-For,
	// X-Forwarded-Proto/Host, Forwarded and X-Request-Id are believed. Empty
	// means the TCP peer is always the client.
	TrustedProxies    []string      `mapstructure:"trusted_proxies"`
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	IdleTimeout       time.Duration `mapstructure:"idle_timeout"`
	ShutdownTimeout   time.Duration `mapstructure:"shutdown_timeout"`
	MaxHeaderBytes    ByteSize      `mapstructure:"max_header_bytes"`
	// PublicURL is the origin users reach the gateway at, used in links,
	// cookies and redirects. Empty means links are built from the request.
	PublicURL string `mapstructure:"public_url"`
}

// TLS enables HTTPS on the public listener when both files are set.
type TLS struct {
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// Enabled reports whether TLS termination is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Upstream is one backend and the path prefix routed to it. The longest
// matching prefix wins.
type Upstream struct {
	Name   string `mapstructure:"name"`
	Prefix string `mapstructure:"prefix"`
	URL    string `mapstructure:"url"`
	// StripPrefix removes Prefix from the path before forwarding.
	StripPrefix bool `mapstructure:"strip_prefix"`
	// Timeout bounds the wait for the upstream's response headers. Streaming
	// bodies (SSE, downloads, WebSocket) are not cut by it.
	Timeout time.Duration `mapstructure:"timeout"`
}

// Storage selects where users, sessions and shared counters live.
type Storage struct {
	// DatabaseURL is sqlite://PATH (embedded default) or postgres://...
	DatabaseURL     string `mapstructure:"database_url"`
	DatabaseURLFile string `mapstructure:"database_url_file"`
	// Sessions is "sql" (the database above) or "redis".
	Sessions string `mapstructure:"sessions"`
	Redis    Redis  `mapstructure:"redis"`
}

// Redis configures the shared store: a URL for a standalone server, or Addrs
// for a Cluster, or Addrs plus SentinelMaster for Sentinel.
type Redis struct {
	URL            string   `mapstructure:"url"`
	URLFile        string   `mapstructure:"url_file"`
	Addrs          []string `mapstructure:"addrs"`
	SentinelMaster string   `mapstructure:"sentinel_master"`
	Username       string   `mapstructure:"username"`
	Password       string   `mapstructure:"password"`
	PasswordFile   string   `mapstructure:"password_file"`
	// KeyPrefix namespaces every key the gateway writes.
	KeyPrefix string `mapstructure:"key_prefix"`
}

// Enabled reports whether a Redis server is configured.
func (r Redis) Enabled() bool { return r.URL != "" || len(r.Addrs) > 0 }

// Tokens configures access tokens, refresh sessions and signing keys.
type Tokens struct {
	// Issuer is the iss claim. Empty means server.public_url, or "gateway".
	Issuer   string `mapstructure:"issuer"`
	Audience string `mapstructure:"audience"`
	// Algorithm is EdDSA, ES256, RS256 or HS256. Verification pins it.
	Algorithm      string        `mapstructure:"algorithm"`
	KeysDir        string        `mapstructure:"keys_dir"`
	HMACSecret     string        `mapstructure:"hmac_secret"`
	HMACSecretFile string        `mapstructure:"hmac_secret_file"`
	AccessTTL      time.Duration `mapstructure:"access_ttl"`
	RefreshIdleTTL time.Duration `mapstructure:"refresh_idle_ttl"`
	// RefreshMaxTTL is counted from login; rotation never extends it.
	RefreshMaxTTL time.Duration `mapstructure:"refresh_max_ttl"`
	// ReuseGrace is how long a rotated refresh token is still accepted, so
	// that concurrent refreshes from one client do not end its session.
	ReuseGrace         time.Duration `mapstructure:"reuse_grace"`
	ForwardAccessToken bool          `mapstructure:"forward_access_token"`
}

// Cookies configures browser-mode cookies.
type Cookies struct {
	Secure bool `mapstructure:"secure"`
	// Domain empty means host-only cookies (and the __Host- prefix when secure).
	Domain      string `mapstructure:"domain"`
	SameSite    string `mapstructure:"same_site"`
	AccessName  string `mapstructure:"access_name"`
	RefreshName string `mapstructure:"refresh_name"`
}

// Headers names the identity headers the upstream receives.
type Headers struct {
	UserID    string `mapstructure:"user_id"`
	Email     string `mapstructure:"email"`
	Roles     string `mapstructure:"roles"`
	SessionID string `mapstructure:"session_id"`
	RequestID string `mapstructure:"request_id"`
	Assertion string `mapstructure:"assertion"`
	// SignAssertion adds the Assertion header: a short-lived JWT for upstreams
	// that verify identity themselves.
	SignAssertion bool          `mapstructure:"sign_assertion"`
	AssertionTTL  time.Duration `mapstructure:"assertion_ttl"`
}

// Passwords configures password rules and argon2id cost.
type Passwords struct {
	MinLength   int    `mapstructure:"min_length"`
	MaxLength   int    `mapstructure:"max_length"`
	MemoryKiB   uint32 `mapstructure:"memory_kib"`
	Iterations  uint32 `mapstructure:"iterations"`
	Parallelism uint8  `mapstructure:"parallelism"`
	// MaxConcurrent bounds simultaneous hashes; 0 means 2 x CPUs.
	MaxConcurrent int `mapstructure:"max_concurrent"`
	// MaxWait is how long a request waits for a hashing slot before 503.
	MaxWait time.Duration `mapstructure:"max_wait"`
}

// Registration configures self-service sign-up.
type Registration struct {
	Enabled      bool     `mapstructure:"enabled"`
	DefaultRoles []string `mapstructure:"default_roles"`
}

// Rate is a limit of events per window.
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
	File  string `mapstructure:"file"`
	Watch bool   `mapstructure:"watch"`
}

// Mail configures outgoing mail. Empty SMTPURL writes reset links to the log.
type Mail struct {
	SMTPURL     string `mapstructure:"smtp_url"`
	SMTPURLFile string `mapstructure:"smtp_url_file"`
	From        string `mapstructure:"from"`
}

// Log configures the zap loggers.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// CORS lists the other origins allowed to call the /auth API with credentials.
type CORS struct {
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
