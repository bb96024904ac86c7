package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultUpstreamTimeout applies to an upstream whose timeout is unset.
const DefaultUpstreamTimeout = 60 * time.Second

// reservedPaths are answered by the gateway itself; an upstream prefix there
// would never be reached.
var reservedPaths = []string{"/auth", "/healthz", "/readyz", "/.well-known/jwks.json"}

var (
	// upstream prefixes are plain path segments of unreserved characters, so
	// that the prefix reads the same in a request's raw and decoded path.
	prefixPattern = regexp.MustCompile(`^/([A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*)?$`)
	namePattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	// header names are RFC 9110 tokens; cookie names likewise.
	tokenPattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	rolePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)
)

// Validate checks every field and returns an *Error listing all problems, or
// nil. It does not touch the disk or the network.
func (c *Config) Validate() error {
	var p problems
	c.validateServer(&p)
	c.validateUpstreams(&p)
	c.validateStorage(&p)
	c.validateTokens(&p)
	c.validateCookies(&p)
	c.validateHeaders(&p)
	c.validatePasswords(&p)
	for i, r := range c.Registration.DefaultRoles {
		if !rolePattern.MatchString(r) {
			p.add(fmt.Sprintf("registration.default_roles[%d]", i), "invalid role name %q", r)
		}
	}
	rates := map[string]Rate{
		"login_per_ip": c.RateLimits.LoginPerIP, "login_per_account": c.RateLimits.LoginPerAccount,
		"login_per_account_ip": c.RateLimits.LoginPerAccountIP, "register_per_ip": c.RateLimits.RegisterPerIP,
		"forgot_per_account": c.RateLimits.ForgotPerAccount, "forgot_per_ip": c.RateLimits.ForgotPerIP,
	}
	for name, r := range rates {
		if r.Limit < 1 {
			p.add("rate_limits."+name+".limit", "must be at least 1")
		}
		if r.Window < time.Second {
			p.add("rate_limits."+name+".window", "must be at least 1s")
		}
	}
	if c.Policy.File == "" {
		p.add("policy.file", "must not be empty")
	}
	c.validateMail(&p)
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		p.add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if !oneOf(c.Log.Format, "json", "console") {
		p.add("log.format", "must be json or console, not %q", c.Log.Format)
	}
	for i, o := range c.CORS.AllowedOrigins {
		// What NormalizeOrigin accepts is what the gateway uses
		// (CORS.Origins): --config-test catches what serve would refuse.
		if _, err := NormalizeOrigin(o); err != nil {
			p.add(fmt.Sprintf("cors.allowed_origins[%d]", i), "%v", err)
		}
	}
	return p.err()
}

func (c *Config) validateServer(p *problems) {
	s := &c.Server
	checkHostPort(p, "server.addr", s.Addr, false)
	checkHostPort(p, "server.admin_addr", s.AdminAddr, true)
	if s.AdminAddr != "" && s.AdminAddr == s.Addr {
		p.add("server.admin_addr", "must differ from server.addr")
	}
	if s.TLS.Enabled() && (s.TLS.CertFile == "" || s.TLS.KeyFile == "") {
		p.add("server.tls", "cert_file and key_file must be set together")
	}
	if _, err := ParsePrefixes(s.TrustedProxies); err != nil {
		p.add("server.trusted_proxies", "%v", err)
	}
	positive(p, "server.read_header_timeout", s.ReadHeaderTimeout)
	positive(p, "server.idle_timeout", s.IdleTimeout)
	positive(p, "server.shutdown_timeout", s.ShutdownTimeout)
	if s.MaxHeaderBytes < 1*KiB || s.MaxHeaderBytes > 1*MiB {
		p.add("server.max_header_bytes", "must be between 1KiB and 1MiB")
	}
	if s.PublicURL != "" {
		u, err := url.Parse(s.PublicURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			p.add("server.public_url", "must be an absolute http(s) URL, not %q", s.PublicURL)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			p.add("server.public_url", "must not carry a query, fragment or user info")
		case u.Path != "" && u.Path != "/":
			p.add("server.public_url", "must be an origin without a path (the gateway owns /auth at the root)")
		}
	}
}

