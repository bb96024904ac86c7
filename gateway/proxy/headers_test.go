package proxy

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/authgate/gateway/config"
)

var testCookieNames = []string{"gw_access", "gw_refresh"}

func testHeaderPolicy() *headerPolicy {
	return newHeaderPolicy(config.Default().Headers, testCookieNames)
}

func TestFold(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"canonical", "X-Auth-User-Id", "xauthuserid"},
		{"lower case", "x-auth-user-id", "xauthuserid"},
		{"upper case", "X-AUTH-USER-ID", "xauthuserid"},
		{"underscores (CGI, WSGI)", "X_Auth_User_Id", "xauthuserid"},
		{"dots", "X.Auth.User.Id", "xauthuserid"},
		{"no separators", "XAUTHUSERID", "xauthuserid"},
		{"repeated mixed separators", "X--Auth__User..Id", "xauthuserid"},
		{"digits kept", "X-Auth-2FA", "xauth2fa"},
		{"non-ASCII bytes dropped", "X-Ünïcode", "xncode"},
		{"empty", "", ""},
		{"only separators", "-_.", ""},
		{"longer than the stack buffer", strings.Repeat("Ab-", 40), strings.Repeat("ab", 40)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fold(tc.in); got != tc.want {
				t.Errorf("fold(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestScrubHeaders(t *testing.T) {
	tests := []struct {
		name    string
		header  string // a map key as net/http's server produces it
		removed bool
	}{
		// Identity headers in every spelling a server might map to ours.
		{"user id", "X-Auth-User-Id", true},
		{"user id lower case (HTTP/2)", "x-auth-user-id", true},
		{"user id underscores", "X_auth_user_id", true},
		{"user id dots", "X.auth.user.id", true},
		{"user id no separators", "Xauthuserid", true},
		{"email", "X-Auth-User-Email", true},
		{"roles", "X-Auth-User-Roles", true},
		{"roles underscores upper", "X_AUTH_USER_ROLES", true},
		{"session id", "X-Auth-Session-Id", true},
		{"assertion", "X-Auth-Assertion", true},
		{"request id", "X-Request-Id", true},
		{"request id underscores", "X_request_id", true},
		// Forwarding: set by the gateway only.
		{"forwarded for", "X-Forwarded-For", true},
		{"forwarded for underscores", "X_forwarded_for", true},
		{"forwarded proto", "X-Forwarded-Proto", true},
		{"forwarded host", "X-Forwarded-Host", true},
		{"forwarded port", "X-Forwarded-Port", true},
		{"any forwarded header", "X-Forwarded-Anything", true},
		{"bare x-forwarded", "X-Forwarded", true},
		{"RFC 7239 forwarded", "Forwarded", true},
		{"real ip", "X-Real-Ip", true},
		{"client ip", "X-Client-Ip", true},
		{"PHP client ip", "Client-Ip", true},
		{"true client ip", "True-Client-Ip", true},
		{"cloudflare", "Cf-Connecting-Ip", true},
		{"nginx ingress original", "X-Original-Forwarded-For", true},
		{"host override", "X-Host", true},
		// URL rewriting (IIS, Symfony, Zend, Traefik).
		{"original url", "X-Original-Url", true},
		{"rewrite url", "X-Rewrite-Url", true},
		{"original uri", "X-Original-Uri", true},
		{"forwarded uri", "X-Forwarded-Uri", true},
		{"forwarded prefix", "X-Forwarded-Prefix", true},
		// Method override.
		{"http method override", "X-Http-Method-Override", true},
		{"http method", "X-Http-Method", true},
		{"method override", "X-Method-Override", true},
		{"method override underscores", "X_http_method_override", true},
		// Credentials.
		{"authorization", "Authorization", true},
		{"authorization lower case", "authorization", true},
		{"proxy authorization", "Proxy-Authorization", true},
		// Other auth proxies' and frameworks' identity headers.
		{"Authelia user", "Remote-User", true},
		{"Authelia groups", "Remote-Groups", true},
		{"Authelia email", "Remote-Email", true},
		{"Authelia name", "Remote-Name", true},
		{"remote user, CGI spelling", "Remote_user", true},
		{"x remote user", "X-Remote-User", true},
		{"oauth2-proxy user", "X-Auth-Request-User", true},
		{"oauth2-proxy email", "X-Auth-Request-Email", true},
		{"oauth2-proxy token", "X-Auth-Request-Access-Token", true},
		{"forwarded user", "X-Forwarded-User", true},
		{"forwarded email", "X-Forwarded-Email", true},
		{"Kong consumer", "X-Consumer-Username", true},
		{"Kong consumer id", "X-Consumer-Id", true},
		{"Kong credential", "X-Credential-Identifier", true},
		{"Kong authenticated user", "X-Authenticated-Userid", true},
		{"Pomerium assertion", "X-Pomerium-Jwt-Assertion", true},
		{"Grafana auth proxy", "X-Webauth-User", true},
		{"plain x-user", "X-User", true},
		{"x user id", "X-User-Id", true},
		{"userinfo", "X-Userinfo", true},
		// A token an upstream verifies itself is not spoofable identity.
		{"access token", "X-Access-Token", false},
		// Ordinary headers pass.
		{"accept", "Accept", false},
		{"user agent", "User-Agent", false},
		{"content type", "Content-Type", false},
		{"custom", "X-Custom", false},
		{"prefix of an identity header", "X-Auth-User", false},
		{"requested with", "X-Requested-With", false},
		{"authorization look-alike", "X-Authorization-Hint", false},
		{"forward without ed", "X-Forward", false},
		{"user agent look-alike", "X-User-Agent-Hint", false},
		{"consumer without x", "Consumer-Key", false},
	}
	hp := testHeaderPolicy()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{tc.header: {"client value"}, "Accept": {"*/*"}}
			hp.scrub(h)
			_, present := h[tc.header]
			if present == tc.removed {
				t.Errorf("scrub: %q present=%v, want removed=%v", tc.header, present, tc.removed)
			}
			if tc.header != "Accept" && h.Get("Accept") != "*/*" {
				t.Errorf("scrub removed Accept along with %q", tc.header)
			}
		})
	}
}

