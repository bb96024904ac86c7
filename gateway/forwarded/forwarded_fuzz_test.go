package forwarded

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzResolve (issue 7): whatever the headers say, an untrusted peer is the
// client and its X-Forwarded-* are ignored; through a trusted proxy the
// client is the peer or an address of the chain, the scheme is http or
// https, and the host is one ValidHost accepts.
func FuzzResolve(f *testing.F) {
	for _, s := range [][4]string{
		{"203.0.113.7:1234", "6.6.6.6", "https", "evil.example"},
		{"10.0.0.1:1234", "6.6.6.6, 10.0.0.2", "https", "app.example"},
		{"10.0.0.1:1234", "garbage, 10.0.0.2", "ftp", "a,b"},
		{"[::1]:80", "::1", "http", "[::1]:8080"},
		{"10.0.0.1:1", `[fe80::1%";host=evil]:1`, "https", "x:99999"},
		{"10.0.0.1:1", "", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	res := NewResolver([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	f.Fuzz(func(t *testing.T, remote, xff, proto, host string) {
		r := &http.Request{RemoteAddr: remote, Host: "gw.example", Header: http.Header{}}
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		if proto != "" {
			r.Header.Set("X-Forwarded-Proto", proto)
		}
		if host != "" {
			r.Header.Set("X-Forwarded-Host", host)
		}
		o := res.Resolve(r)
		peer := parseAddr(remote)
		if o.Scheme != "http" && o.Scheme != "https" {
			t.Fatalf("scheme %q", o.Scheme)
		}
		if o.ClientIP.Zone() != "" {
			t.Fatalf("client address %v keeps a zone", o.ClientIP)
		}
		if !res.Trusted(peer) {
			if o.PeerTrusted || o.ClientIP != peer || o.Host != "gw.example" || o.Scheme != "http" {
				t.Fatalf("untrusted peer %q: %+v believed its headers", remote, o)
			}
			return
		}
		if o.Host != "gw.example" && !ValidHost(o.Host) {
			t.Fatalf("host %q is not a valid host", o.Host)
		}
		if o.ClientIP != peer && !strings.Contains(xff, strings.TrimPrefix(o.ClientIP.String(), "::ffff:")) {
			if a := parseAddr(o.ClientIP.String()); a != o.ClientIP {
				t.Fatalf("client %v is neither the peer nor in the chain %q", o.ClientIP, xff)
			}
		}
	})
}

// FuzzValidHost: an accepted (lower-cased) host has only the bytes of a DNS name, an
// IPv4 address or a bracketed IPv6 address, and an optional port.
func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"example.com", "example.com:8080", "[::1]:80", "1.2.3.4", "a,b", "evil.example/x", "user@host", "[fe80::1%eth0]", "", "x:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		// ValidHost takes a lower-cased host, as every caller passes it.
		h = strings.ToLower(h)
		if !ValidHost(h) {
			return
		}
		for i := 0; i < len(h); i++ {
			c := h[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._:[]", c) >= 0) {
				t.Fatalf("ValidHost(%q) accepted byte %q", h, c)
			}
		}
		if strings.Count(h, "[") > 1 || strings.ContainsAny(h, ",;/@\\ \"") {
			t.Fatalf("ValidHost(%q) accepted a list or URL part", h)
		}
	})
}
