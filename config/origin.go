package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// NormalizeOrigin returns o as a browser sends it in the Origin header
// (RFC 6454 section 6.2): lower-case scheme and host, no port when it is
// the scheme's default, nothing after the authority. Origins are compared
// byte for byte (the CORS answer, the CSRF guard), so a configured
// "HTTP://App.Example.com:80/" would otherwise never match the
// "http://app.example.com" that arrives. A single trailing "/" is dropped;
// anything that cannot be an origin is an error: another scheme than http
// or https, user information, a path, a query, a fragment, a bad port, a
// host that is not ASCII (browsers send its punycode form), "*" or "null".
func NormalizeOrigin(o string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%q is not an origin (scheme://host[:port]): %s", o, why)
	}
	u, err := url.Parse(o)
	if err != nil || u.Opaque != "" || u.Scheme == "" || !strings.HasPrefix(o[len(u.Scheme):], "://") {
		return bad("not of that form")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("the scheme must be http or https")
	case u.User != nil:
		return bad("it has user information")
	case u.Path != "" && u.Path != "/":
		return bad("it has a path")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("it has a query")
	case strings.Contains(o, "#"):
		return bad("it has a fragment")
	case strings.HasSuffix(u.Host, ":"):
		return bad("the port is empty")
	}
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return bad("invalid IPv6 address")
		}
		host = "[" + addr.String() + "]"
	} else {
		if host == "" {
			return bad("no host")
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if c >= 0x80 {
				return bad("write the host in ASCII (its punycode form, as browsers send it)")
			}
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				return bad("invalid host")
			}
		}
		host = strings.ToLower(host)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("invalid port")
		}
		if !(u.Scheme == "http" && n == 80 || u.Scheme == "https" && n == 443) {
			host += ":" + strconv.Itoa(n)
		}
	}
	return u.Scheme + "://" + host, nil
}

// Origins returns AllowedOrigins as browsers send them (NormalizeOrigin):
// the form everything that compares a request's Origin with them must use.
// An entry that is not an origin is kept as written; Validate refuses it.
func (c CORS) Origins() []string {
	out := make([]string, len(c.AllowedOrigins))
	for i, o := range c.AllowedOrigins {
		if n, err := NormalizeOrigin(o); err == nil {
			out[i] = n
		} else {
			out[i] = o
		}
	}
	return out
}