func TestScrubConfiguredNames(t *testing.T) {
	names := config.Default().Headers
	names.UserID, names.Roles = "Remote-User", "Remote-Groups"
	hp := newHeaderPolicy(names, testCookieNames)
	h := http.Header{"Remote_user": {"admin"}, "Remote-Groups": {"admin"}, "Remoteuser": {"admin"}, "X-Other": {"1"}}
	hp.scrub(h)
	if len(h) != 1 || h.Get("X-Other") != "1" {
		t.Errorf("scrub with configured names left %v, want only X-Other", h)
	}
}

func TestScrubCookieLines(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string // nil: no Cookie header left
	}{
		{"no gateway cookie", []string{"a=1; b=2"}, []string{"a=1; b=2"}},
		{"only gateway cookies", []string{"gw_access=t; __Host-gw_refresh=r"}, nil},
		{"mixed", []string{"a=1; gw_access=t; b=2"}, []string{"a=1; b=2"}},
		{"several lines", []string{"gw_refresh=r", "theme=dark; GW_ACCESS=t", "x=1"}, []string{"theme=dark", "x=1"}},
	}
	hp := testHeaderPolicy()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Cookie": slices.Clone(tc.in)}
			hp.scrub(h)
			got, ok := h["Cookie"]
			if tc.want == nil {
				if ok {
					t.Fatalf("Cookie = %q, want no Cookie header", got)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Cookie = %q, want %q", got, tc.want)
			}
		})
	}
}

// dropCookieCases also seed FuzzDropCookies.
var dropCookieCases = []struct {
	name, in, want string
}{
	{"no cookies", "", ""},
	{"no gateway cookie", "a=1; b=2", "a=1; b=2"},
	{"no gateway cookie, unusual spacing kept", "a=1;b=2 ;  c=3", "a=1;b=2 ;  c=3"},
	{"only the access cookie", "gw_access=tok", ""},
	{"in the middle", "a=1; gw_access=tok; b=2", "a=1; b=2"},
	{"first, without spaces", "gw_access=tok;a=1", "a=1"},
	{"last", "a=1; gw_refresh=r", "a=1"},
	{"__Host- names", "__Host-gw_access=t; __Host-gw_refresh=r", ""},
	{"__Secure- name", "__Secure-gw_refresh=r; theme=dark", "theme=dark"},
	{"any case", "GW_ACCESS=t; __host-GW_Refresh=r; Theme=Dark", "Theme=Dark"},
	{"spaces around the name", " gw_access =t ;  x=1 ", "x=1"},
	{"nameless pair (no '=')", "gw_access; x=1", "x=1"},
	{"empty value", "gw_access=; x=1", "x=1"},
	{"value with '='", "gw_access=a=b=c; c=d=e", "c=d=e"},
	{"empty pairs", "a=1;;gw_refresh=x;; b=2", "a=1; b=2"},
	{"name in a value only, kept byte for byte", "a=gw_access;b=1", "a=gw_access;b=1"},
	{"look-alike names", "gw_accessory=1; my_gw_access=2; gw_access2=3", "gw_accessory=1; my_gw_access=2; gw_access2=3"},
	// ',' is no separator (RFC 6265): the whole pair is the gateway's.
	{"comma after the gateway cookie", "gw_access=t, other=1", ""},
	{"duplicates", "gw_access=1; gw_access=2; a=b", "a=b"},
}