func (c *Config) validateUpstreams(p *problems) {
	if len(c.Upstreams) == 0 {
		p.add("upstreams", "at least one upstream is required")
	}
	names := map[string]bool{}
	prefixes := map[string]bool{}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		key := fmt.Sprintf("upstreams[%d]", i)
		if !namePattern.MatchString(u.Name) {
			p.add(key+".name", "must be lower-case letters, digits, '-' or '_', not %q", u.Name)
		} else if names[u.Name] {
			p.add(key+".name", "duplicate upstream name %q", u.Name)
		}
		names[u.Name] = true
		if !prefixPattern.MatchString(u.Prefix) {
			p.add(key+".prefix", "must be \"/\" or /segment[/segment...] of letters, digits and -._~, not %q", u.Prefix)
		} else if hasDotSegment(u.Prefix) {
			// Requests with dot segments are refused before routing, so such
			// a prefix could never match; "/api/../auth" would also dodge
			// the reserved-path check below.
			p.add(key+".prefix", "must not contain \".\" or \"..\" segments, not %q", u.Prefix)
		} else if prefixes[u.Prefix] {
			p.add(key+".prefix", "duplicate prefix %q", u.Prefix)
		}
		prefixes[u.Prefix] = true
		for _, r := range reservedPaths {
			if u.Prefix == r || strings.HasPrefix(u.Prefix, r+"/") {
				p.add(key+".prefix", "%q is answered by the gateway itself", u.Prefix)
			}
		}
		target, err := url.Parse(u.URL)
		switch {
		case err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "":
			p.add(key+".url", "must be an absolute http(s) URL, not %q", u.URL)
		case target.RawQuery != "" || target.Fragment != "" || target.User != nil:
			p.add(key+".url", "must not carry a query, fragment or user info")
		}
		positive(p, key+".timeout", u.Timeout)
	}
}

func (c *Config) validateStorage(p *problems) {
	s := &c.Storage
	u, err := url.Parse(s.DatabaseURL)
	if err != nil || !oneOf(u.Scheme, "sqlite", "postgres", "postgresql") {
		// Never echo the URL: it may hold a password.
		p.add("storage.database_url", "must be sqlite://PATH or postgres://...")
	}
	if !oneOf(s.Sessions, "sql", "redis") {
		p.add("storage.sessions", "must be sql or redis, not %q", s.Sessions)
	}
	r := &s.Redis
	if r.URL != "" && len(r.Addrs) > 0 {
		p.add("storage.redis", "set url or addrs, not both")
	}
	if r.URL != "" {
		if ru, err := url.Parse(r.URL); err != nil || !oneOf(ru.Scheme, "redis", "rediss", "unix") {
			p.add("storage.redis.url", "must be redis://, rediss:// or unix://")
		}
	}
	for i, a := range r.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			p.add(fmt.Sprintf("storage.redis.addrs[%d]", i), "must be host:port, not %q", a)
		}
	}
	if r.SentinelMaster != "" && len(r.Addrs) == 0 {
		p.add("storage.redis.sentinel_master", "needs storage.redis.addrs (the sentinels)")
	}
	if s.Sessions == "redis" && !r.Enabled() {
		p.add("storage.sessions", "redis needs storage.redis.url or storage.redis.addrs")
	}
}

func (c *Config) validateTokens(p *problems) {
	t := &c.Tokens
	if !oneOf(t.Algorithm, "EdDSA", "ES256", "RS256", "HS256") {
		p.add("tokens.algorithm", "must be EdDSA, ES256, RS256 or HS256, not %q", t.Algorithm)
	}
	if t.Algorithm == "HS256" && len(t.HMACSecret) < 32 {
		p.add("tokens.hmac_secret", "HS256 needs a secret of at least 32 bytes (hmac_secret or hmac_secret_file)")
	}
	if t.Algorithm != "HS256" && t.KeysDir == "" {
		p.add("tokens.keys_dir", "must not be empty")
	}
	if t.Audience == "" {
		p.add("tokens.audience", "must not be empty")
	}
	atLeast(p, "tokens.access_ttl", t.AccessTTL, time.Second)
	atLeast(p, "tokens.refresh_idle_ttl", t.RefreshIdleTTL, time.Second)
	atLeast(p, "tokens.refresh_max_ttl", t.RefreshMaxTTL, time.Second)
	if t.ReuseGrace < 0 {
		p.add("tokens.reuse_grace", "must not be negative")
	}
	if t.CacheSize < 1 {
		p.add("tokens.cache_size", "must be at least 1, not %d", t.CacheSize)
	}
}

func (c *Config) validateCookies(p *problems) {
	k := &c.Cookies
	if !oneOf(strings.ToLower(k.SameSite), "lax", "strict", "none") {
		p.add("cookies.same_site", "must be lax, strict or none, not %q", k.SameSite)
	}
	if strings.EqualFold(k.SameSite, "none") && !k.Secure {
		p.add("cookies.same_site", "none requires cookies.secure (browsers drop it otherwise)")
	}
	for key, name := range map[string]string{"cookies.access_name": k.AccessName, "cookies.refresh_name": k.RefreshName} {
		if !tokenPattern.MatchString(name) || strings.HasPrefix(name, "__") {
			p.add(key, "must be a cookie name without a __ prefix (the gateway adds __Host- itself), not %q", name)
		}
	}
	if k.AccessName == k.RefreshName {
		p.add("cookies.refresh_name", "must differ from cookies.access_name")
	}
	if k.Domain != "" && strings.ContainsAny(k.Domain, "/:; ") {
		p.add("cookies.domain", "must be a bare domain name, not %q", k.Domain)
	}
}

