package forwarded

import (
	"crypto/tls"
	"net/http"
	"net/netip"
	"testing"
)

// hdr is one header line; a slice of them keeps repeated lines apart.
type hdr struct{ name, value string }

func TestResolve(t *testing.T) {
	const host = "app.example.com"
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	addr := netip.MustParseAddr

	tests := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		tls     bool
		headers []hdr
		want    Origin
	}{
		// An untrusted peer is the client, whatever it claims.
		{
			name:   "untrusted peer without headers",
			remote: "198.51.100.9:40000",
			want:   Origin{ClientIP: addr("198.51.100.9"), Scheme: "http", Host: host},
		},
		{
			name:    "untrusted peer spoofing every forwarding header",
			trusted: proxies,
			remote:  "198.51.100.9:40000",
			headers: []hdr{
				{"X-Forwarded-For", "1.2.3.4"}, {"X-Forwarded-Proto", "https"},
				{"X-Forwarded-Host", "evil.example"}, {"Forwarded", "for=1.2.3.4;proto=https"},
			},
			want: Origin{ClientIP: addr("198.51.100.9"), Scheme: "http", Host: host},
		},
		{
			name:    "no trusted proxies configured",
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "1.2.3.4"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), Scheme: "http", Host: host},
		},
		{
			name:    "TLS to an untrusted peer is https even if it claims http",
			remote:  "198.51.100.9:40000",
			tls:     true,
			headers: []hdr{{"X-Forwarded-Proto", "http"}},
			want:    Origin{ClientIP: addr("198.51.100.9"), Scheme: "https", Host: host},
		},
		{
			name:   "untrusted IPv6 peer",
			remote: "[2001:db8::7]:40000",
			want:   Origin{ClientIP: addr("2001:db8::7"), Scheme: "http", Host: host},
		},
		{
			name:   "unparsable peer address",
			remote: "@",
			want:   Origin{Scheme: "http", Host: host},
		},

		// A trusted peer: X-Forwarded-For is read from the right.
		{
			name:    "trusted peer without X-Forwarded-For",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "trusted peer names the client",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "203.0.113.7"}},
			want:    Origin{ClientIP: addr("203.0.113.7"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			// The client's own X-Forwarded-For is to the left of what the
			// proxy appended and is never reached.
			name:    "client-supplied entries left of the proxy's are ignored",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "1.1.1.1, 8.8.8.8, 203.0.113.7"}},
			want:    Origin{ClientIP: addr("203.0.113.7"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "chain of trusted proxies is skipped",
			trusted: proxies,
			remote:  "10.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "1.1.1.1, 203.0.113.7, 10.0.0.3,10.0.0.2"}},
			want:    Origin{ClientIP: addr("203.0.113.7"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "every hop trusted: the left-most is the client",
			trusted: proxies,
			remote:  "10.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "10.0.0.5, 10.0.0.6"}},
			want:    Origin{ClientIP: addr("10.0.0.5"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "garbage right-most entry falls back to the peer",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "203.0.113.7, not-an-ip"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "garbage behind a trusted hop stops at that hop",
			trusted: proxies,
			remote:  "10.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "203.0.113.7, <script>, 10.0.0.2"}},
			want:    Origin{ClientIP: addr("10.0.0.2"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "empty trailing entry falls back to the peer",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "203.0.113.7,"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "IPv4 with leading zeros is garbage",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "010.0.0.1"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "entry with a port",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "203.0.113.7:5555"}},
			want:    Origin{ClientIP: addr("203.0.113.7"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "bare IPv6 entry",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "2001:db8::1"}},
			want:    Origin{ClientIP: addr("2001:db8::1"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "bracketed IPv6 entry with a port",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "[2001:db8::1]:443"}},
			want:    Origin{ClientIP: addr("2001:db8::1"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "IPv4-mapped entry is unmapped",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "::ffff:203.0.113.7"}},
			want:    Origin{ClientIP: addr("203.0.113.7"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "IPv4-mapped trusted hop is skipped",
			trusted: proxies,
			remote:  "10.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "203.0.113.7, ::ffff:10.0.0.2"}},
			want:    Origin{ClientIP: addr("203.0.113.7"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			// Regression: the zone of "[v6%zone]:port" is free text; it
			// was kept and reached X-Real-IP and the quoted Forwarded
			// header ("for=\"[fe80::1%\";host=evil...").
			name:    "zone with quotes is dropped",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", `[fe80::1%";host=evil.example;x="]:1`}},
			want:    Origin{ClientIP: addr("fe80::1"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "bare zoned entry",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "fe80::1%eth0"}},
			want:    Origin{ClientIP: addr("fe80::1"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "multiple X-Forwarded-For lines are one list",
			trusted: proxies,
			remote:  "10.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "1.1.1.1, 203.0.113.7"}, {"X-Forwarded-For", "10.0.0.3, 10.0.0.2"}},
			want:    Origin{ClientIP: addr("203.0.113.7"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "the last X-Forwarded-For line is the nearest",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-For", "1.1.1.1"}, {"X-Forwarded-For", "203.0.113.7"}},
			want:    Origin{ClientIP: addr("203.0.113.7"), PeerTrusted: true, Scheme: "http", Host: host},
		},

		// Peers in other address forms.
		{
			name:    "trusted IPv6 peer",
			trusted: proxies,
			remote:  "[::1]:40000",
			headers: []hdr{{"X-Forwarded-For", "203.0.113.7"}},
			want:    Origin{ClientIP: addr("203.0.113.7"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "IPv4-mapped peer matches an IPv4 prefix",
			trusted: loopback,
			remote:  "[::ffff:127.0.0.1]:40000",
			headers: []hdr{{"X-Forwarded-For", "203.0.113.7"}},
			want:    Origin{ClientIP: addr("203.0.113.7"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "untrusted IPv4-mapped peer is unmapped",
			trusted: loopback,
			remote:  "[::ffff:198.51.100.9]:40000",
			headers: []hdr{{"X-Forwarded-For", "203.0.113.7"}},
			want:    Origin{ClientIP: addr("198.51.100.9"), Scheme: "http", Host: host},
		},
		{
			name:    "zoned link-local peer matches its prefix",
			trusted: []netip.Prefix{netip.MustParsePrefix("fe80::/10")},
			remote:  "[fe80::1%eth0]:40000",
			headers: []hdr{{"X-Forwarded-For", "203.0.113.7"}},
			want:    Origin{ClientIP: addr("203.0.113.7"), PeerTrusted: true, Scheme: "http", Host: host},
		},

		// X-Forwarded-Proto from a trusted peer.
		{
			name:    "trusted https",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-Proto", "HTTPS"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "https", Host: host},
		},
		{
			name:    "unknown scheme is ignored",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-Proto", "javascript"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "http", Host: host},
		},
		{
			name:    "right-most scheme of a list",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-Proto", "http, https"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "https", Host: host},
		},
		{
			name:    "scheme of the last line",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			tls:     true,
			headers: []hdr{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Proto", "http"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "http", Host: host},
		},

		// X-Forwarded-Host from a trusted peer: believed only when it is a
		// well-formed host[:port].
		{
			name:    "trusted host is lower-cased",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-Host", "Shop.Example.COM"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "http", Host: "shop.example.com"},
		},
		{
			name:    "trusted host with port",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-Host", "shop.example.com:8443"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "http", Host: "shop.example.com:8443"},
		},
		{
			name:    "trusted IPv6 host",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-Host", "[2001:db8::1]:443"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "http", Host: "[2001:db8::1]:443"},
		},
		{
			name:    "right-most host of a list",
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-Host", "evil.example, shop.example.com"}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "http", Host: "shop.example.com"},
		},
	}

	// Hosts a trusted proxy may pass on from its client that must not be
	// believed (host header injection into links, Forwarded injection).
	for _, bad := range []string{
		"evil.example/path", "evil.example?x", "user@evil.example", "evil example",
		`"evil.example"`, "evil.example:http", "evil.example:80:90", "evil.example:123456",
		"evil..example", ".evil.example", ":80", "[::1", "[::1]x", "[fe80::1%25eth0]:80",
		"[1.2.3.4]", "evil.example;for=1.2.3.4", "évil.example",
	} {
		tests = append(tests, struct {
			name    string
			trusted []netip.Prefix
			remote  string
			tls     bool
			headers []hdr
			want    Origin
		}{
			name:    "invalid forwarded host " + bad,
			trusted: loopback,
			remote:  "127.0.0.1:40000",
			headers: []hdr{{"X-Forwarded-Host", bad}},
			want:    Origin{ClientIP: addr("127.0.0.1"), PeerTrusted: true, Scheme: "http", Host: host},
		})
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, "http://"+host+"/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			r.RemoteAddr = tc.remote
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for _, h := range tc.headers {
				r.Header.Add(h.name, h.value)
			}
			got := NewResolver(tc.trusted).Resolve(r)
			if got != tc.want {
				t.Errorf("Resolve = %+v\n            want %+v", got, tc.want)
			}
			if got.ClientIP.Zone() != "" {
				t.Errorf("client IP %v carries a zone", got.ClientIP)
			}
		})
	}
}

func TestZeroResolverTrustsNobody(t *testing.T) {
	var res Resolver
	for _, a := range []string{"127.0.0.1", "::1", "10.0.0.1"} {
		if res.Trusted(netip.MustParseAddr(a)) {
			t.Errorf("zero Resolver trusts %s", a)
		}
	}
	if res.Trusted(netip.Addr{}) {
		t.Error("zero Resolver trusts the invalid address")
	}
}