func TestDropCookies(t *testing.T) {
	hp := testHeaderPolicy()
	for _, tc := range dropCookieCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := hp.dropCookies(tc.in); got != tc.want {
				t.Errorf("dropCookies(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// cookiePairs splits a Cookie line as RFC 6265 does: pairs separated by
// ';', surrounding whitespace dropped, empty pairs ignored.
func cookiePairs(line string) []string {
	var pairs []string
	for p := range strings.SplitSeq(line, ";") {
		if p = strings.TrimSpace(p); p != "" {
			pairs = append(pairs, p)
		}
	}
	return pairs
}

func isGatewayCookie(hp *headerPolicy, pair string) bool {
	name, _, _ := strings.Cut(pair, "=")
	return hp.cookies[strings.ToLower(strings.TrimSpace(name))]
}

func FuzzDropCookies(f *testing.F) {
	for _, tc := range dropCookieCases {
		f.Add(tc.in)
	}
	hp := testHeaderPolicy()
	f.Fuzz(func(t *testing.T, line string) {
		got := hp.dropCookies(line)
		var others []string
		for _, p := range cookiePairs(line) {
			if !isGatewayCookie(hp, p) {
				others = append(others, p)
			}
		}
		out := cookiePairs(got)
		for _, p := range out {
			if isGatewayCookie(hp, p) {
				t.Fatalf("dropCookies(%q) = %q: gateway cookie %q survived", line, got, p)
			}
		}
		if !slices.Equal(out, others) {
			t.Fatalf("dropCookies(%q) = %q: pairs %q, want the other pairs %q in order", line, got, out, others)
		}
		if len(others) == len(cookiePairs(line)) && got != line {
			t.Fatalf("dropCookies(%q) = %q: nothing to drop, want the line unchanged", line, got)
		}
	})
}

func TestScrubSetCookie(t *testing.T) {
	tests := []struct {
		name string
		line string
		kept bool
	}{
		{"other cookie", "theme=dark; Path=/", true},
		{"other cookie with attributes", "session=abc; Path=/; HttpOnly; Secure; SameSite=Lax", true},
		{"access cookie (session fixation)", "gw_access=evil; Path=/; HttpOnly", false},
		{"refresh cookie", "gw_refresh=evil", false},
		{"__Host- name", "__Host-gw_access=evil; Path=/; Secure", false},
		{"__Secure- name", "__Secure-gw_refresh=evil; Secure", false},
		{"any case", "GW_Access=evil", false},
		{"spaces around the name", "  gw_refresh = evil", false},
		// Nameless cookies are sent back as their bare value: "=gw_access=x"
		// comes back as "gw_access=x" (nameless-cookie smuggling).
		{"nameless cookie smuggling the access cookie", "=gw_access=evil; Path=/", false},
		{"nameless cookie smuggling a __Host- name", " =__Host-gw_access=evil; Secure; Path=/", false},
		{"nameless cookie shadowing with no value", "gw_access; Path=/", false},
		{"bare name", "gw_access", false},
		{"nameless other cookie", "=theme=dark", true},
		{"nameless value starting with '='", "==gw_access=x", true},
		{"look-alike name", "gw_accessory=1", true},
		{"gateway name as a value", "session=gw_access", true},
		{"gateway name as an attribute", "a=b; gw_access=evil", true},
	}
	hp := testHeaderPolicy()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Set-Cookie": {"keep=1", tc.line}, "Content-Type": {"text/plain"}}
			hp.scrubSetCookie(h)
			want := []string{"keep=1"}
			if tc.kept {
				want = append(want, tc.line)
			}
			if got := h["Set-Cookie"]; !slices.Equal(got, want) {
				t.Errorf("Set-Cookie = %q, want %q", got, want)
			}
			if h.Get("Content-Type") != "text/plain" {
				t.Error("scrubSetCookie touched another header")
			}
		})
	}
	t.Run("all removed deletes the header", func(t *testing.T) {
		h := http.Header{"Set-Cookie": {"gw_access=a", "__Host-gw_refresh=b"}}
		hp.scrubSetCookie(h)
		if v, ok := h["Set-Cookie"]; ok {
			t.Errorf("Set-Cookie = %q, want no header", v)
		}
	})
	t.Run("no Set-Cookie", func(t *testing.T) {
		h := http.Header{}
		hp.scrubSetCookie(h)
		if len(h) != 0 {
			t.Errorf("header = %v, want empty", h)
		}
	})
}

