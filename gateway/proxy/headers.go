package proxy

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/authgate/gateway/config"
)

// headerPolicy decides which client headers never reach an upstream, and
// which of the gateway's cookies are removed from Cookie and Set-Cookie.
//
// Header names are compared in a folded form: lower-case with every
// character that is not a letter or digit removed. "X-Auth-User-Id",
// "x_auth_user_id", "X.Auth.User.Id" and "XAUTHUSERID" fold alike, because
// servers disagree on how they map header names to variables (CGI and WSGI
// turn "-" into "_"; some frameworks ignore case and separators), and one
// that folds differently from us must not see a client's copy as ours.
type headerPolicy struct {
	// reserved folded names: never forwarded from the client.
	reserved map[string]bool
	// reservedPrefixes: folded prefixes the gateway owns outright
	// (spoofablePrefixes).
	reservedPrefixes []string
	// cookies are the gateway's own cookie names.
	cookies map[string]bool
	names   config.Headers
}

// spoofable lists headers a client could use to impersonate the gateway, a
// proxy in front of it, or to change how an upstream reads the URL or method.
// Each is set by the gateway (X-Forwarded-*, X-Real-IP, Forwarded, identity)
// or must never pass at all.
var spoofable = []string{
	// Set by the gateway from the trusted-proxy rule.
	"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Real-IP",
	// Client-IP variants that frameworks and CDNs trust (PHP apps read
	// HTTP_CLIENT_IP; nginx ingress writes X-Original-Forwarded-For).
	"X-Client-IP", "X-Cluster-Client-IP", "True-Client-IP", "CF-Connecting-IP",
	"Fastly-Client-IP", "X-Originating-IP", "X-Remote-IP", "X-Remote-Addr",
	"Client-IP", "Forwarded-For", "X-Original-Forwarded-For",
	// Host override (host header injection into links and redirects).
	"X-Host", "X-HTTP-Host-Override",
	// URL rewriting (IIS, Symfony, Zend, Traefik, nginx auth_request).
	"X-Original-URL", "X-Original-URI", "X-Rewrite-URL", "X-Forwarded-Uri",
	"X-Forwarded-Prefix", "X-Forwarded-Path", "X-Forwarded-Port", "X-Forwarded-Server",
	"X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Url-Scheme", "Front-End-Https",
	"X-Original-Method", "X-Original-Host",
	// Method override (Rails, Express method-override, Symfony, Spring).
	"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
	// Credentials: the upstream sees the gateway's identity instead.
	"Authorization", "Proxy-Authorization",
	// Identity headers of other auth proxies and of frameworks' "remote
	// user" support. An upstream that sat behind one of them, or reads
	// REMOTE_USER, may still believe these: a client must not set them.
	"X-Remote-User", "X-Remote-Email", "X-Remote-Groups", "X-User", "X-Email",
	"X-User-Id", "X-Authenticated-User", "X-Authenticated-Userid", "X-Authenticated-Groups",
	"X-Authenticated-Scope", "X-Webauth-User", "X-Webauth-Email", "X-Webauth-Name",
	"X-Userinfo", "X-Credential-Identifier",
}

// spoofablePrefixes are folded prefixes of whole families of such
// headers: Authelia's Remote-User, Remote-Groups, Remote-Email and
// Remote-Name; oauth2-proxy's X-Auth-Request-*; Kong's X-Consumer-*;
// Pomerium's X-Pomerium-*; and X-Forwarded-*, which the gateway sets
// itself or not at all (X-Forwarded-User, -Email, -Groups included).
var spoofablePrefixes = []string{"xforwarded", "remote", "xauthrequest", "xconsumer", "xpomerium"}

func newHeaderPolicy(h config.Headers, cookieNames []string) *headerPolicy {
	hp := &headerPolicy{
		reserved:         map[string]bool{},
		reservedPrefixes: spoofablePrefixes,
		cookies:          map[string]bool{},
		names:            h,
	}
	for _, n := range append(spoofable, h.UserID, h.Email, h.Roles, h.SessionID, h.RequestID, h.Assertion) {
		hp.reserved[fold(n)] = true
	}
	for _, c := range cookieNames {
		for _, variant := range []string{c, "__Host-" + c, "__Secure-" + c} {
			hp.cookies[strings.ToLower(variant)] = true
		}
	}
	return hp
}

