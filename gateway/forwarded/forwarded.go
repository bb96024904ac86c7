// Package forwarded decides who the client is: the TCP peer, unless the peer
// is a trusted proxy, in which case its X-Forwarded-For / X-Forwarded-Proto /
// X-Forwarded-Host are believed.
//
// The rule is the one that resists spoofing: X-Forwarded-For is read from the
// right, skipping addresses of trusted proxies, and the first untrusted
// address is the client. A client that sends its own X-Forwarded-For through
// a trusted proxy only adds entries to the left of what the proxy appended,
// which are never reached.
package forwarded

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver knows which peers are trusted proxies. The zero value trusts none.
type Resolver struct {
	trusted []netip.Prefix
}

// NewResolver returns a resolver that trusts the given networks.
func NewResolver(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: trusted}
}

// Origin is what the resolver concluded about a request.
type Origin struct {
	ClientIP    netip.Addr
	PeerTrusted bool
	Scheme      string // "http" or "https"
	Host        string
}

// Resolve applies the trust rule to r.
func (res *Resolver) Resolve(r *http.Request) Origin {
	peer := parseAddr(r.RemoteAddr)
	o := Origin{ClientIP: peer, Scheme: "http", Host: r.Host}
	if r.TLS != nil {
		o.Scheme = "https"
	}
	if !res.Trusted(peer) {
		return o
	}
	o.PeerTrusted = true
	o.ClientIP = res.clientFromChain(r.Header.Values("X-Forwarded-For"), peer)
	if p := lastValue(r.Header, "X-Forwarded-Proto"); p == "https" || p == "http" {
		o.Scheme = p
	}
	if h := lastValue(r.Header, "X-Forwarded-Host"); h != "" && ValidHost(h) {
		o.Host = h
	}
	return o
}

// Trusted reports whether addr is in a trusted network.
func (res *Resolver) Trusted(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	for _, p := range res.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func (res *Resolver) clientFromChain(values []string, peer netip.Addr) netip.Addr {
	client := peer
	for i := len(values) - 1; i >= 0; i-- {
		parts := strings.Split(values[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			addr := parseAddr(strings.TrimSpace(parts[j]))
			if !addr.IsValid() {
				// Garbage in the chain: stop at the last address we could
				// vouch for rather than guess.
				return client
			}
			client = addr
			if !res.Trusted(addr) {
				return client
			}
		}
	}
	return client
}

// parseAddr accepts "ip", "ip:port", "[v6]:port" and returns the unmapped
// address without its zone, or the zero Addr. The zone is dropped in every
// form: it is free text ("[fe80::1%\";host=evil]:1" parses) that would
// otherwise reach X-Real-IP, Forwarded and the logs, and a zoned address
// never matches a trusted prefix.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// lastValue returns the right-most comma-separated entry of a header: the one
// the nearest (trusted) proxy wrote.
func lastValue(h http.Header, name string) string {
	vs := h.Values(name)
	if len(vs) == 0 {
		return ""
	}
	v := vs[len(vs)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// ValidHost reports whether h (lower-cased) is a host as a Host header
// carries it: a DNS name or IPv4 address, or a bracketed IPv6 address, with
// an optional numeric port. Anything else (lists, user info, paths, empty
// labels, zones) is refused: a trusted proxy passes on what its client sent,
// and the value reaches links and the Forwarded header.
func ValidHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	host, port := h, ""
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		if a, err := netip.ParseAddr(h[1:end]); err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		host, port = "", h[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
	} else if i := strings.IndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i:]
	}
	if port != "" && !validPort(port[1:]) {
		return false
	}
	return h[0] == '[' || validName(host)
}

// validName accepts dot-separated labels of letters, digits, '-' and '_',
// with an optional final dot.
func validName(name string) bool {
	for label := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}