func TestDropMethodOverride(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "empty", in: "", want: ""},
		{name: "no override", in: "a=1&b=2", want: "a=1&b=2"},
		{name: "only override", in: "_method=DELETE", want: ""},
		{name: "in the middle", in: "a=1&_method=DELETE&b=2", want: "a=1&b=2"},
		{name: "upper case key", in: "_METHOD=put&x=1", want: "x=1"},
		{name: "mixed case key", in: "x=1&_MeThOd=patch", want: "x=1"},
		{name: "encoded underscore", in: "%5Fmethod=DELETE&z=1", want: "z=1"},
		{name: "encoded underscore lower-case hex", in: "%5fmethod=DELETE", want: ""},
		{name: "leading space as +", in: "+_method=PATCH&a=1", want: "a=1"},
		{name: "trailing encoded space", in: "_method%20=PATCH", want: ""},
		{name: "no value", in: "_method&a=1", want: "a=1"},
		{name: "empty value", in: "_method=&a=1", want: "a=1"},
		{name: "repeated", in: "_method=DELETE&a=1&_method=PUT", want: "a=1"},
		{name: "rest byte for byte", in: "q=%E2%82%AC&_method=PATCH&z&y=a+b&&w=%zz", want: "q=%E2%82%AC&z&y=a+b&&w=%zz"},
		{name: "method without underscore is a normal parameter", in: "method=card&payment_method=visa", want: "method=card&payment_method=visa"},
		{name: "longer key", in: "_methods=x&_method_x=y", want: "_methods=x&_method_x=y"},
		{name: "override as a value", in: "a=_method", want: "a=_method"},
		{name: "encoded '=' is part of the key", in: "_method%3D=DELETE", want: "_method%3D=DELETE"},
		{
			name: "encoded letter", in: "_%6Dethod=DELETE&b=2", want: "b=2",
		},
		{
			name: "fully encoded key", in: "%5F%6D%65%74%68%6F%64=DELETE", want: "",
		},
		{
			// PHP turns '.' and ' ' in parameter names into '_'.
			name: "PHP name mangling", in: ".method=DELETE&b=2", want: "b=2",
		},
		{
			// qs (Express) and PHP parse _method[] as an array; Express
			// method-override takes its first element.
			name: "array form", in: "_method[]=DELETE&b=2", want: "b=2",
		},
		{
			// Rack before 3.0 split the query on ';' as well as '&'.
			// net/http's ReverseProxy drops such parameters before the
			// rewrite, so the gateway is safe; the function alone is not.
			name: "semicolon separator", in: "a=1;_method=DELETE", want: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := dropMethodOverride(tc.in)
			if got == tc.want {
				return
			}
			t.Errorf("dropMethodOverride(%q) = %q, want %q", tc.in, got, tc.want)
		})
	}
}

func TestFormatForwardedFor(t *testing.T) {
	tests := []struct {
		name string
		addr netip.Addr
		want string
	}{
		{"IPv4", netip.MustParseAddr("203.0.113.7"), "203.0.113.7"},
		{"IPv6 is bracketed and quoted", netip.MustParseAddr("2001:db8::1"), `"[2001:db8::1]"`},
		{"zone is dropped", netip.MustParseAddr(`fe80::1%";host=evil`), `"[fe80::1]"`},
		{"unknown address", netip.Addr{}, "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatForwardedFor(tc.addr); got != tc.want {
				t.Errorf("formatForwardedFor(%v) = %s, want %s", tc.addr, got, tc.want)
			}
		})
	}
}

func BenchmarkScrub(b *testing.B) {
	hp := testHeaderPolicy()
	base := http.Header{
		"Accept": {"*/*"}, "User-Agent": {"bench"}, "Content-Type": {"application/json"},
		"Cookie": {"theme=dark; __Host-gw_access=tok; lang=en"}, "X-Forwarded-For": {"1.2.3.4"},
	}
	b.ReportAllocs()
	for b.Loop() {
		hp.scrub(base.Clone())
	}
}

func BenchmarkCheckTarget(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := CheckTarget("/api/items/caf%C3%A9/42?x=1&y=2"); err != nil {
			b.Fatal(err)
		}
	}
}
