package proxy

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authgate/gateway/config"
)

// Fuzz targets of the header hygiene (issue 7): whatever a client or an
// upstream sends, no reserved header, gateway cookie or method override
// passes. Seeds: the names of spoofable and the configured identity
// headers, in the spellings of TestScrubHeaders, and the lines of
// TestScrubSetCookie and TestDropMethodOverride.

// reservedFolded is the oracle's own list of what scrub must remove,
// folded independently of fold: lower-case letters and digits only.
func reservedFolded(name string) bool {
	var b strings.Builder
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			b.WriteByte(c)
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 32)
		}
	}
	f := b.String()
	// The families removed whole: X-Forwarded-*, Authelia's Remote-*,
	// oauth2-proxy's X-Auth-Request-*, Kong's X-Consumer-*, Pomerium's.
	for _, family := range []string{"xforwarded", "remote", "xauthrequest", "xconsumer", "xpomerium"} {
		if strings.HasPrefix(f, family) {
			return true
		}
	}
	h := config.Default().Headers
	for _, n := range append(slices.Clone(spoofable), h.UserID, h.Email, h.Roles, h.SessionID, h.RequestID, h.Assertion) {
		if strings.EqualFold(strings.NewReplacer("-", "", "_", "", ".", "").Replace(n), f) {
			return true
		}
	}
	return false
}

func FuzzScrubHeaders(f *testing.F) {
	h := config.Default().Headers
	for _, n := range append(slices.Clone(spoofable), h.UserID, h.Email, h.Roles, h.SessionID, h.RequestID, h.Assertion) {
		f.Add(n, "v")
		f.Add(strings.ReplaceAll(n, "-", "_"), "v")
		f.Add(strings.ToLower(strings.ReplaceAll(n, "-", ".")), "v")
	}
	for _, n := range []string{"Accept", "X-Auth-User", "X-Authorization-Hint", "X-Forward", "X-Requested-With", "Xauthuserid", "X-Forwarded"} {
		f.Add(n, "v")
	}
	hp := newHeaderPolicy(h, []string{"gw_access", "gw_refresh"})
	f.Fuzz(func(t *testing.T, name, value string) {
		hdr := http.Header{name: {value}, "Accept": {"*/*"}}
		hp.scrub(hdr)
		_, kept := hdr[name]
		if name == "Accept" || name == "Cookie" {
			return
		}
		if kept == reservedFolded(name) {
			t.Fatalf("scrub(%q): kept=%v, but reserved=%v", name, kept, reservedFolded(name))
		}
		if hdr.Get("Accept") != "*/*" {
			t.Fatalf("scrub(%q) removed Accept", name)
		}
		for k := range hdr {
			if reservedFolded(k) {
				t.Fatalf("scrub left reserved %q", k)
			}
		}
	})
}

// browserCookieName is how a browser names the cookie of a Set-Cookie line
// (RFC 6265bis section 5.6): the pair up to the first ';'; without '=' or
// with an empty name, the cookie is nameless and is sent back as its bare
// value, whose part before '=' then reads as a name.
func browserCookieName(line string) string {
	pair, _, _ := strings.Cut(line, ";")
	name, value, ok := strings.Cut(pair, "=")
	if !ok {
		return strings.ToLower(strings.TrimSpace(pair))
	}
	if strings.TrimSpace(name) == "" {
		n, _, _ := strings.Cut(value, "=")
		return strings.ToLower(strings.TrimSpace(n))
	}
	return strings.ToLower(strings.TrimSpace(name))
}

func FuzzScrubSetCookie(f *testing.F) {
	for _, s := range []string{"theme=dark; Path=/", "gw_access=evil; Path=/; HttpOnly", "__Host-gw_access=evil; Path=/; Secure",
		"__Secure-gw_refresh=evil", "GW_Access=evil", "  gw_refresh = evil", "=gw_access=evil; Path=/", " =__Host-gw_access=evil",
		"gw_access; Path=/", "gw_access", "=theme=dark", "==gw_access=x", "gw_accessory=1", "session=gw_access", "a=b; gw_access=evil"} {
		f.Add(s)
	}
	hp := newHeaderPolicy(config.Default().Headers, []string{"gw_access", "gw_refresh"})
	f.Fuzz(func(t *testing.T, line string) {
		h := http.Header{"Set-Cookie": {"keep=1", line}}
		hp.scrubSetCookie(h)
		for _, l := range h["Set-Cookie"] {
			if n := browserCookieName(l); hp.cookies[n] {
				t.Fatalf("Set-Cookie %q kept: a browser stores it as %q", l, n)
			}
			if c, err := http.ParseSetCookie(l); err == nil && hp.cookies[strings.ToLower(c.Name)] {
				t.Fatalf("Set-Cookie %q kept: net/http reads it as %q", l, c.Name)
			}
		}
		if !slices.Contains(h["Set-Cookie"], "keep=1") {
			t.Fatalf("an unrelated Set-Cookie was dropped")
		}
	})
}

// overrideKey reports whether a query key is a method override for any of
// the parsers we know: percent-decoded ('+' as space), trimmed, with '.'
// and ' ' read as '_' (PHP), case-insensitive, with array syntax.
func overrideKey(raw string) bool {
	k, err := url.QueryUnescape(raw)
	if err != nil {
		k = raw
	}
	k = strings.ToLower(strings.TrimSpace(k))
	k = strings.Map(func(r rune) rune {
		if r == '.' || r == ' ' {
			return '_'
		}
		return r
	}, k)
	return k == "_method" || strings.HasPrefix(k, "_method[")
}

func FuzzDropMethodOverride(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "_method=DELETE", "a=1&_method=DELETE&b=2", "_METHOD=put&x=1", "%5Fmethod=DELETE&z=1",
		"+_method=PATCH&a=1", "_method%20=PATCH", "_method&a=1", "q=%E2%82%AC&_method=PATCH&z&y=a+b&&w=%zz",
		"method=card&payment_method=visa", "_method%3D=DELETE", "_%6Dethod=DELETE&b=2", ".method=DELETE&b=2",
		"_method[]=DELETE&b=2", "a=1;_method=DELETE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := dropMethodOverride(q)
		for pair := range strings.SplitSeq(got, "&") {
			for piece := range strings.SplitSeq(pair, ";") {
				key, _, _ := strings.Cut(piece, "=")
				if overrideKey(key) {
					t.Fatalf("dropMethodOverride(%q) = %q keeps override key %q", q, got, key)
				}
			}
		}
		// Only whole pairs are removed, in order, byte for byte.
		in := strings.Split(q, "&")
		for _, p := range strings.Split(got, "&") {
			i := slices.Index(in, p)
			if got != "" && i < 0 {
				t.Fatalf("dropMethodOverride(%q) = %q: pair %q is not from the input", q, got, p)
			}
			if i >= 0 {
				in = in[i+1:]
			}
		}
	})
}