func (c *Config) validateHeaders(p *problems) {
	h := &c.Headers
	seen := map[string]string{}
	for key, name := range map[string]string{
		"headers.user_id": h.UserID, "headers.email": h.Email, "headers.roles": h.Roles,
		"headers.session_id": h.SessionID, "headers.request_id": h.RequestID, "headers.assertion": h.Assertion,
	} {
		if !tokenPattern.MatchString(name) {
			p.add(key, "must be a header name, not %q", name)
			continue
		}
		norm := strings.ToLower(name)
		if other, dup := seen[norm]; dup {
			p.add(key, "same header as %s", other)
		}
		seen[norm] = key
	}
	if h.SignAssertion && (h.AssertionTTL < time.Second || h.AssertionTTL > 5*time.Minute) {
		p.add("headers.assertion_ttl", "must be between 1s and 5m")
	}
}

func (c *Config) validatePasswords(p *problems) {
	w := &c.Passwords
	if w.MinLength < 1 {
		p.add("passwords.min_length", "must be at least 1")
	}
	if w.MaxLength < w.MinLength || w.MaxLength > 4096 {
		p.add("passwords.max_length", "must be between min_length and 4096")
	}
	if w.Parallelism < 1 {
		p.add("passwords.parallelism", "must be at least 1")
	}
	if w.MemoryKiB < 8*uint32(max(w.Parallelism, 1)) {
		p.add("passwords.memory_kib", "must be at least 8 x parallelism")
	}
	if w.MemoryKiB > 4*1024*1024 {
		p.add("passwords.memory_kib", "must be at most 4GiB")
	}
	if w.Iterations < 1 {
		p.add("passwords.iterations", "must be at least 1")
	}
	if w.MaxConcurrent < 0 {
		p.add("passwords.max_concurrent", "must not be negative (0 means 2 x CPUs)")
	}
	positive(p, "passwords.max_wait", w.MaxWait)
}

func (c *Config) validateMail(p *problems) {
	m := &c.Mail
	if m.SMTPURL == "" {
		return
	}
	// Never echo the URL: it may hold the SMTP password.
	u, err := url.Parse(m.SMTPURL)
	switch {
	case err != nil || !oneOf(u.Scheme, "smtp", "smtps") || u.Hostname() == "":
		p.add("mail.smtp_url", "must be smtp://[user:password@]host[:port] or smtps://...")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		p.add("mail.smtp_url", "must not carry a path, query or fragment")
	case u.User != nil && u.User.Username() == "":
		p.add("mail.smtp_url", "has a password but no user name")
	case u.Port() != "" && !validPort(u.Port()):
		p.add("mail.smtp_url", "has an invalid port")
	}
	if _, err := mail.ParseAddress(m.From); err != nil {
		p.add("mail.from", "must be a mail address when mail.smtp_url is set")
	}
	// Mailed reset links need an origin that does not come from the
	// request: built from the Host header (or X-Forwarded-Host), a link
	// requested by an attacker for the victim's account would point to the
	// attacker's host, and the victim's click would hand over the token
	// ("password reset poisoning", PortSwigger Web Security Academy;
	// CWE-640). Only the development log mailer may use the request's.
	if c.Server.PublicURL == "" {
		p.add("server.public_url", "must be set when mail.smtp_url is set (reset links must not be built from the request's Host header)")
	}
}

// ParsePrefixes parses trusted proxy entries: CIDRs or single addresses.
// IPv4-mapped IPv6 forms ("::ffff:10.0.0.0/104", "::ffff:10.0.0.1") are
// turned into their IPv4 form, because peer addresses are compared unmapped:
// kept as they are, they would silently never match. Zones are dropped.
func ParsePrefixes(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		if pfx, err := netip.ParsePrefix(e); err == nil {
			if pfx.Addr().Is4In6() {
				if pfx.Bits() < 96 {
					return nil, fmt.Errorf("%q reaches beyond the IPv4-mapped range ::ffff:0:0/96; write IPv4 and IPv6 networks separately", e)
				}
				pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
			}
			out = append(out, pfx.Masked())
			continue
		}
		addr, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", e)
		}
		addr = addr.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out, nil
}

func hasDotSegment(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

func checkHostPort(p *problems, key, addr string, emptyOK bool) {
	if addr == "" {
		if !emptyOK {
			p.add(key, "must not be empty")
		}
		return
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		p.add(key, "must be host:port or :port, not %q", addr)
	}
}

func positive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be a positive duration")
	}
}

func atLeast(p *problems, key string, d, least time.Duration) {
	if d < least {
		p.add(key, "must be at least %v", least)
	}
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

type problems []string

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, key+": "+fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	slices.Sort(p)
	return &Error{Problems: p}
}