// fold lower-cases a header name and drops every non-alphanumeric byte.
func fold(name string) string {
	var buf [64]byte
	b := buf[:0]
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			b = append(b, c)
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		}
	}
	return string(b)
}

func (hp *headerPolicy) isReserved(name string) bool {
	f := fold(name)
	if hp.reserved[f] {
		return true
	}
	for _, p := range hp.reservedPrefixes {
		if strings.HasPrefix(f, p) {
			return true
		}
	}
	return false
}

// scrub removes every reserved header and the gateway's cookies from h.
func (hp *headerPolicy) scrub(h http.Header) {
	for name := range h {
		if hp.isReserved(name) {
			delete(h, name)
		}
	}
	if cookies, ok := h["Cookie"]; ok {
		kept := cookies[:0]
		for _, line := range cookies {
			if line = hp.dropCookies(line); line != "" {
				kept = append(kept, line)
			}
		}
		if len(kept) == 0 {
			delete(h, "Cookie")
		} else {
			h["Cookie"] = kept
		}
	}
}

// dropCookies removes the gateway's cookies from one Cookie header line,
// keeping every other pair byte for byte. A line without them is returned
// unchanged.
func (hp *headerPolicy) dropCookies(line string) string {
	if !hp.mentionsCookie(line) {
		return line
	}
	var kept []string
	dropped := false
	for pair := range strings.SplitSeq(line, ";") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, _, _ := strings.Cut(pair, "=")
		if hp.cookies[strings.ToLower(strings.TrimSpace(name))] {
			dropped = true
			continue
		}
		kept = append(kept, pair)
	}
	if !dropped {
		return line
	}
	return strings.Join(kept, "; ")
}

// mentionsCookie is a cheap pre-check so that requests without the
// gateway's cookies pay no parsing.
func (hp *headerPolicy) mentionsCookie(line string) bool {
	lower := strings.ToLower(line)
	for c := range hp.cookies {
		if strings.Contains(lower, c) {
			return true
		}
	}
	return false
}

// scrubSetCookie removes Set-Cookie lines of an upstream response that would
// set one of the gateway's cookies: an upstream must not be able to plant a
// session in the browser (session fixation).
func (hp *headerPolicy) scrubSetCookie(h http.Header) {
	lines, ok := h["Set-Cookie"]
	if !ok {
		return
	}
	kept := lines[:0]
	for _, l := range lines {
		if !hp.cookies[setCookieName(l)] {
			kept = append(kept, l)
		}
	}
	if len(kept) == 0 {
		delete(h, "Set-Cookie")
	} else {
		h["Set-Cookie"] = kept
	}
}

// setCookieName returns, lower-cased, the name under which a browser sends
// back the cookie that a Set-Cookie line sets. Browsers read the name-value
// pair up to the first ';'; a pair without '=' or with an empty name sets a
// nameless cookie that is sent back as its bare value (RFC 6265bis section
// 5.6), so "=gw_access=x" returns as "gw_access=x" and "gw_access; Path=/"
// as "gw_access": nameless-cookie smuggling would otherwise let an upstream
// plant or shadow the gateway's cookie.
func setCookieName(line string) string {
	pair, _, _ := strings.Cut(line, ";")
	name, value, ok := strings.Cut(pair, "=")
	switch {
	case !ok:
		name = pair
	case strings.TrimSpace(name) == "":
		name, _, _ = strings.Cut(value, "=")
	}
	return strings.ToLower(strings.TrimSpace(name))
}

// formatForwardedFor renders an address for the Forwarded header (RFC 7239
// section 6: IPv6 is bracketed and quoted; an unknown address is "unknown").
// A zone is dropped: it is free text that could break out of the quotes.
func formatForwardedFor(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is6():
		return `"[` + a.WithZone("").String() + `]"`
	}
	return a.String()
}
