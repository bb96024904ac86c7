package gateway

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/observe"
	"github.com/authgate/gateway/gateway/scope"
)

// hdrE2EIdentity is who hdrE2EAuthn says every request comes from.
var hdrE2EIdentity = scope.Identity{
	UserID: "u-123", Email: "alice@example.com", Roles: []string{"user", "editor"}, SessionID: "s-456",
}

// hdrE2EAuthn authenticates every request as hdrE2EIdentity.
type hdrE2EAuthn struct{}

func (hdrE2EAuthn) Authenticate(http.ResponseWriter, *http.Request) (*scope.Identity, error) {
	id := hdrE2EIdentity
	return &id, nil
}

// hdrE2ESigner returns a recognisable fake assertion.
type hdrE2ESigner struct{}

func (hdrE2ESigner) Assertion(id *scope.Identity, audience string) (string, error) {
	return "signed." + id.UserID + "." + audience, nil
}

func hdrE2EWithUser(o *Options) {
	o.Authenticator = hdrE2EAuthn{}
	o.Signer = hdrE2ESigner{}
}

// What the gateway sends for hdrE2EIdentity to the upstream "app".
var hdrE2EUserHeaders = http.Header{
	"X-Auth-User-Id":    {"u-123"},
	"X-Auth-User-Email": {"alice@example.com"},
	"X-Auth-User-Roles": {"user,editor"},
	"X-Auth-Session-Id": {"s-456"},
	"X-Auth-Assertion":  {"signed.u-123.app"},
}

// What the gateway sends about a direct (untrusted) loopback client.
var hdrE2EDirectForwarding = http.Header{
	"X-Forwarded-For":   {"127.0.0.1"},
	"X-Forwarded-Proto": {"http"},
	"X-Forwarded-Host":  {"app.example"},
	"X-Real-Ip":         {"127.0.0.1"},
	"Forwarded":         {`for=127.0.0.1;proto=http;host="app.example"`},
}

// hdrE2EFold is the comparison form of a header name: lower case, letters
// and digits only, as servers that map names to variables see them.
func hdrE2EFold(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, name)
}

// headerE2ECase is one hostile request and what the upstream must see.
type headerE2ECase struct {
	name string
	// gw: "anon" (anonymous, untrusted peer), "user" (authenticated,
	// untrusted peer) or "trusted" (authenticated, peer in trusted_proxies).
	gw     string
	method string // GET unless set
	target string // "/h" unless set
	head   string // header lines after Host, each ending in \r\n
	body   string
	// status: 0 means 200 and forwarded; anything else means refused
	// before the upstream.
	status int
	uri    string      // exact request-target upstream saw; target unless set
	want   http.Header // exact values
	absent []string
	check  func(t *testing.T, got recorded)
}

var headerE2ECases = []headerE2ECase{
	// Identity headers: every spelling is removed, the gateway's are set.
	{
		name: "identity headers spoofed by an anonymous client", gw: "anon",
		head: "X-Auth-User-Id: admin\r\nX-Auth-User-Email: root@example.com\r\nX-Auth-User-Roles: admin\r\n" +
			"X-Auth-Session-Id: s-1\r\nX-Auth-Assertion: forged.jwt.value\r\n",
		absent: []string{"X-Auth-User-Id", "X-Auth-User-Email", "X-Auth-User-Roles", "X-Auth-Session-Id", "X-Auth-Assertion"},
	},
	{
		name: "identity headers replaced for a user", gw: "user",
		head: "X-Auth-User-Id: admin\r\nX-Auth-User-Email: root@example.com\r\nX-Auth-User-Roles: admin\r\n" +
			"X-Auth-Session-Id: s-1\r\nX-Auth-Assertion: forged.jwt.value\r\n",
		want: hdrE2EUserHeaders,
	},
	{name: "lower case", gw: "user", head: "x-auth-user-id: admin\r\nx-auth-user-roles: admin\r\nx-auth-assertion: forged\r\n", want: hdrE2EUserHeaders},
	{name: "upper case", gw: "user", head: "X-AUTH-USER-ID: admin\r\nX-AUTH-USER-EMAIL: root@example.com\r\nX-AUTH-SESSION-ID: s-1\r\n", want: hdrE2EUserHeaders},
	{name: "mixed case", gw: "user", head: "x-AUTH-user-ID: admin\r\nX-aUtH-UsEr-RoLeS: admin\r\n", want: hdrE2EUserHeaders},
	{
		// CGI, WSGI and PHP turn '-' into '_': X_Auth_User_Id and
		// X-Auth-User-Id both become HTTP_X_AUTH_USER_ID, and the later
		// one may win.
		name: "underscores instead of hyphens", gw: "user",
		head: "X_Auth_User_Id: admin\r\nX_AUTH_USER_ROLES: admin\r\nx_auth_user_email: root@example.com\r\nX_Auth_Session_Id: s-1\r\nX_Auth_Assertion: forged\r\n",
		want: hdrE2EUserHeaders,
	},
	{name: "dots instead of hyphens", gw: "user", head: "X.Auth.User.Id: admin\r\nX.Auth.User.Roles: admin\r\n", want: hdrE2EUserHeaders},
	{name: "no separators", gw: "user", head: "XAuthUserId: admin\r\nxauthuserroles: admin\r\n", want: hdrE2EUserHeaders},
	{name: "mixed separators", gw: "user", head: "X-Auth_User.Id: admin\r\nX__Auth--User..Roles: admin\r\n", want: hdrE2EUserHeaders},
	{name: "underscores from an anonymous client", gw: "anon", head: "X_Auth_User_Id: admin\r\nX.Auth.User.Roles: admin\r\n", absent: []string{"X_auth_user_id", "X.auth.user.roles", "X-Auth-User-Id", "X-Auth-User-Roles"}},
	{
		name: "duplicated lines", gw: "user",
		head: "X-Auth-User-Id: admin\r\nX-Auth-User-Id: u-123\r\nX-Auth-User-Roles: user\r\nx-auth-user-roles: admin\r\n",
		want: hdrE2EUserHeaders,
	},
	{
		// Listing a header in Connection makes a proxy drop it (hop-by-hop
		// abuse); the gateway must still send its own copy.
		name: "identity headers listed in Connection", gw: "user",
		head: "Connection: X-Auth-User-Id, X-Auth-User-Roles, X-Auth-Assertion, X-Request-Id\r\n" +
			"X-Auth-User-Id: admin\r\nX-Auth-User-Roles: admin\r\n",
		want:   hdrE2EUserHeaders,
		absent: []string{"Connection"},
	},
	{
		name: "forwarding headers listed in Connection", gw: "anon",
		head:   "Connection: keep-alive, X-Forwarded-For, X-Real-IP, Forwarded\r\nX-Forwarded-For: 6.6.6.6\r\n",
		want:   hdrE2EDirectForwarding,
		absent: []string{"Connection"},
	},
	{
		// Obsolete line folding: the continuation belongs to X-Foo.
		name: "header hidden in a folded line", gw: "user",
		head: "X-Foo: a\r\n X-Auth-User-Id: admin\r\n",
		want: http.Header{"X-Auth-User-Id": {"u-123"}, "X-Foo": {"a X-Auth-User-Id: admin"}},
	},
	{
		// Tomcat used to merge request trailers into the headers.
		name: "identity header sent as a trailer", gw: "user", method: http.MethodPost,
		head:   "Transfer-Encoding: chunked\r\nTrailer: X-Auth-User-Id\r\n",
		body:   "1\r\na\r\n0\r\nX-Auth-User-Id: admin\r\n\r\n",
		want:   http.Header{"X-Auth-User-Id": {"u-123"}},
		absent: []string{"Trailer"},
	},
	{
		// Request smuggling hygiene: net/http refuses whitespace before
		// the colon ("X-Auth-User-Id : admin" is X-Auth-User-Id to some).
		name: "space before the colon", gw: "user",
		head: "X-Auth-User-Id : admin\r\n", status: http.StatusBadRequest,
	},

	// Forwarding headers from an untrusted peer are replaced.
	{
		name: "spoofed forwarding headers", gw: "anon",
		head: "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n" +
			"Forwarded: for=6.6.6.6;proto=https;host=evil.example\r\nX-Real-IP: 6.6.6.6\r\n",
		want: hdrE2EDirectForwarding,
	},
	{
		name: "forwarding headers in other spellings", gw: "anon",
		head: "X_Forwarded_For: 6.6.6.6\r\nx-forwarded-for: 7.7.7.7\r\nX-FORWARDED-HOST: evil.example\r\nX_Real_IP: 6.6.6.6\r\n" +
			"X-Forwarded-Port: 8443\r\nX-Forwarded-Server: evil.example\r\nX-Forwarded-Ssl: on\r\n",
		want:   hdrE2EDirectForwarding,
		absent: []string{"X_forwarded_for", "X_real_ip", "X-Forwarded-Port", "X-Forwarded-Server", "X-Forwarded-Ssl"},
	},
	{
		name: "client IP headers", gw: "anon",
		head: "Client-IP: 6.6.6.6\r\nX-Client-IP: 6.6.6.6\r\nTrue-Client-IP: 6.6.6.6\r\nCF-Connecting-IP: 6.6.6.6\r\n" +
			"X-Cluster-Client-IP: 6.6.6.6\r\nFastly-Client-IP: 6.6.6.6\r\nX-Original-Forwarded-For: 6.6.6.6\r\n",
		want:   hdrE2EDirectForwarding,
		absent: []string{"Client-Ip", "X-Client-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "X-Cluster-Client-Ip", "Fastly-Client-Ip", "X-Original-Forwarded-For"},
	},
	{
		name: "other auth proxies' identity headers", gw: "anon",
		head: "Remote-User: admin\r\nRemote-Groups: admins\r\nX-Auth-Request-User: admin\r\nX-Forwarded-User: admin\r\n" +
			"X-Consumer-Username: admin\r\nX-Remote-User: admin\r\nX-Webauth-User: admin\r\nRemote_User: admin\r\n",
		want:   hdrE2EDirectForwarding,
		absent: []string{"Remote-User", "Remote-Groups", "X-Auth-Request-User", "X-Forwarded-User", "X-Consumer-Username", "X-Remote-User", "X-Webauth-User", "Remote_user"},
	},
	{
		name: "request id from an untrusted peer is replaced", gw: "anon",
		head: "X-Request-Id: client-chosen-id\r\nX_Request_Id: other-id\r\n",
	},

	// A trusted peer's forwarding headers are believed.
	{
		name: "trusted chain is continued", gw: "trusted",
		head: "X-Forwarded-For: 203.0.113.7\r\n",
		want: http.Header{
			"X-Forwarded-For": {"203.0.113.7, 127.0.0.1"},
			"X-Real-Ip":       {"203.0.113.7"},
			"Forwarded":       {`for=203.0.113.7;proto=http;host="app.example"`},
		},
	},
	{
		name: "trusted chain over several lines", gw: "trusted",
		head: "X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 203.0.113.7\r\n",
		want: http.Header{
			"X-Forwarded-For": {"198.51.100.1, 203.0.113.7, 127.0.0.1"},
			"X-Real-Ip":       {"203.0.113.7"},
		},
	},
	{
		name: "trusted proto and host", gw: "trusted",
		head: "X-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example.com\r\n",
		want: http.Header{
			"X-Forwarded-For":   {"127.0.0.1"},
			"X-Forwarded-Proto": {"https"},
			"X-Forwarded-Host":  {"shop.example.com"},
			"Forwarded":         {`for=127.0.0.1;proto=https;host="shop.example.com"`},
		},
	},
	{
		name: "trusted peer with an invalid forwarded host", gw: "trusted",
		head: "X-Forwarded-Host: evil.example/x?y\r\n",
		want: http.Header{"X-Forwarded-Host": {"app.example"}},
	},
	{
		name: "trusted peer's Forwarded and X-Real-IP are rebuilt", gw: "trusted",
		head: "Forwarded: for=6.6.6.6;host=evil.example\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.7\r\n",
		want: http.Header{
			"X-Real-Ip": {"203.0.113.7"},
			"Forwarded": {`for=203.0.113.7;proto=http;host="app.example"`},
		},
	},
	{
		// Regression: the zone of "[v6%zone]:port" reached X-Real-IP and
		// broke out of the quoted Forwarded value.
		name: "zone injection through a trusted chain", gw: "trusted",
		head: "X-Forwarded-For: [fe80::1%\";host=evil.example;x=\"]:1\r\n",
		want: http.Header{
			"X-Real-Ip": {"fe80::1"},
			"Forwarded": {`for="[fe80::1]";proto=http;host="app.example"`},
		},
	},
	{
		name: "trusted forwarding header in another spelling is not believed", gw: "trusted",
		head:   "X_Forwarded_For: 6.6.6.6\r\n",
		want:   http.Header{"X-Forwarded-For": {"127.0.0.1"}, "X-Real-Ip": {"127.0.0.1"}},
		absent: []string{"X_forwarded_for"},
	},
	{
		name: "trusted peer cannot set identity headers", gw: "trusted",
		head: "X-Auth-User-Id: admin\r\nX_Auth_User_Roles: admin\r\n",
		want: hdrE2EUserHeaders,
	},
	{
		name: "trusted valid request id is kept", gw: "trusted",
		head: "X-Request-Id: trace-123.abc:X_y\r\n",
		want: http.Header{"X-Request-Id": {"trace-123.abc:X_y"}},
	},
	{
		name: "trusted invalid request id is replaced", gw: "trusted",
		head:  "X-Request-Id: <script>alert(1)</script>\r\n",
		check: hdrE2ERequestIDNot("<script>alert(1)</script>"),
	},
	{
		name: "trusted over-long request id is replaced", gw: "trusted",
		head:  "X-Request-Id: " + strings.Repeat("a", 129) + "\r\n",
		check: hdrE2ERequestIDNot(strings.Repeat("a", 129)),
	},

	// Method override: headers and _method parameters are removed.
	{
		name: "method-override headers", gw: "anon", method: http.MethodPost,
		head:   "Content-Length: 0\r\nX-HTTP-Method-Override: DELETE\r\nX-HTTP-Method: PUT\r\nX-Method-Override: PATCH\r\n",
		absent: []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"},
		check:  hdrE2EMethod(http.MethodPost),
	},
	{
		name: "method-override headers in other spellings", gw: "anon", method: http.MethodPost,
		head:   "Content-Length: 0\r\nx_http_method_override: DELETE\r\nX-HTTP-METHOD-OVERRIDE: DELETE\r\nX.Method.Override: PATCH\r\nX-Original-Method: DELETE\r\n",
		absent: []string{"X_http_method_override", "X-Http-Method-Override", "X.method.override", "X-Original-Method"},
		check:  hdrE2EMethod(http.MethodPost),
	},
	{name: "_method in the middle of the query", gw: "anon", target: "/h?a=1&_method=DELETE&b=2", uri: "/h?a=1&b=2"},
	{name: "_method upper case", gw: "anon", target: "/h?_METHOD=put&x=%C3%A9&y=a+b", uri: "/h?x=%C3%A9&y=a+b"},
	{name: "_method with an encoded underscore", gw: "anon", target: "/h?%5Fmethod=DELETE&z=1", uri: "/h?z=1"},
	{name: "_method after an encoded space", gw: "anon", target: "/h?+_method=PATCH", uri: "/h"},
	{name: "_method repeated, rest byte for byte", gw: "anon", target: "/h?_method=DELETE&keep=%2F%3F&&_Method=PUT&z", uri: "/h?keep=%2F%3F&&z"},
	{
		// Rack before 3.0 read ';' as '&'; net/http's ReverseProxy drops
		// the unparsable pair before the gateway's rewrite.
		name: "_method after a semicolon", gw: "anon", target: "/h?a=1;_method=DELETE&b=2", uri: "/h?b=2",
	},
	{
		name: "_method with an encoded letter", gw: "anon", target: "/h?_%6Dethod=DELETE&b=2", uri: "/h?b=2",
	},
	{
		name: "_method as an array (qs, PHP)", gw: "anon", target: "/h?_method[]=DELETE&b=2", uri: "/h?b=2",
	},

	// URL-rewriting headers never reach the upstream nor change the path.
	{
		name: "URL-rewriting headers", gw: "anon",
		head: "X-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nX-Forwarded-Uri: /admin\r\nX-Forwarded-Prefix: /admin\r\n" +
			"X-Original-URI: /admin\r\nX-Forwarded-Path: /admin\r\n",
		absent: []string{"X-Original-Url", "X-Rewrite-Url", "X-Forwarded-Uri", "X-Forwarded-Prefix", "X-Original-Uri", "X-Forwarded-Path"},
	},
	{
		name: "URL-rewriting headers in other spellings", gw: "anon",
		head:   "x_original_url: /admin\r\nX.Rewrite.URL: /admin\r\nX-ORIGINAL-URL: /admin\r\n",
		absent: []string{"X_original_url", "X.rewrite.url", "X-Original-Url"},
	},

	// Credentials: the upstream sees the gateway's identity instead.
	{name: "Authorization", gw: "user", head: "Authorization: Bearer client-token\r\n", absent: []string{"Authorization"}, want: hdrE2EUserHeaders},
	{
		name: "Authorization in other spellings", gw: "user",
		head:   "authorization: Basic YWRtaW46YWRtaW4=\r\nAUTHORIZATION: Bearer t\r\nProxy-Authorization: Basic YWRtaW46YWRtaW4=\r\nAuthor_Ization: Bearer t\r\n",
		absent: []string{"Authorization", "Proxy-Authorization", "Author_ization"},
	},

	// The gateway's cookies are removed, other cookies pass.
	{name: "access cookie among others", gw: "user", head: "Cookie: a=1; gw_access=tok; b=2\r\n", want: http.Header{"Cookie": {"a=1; b=2"}}},
	{name: "only __Host- gateway cookies", gw: "user", head: "Cookie: __Host-gw_access=x; __Host-gw_refresh=y\r\n", absent: []string{"Cookie"}},
	{name: "gateway cookies over several lines", gw: "user", head: "Cookie: gw_refresh=r\r\nCookie: theme=dark; GW_ACCESS=t\r\n", want: http.Header{"Cookie": {"theme=dark"}}},
	{name: "lower-case cookie header", gw: "user", head: "cookie: gw_access=1;session=abc\r\n", want: http.Header{"Cookie": {"session=abc"}}},
	{name: "cookies without gateway ones pass byte for byte", gw: "user", head: "Cookie: session=abc;lang=en\r\n", want: http.Header{"Cookie": {"session=abc;lang=en"}}},

	// Upgrade passes only for WebSocket (h2c smuggling).
	{
		name: "h2c upgrade", gw: "anon",
		head:   "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n",
		absent: []string{"Upgrade", "Http2-Settings", "Connection"},
	},
	{name: "h2c upgrade without Connection", gw: "anon", head: "Upgrade: h2c\r\n", absent: []string{"Upgrade"}},
	{name: "websocket and h2c in one value", gw: "anon", head: "Upgrade: websocket, h2c\r\nConnection: Upgrade\r\n", absent: []string{"Upgrade"}},
	{
		name: "websocket upgrade passes", gw: "anon",
		head: "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
		want: http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"}},
	},
	{
		name: "websocket in another case", gw: "anon",
		head: "Upgrade: WebSocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
		want: http.Header{"Upgrade": {"WebSocket"}, "Connection": {"Upgrade"}},
	},
}

func hdrE2EMethod(want string) func(*testing.T, recorded) {
	return func(t *testing.T, got recorded) {
		t.Helper()
		if got.Method != want {
			t.Errorf("upstream method %q, want %q", got.Method, want)
		}
	}
}

func hdrE2ERequestIDNot(sent string) func(*testing.T, recorded) {
	return func(t *testing.T, got recorded) {
		t.Helper()
		if id := got.Header.Get("X-Request-Id"); id == sent {
			t.Errorf("X-Request-Id %q was kept, want a fresh one", id)
		}
	}
}

func TestHostileHeadersEndToEnd(t *testing.T) {
	if n := len(headerE2ECases); n < 30 {
		t.Fatalf("only %d header cases; at least 30 are required", n)
	}
	type target struct {
		gw  *testGateway
		rec *recorder
	}
	start := func(mutate func(*config.Config), opts ...func(*Options)) target {
		rec := &recorder{}
		return target{startGateway(t, rec, mutate, opts...), rec}
	}
	gateways := map[string]target{
		"anon": start(nil),
		"user": start(nil, hdrE2EWithUser),
		"trusted": start(func(c *config.Config) {
			c.Server.TrustedProxies = []string{"127.0.0.1/32"}
		}, hdrE2EWithUser),
	}

	for _, tc := range headerE2ECases {
		t.Run(tc.name, func(t *testing.T) {
			g, ok := gateways[tc.gw]
			if !ok {
				t.Fatalf("unknown gateway %q", tc.gw)
			}
			method, target := tc.method, tc.target
			if method == "" {
				method = http.MethodGet
			}
			if target == "" {
				target = "/h"
			}
			raw := method + " " + target + " HTTP/1.1\r\nHost: app.example\r\n" + tc.head + "\r\n" + tc.body
			before := g.rec.count()
			status, body := rawRequest(t, g.gw.Addr, raw)

			if tc.status != 0 {
				if status != tc.status {
					t.Fatalf("status %d (%s), want %d", status, body, tc.status)
				}
				if g.rec.count() != before {
					t.Fatalf("refused with %d but the upstream received it", status)
				}
				return
			}
			if status != http.StatusOK || g.rec.count() != before+1 {
				t.Fatalf("status %d (%s), upstream received %d requests; want 200 and 1", status, body, g.rec.count()-before)
			}
			got := g.rec.last(t)

			wantURI := tc.uri
			if wantURI == "" {
				wantURI = target
			}
			if got.RequestURI != wantURI {
				t.Errorf("upstream saw %q, want %q", got.RequestURI, wantURI)
			}
			for name, want := range tc.want {
				if v := got.Header[name]; !slices.Equal(v, want) {
					t.Errorf("upstream %s = %q, want %q", name, v, want)
				}
			}
			for _, name := range tc.absent {
				if v, ok := got.Header[name]; ok {
					t.Errorf("upstream received %s: %q, want it absent", name, v)
				}
			}
			hdrE2EInvariants(t, tc.gw, raw, got)
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

// hdrE2EInvariants holds for every forwarded request: identity headers are
// exactly the gateway's (none for anonymous requests), in their canonical
// spelling only; the request id is one valid value, never an untrusted
// client's; forwarding headers describe the direct peer unless it is
// trusted; no credentials or gateway cookies pass.
func hdrE2EInvariants(t *testing.T, gw, raw string, got recorded) {
	t.Helper()
	identity := map[string]string{}
	for name := range hdrE2EUserHeaders {
		identity[hdrE2EFold(name)] = name
	}
	for name, v := range got.Header {
		canonical, isIdentity := identity[hdrE2EFold(name)]
		switch {
		case !isIdentity:
		case gw == "anon":
			t.Errorf("anonymous request reached the upstream with %s: %q", name, v)
		case name != canonical:
			t.Errorf("upstream received client header %s: %q", name, v)
		case !slices.Equal(v, hdrE2EUserHeaders[name]):
			t.Errorf("upstream %s = %q, want the gateway's %q", name, v, hdrE2EUserHeaders[name])
		}
	}
	if gw != "anon" {
		for name, want := range hdrE2EUserHeaders {
			if v := got.Header[name]; !slices.Equal(v, want) {
				t.Errorf("upstream %s = %q, want the gateway's %q", name, v, want)
			}
		}
	}

	ids := got.Header["X-Request-Id"]
	if len(ids) != 1 || !observe.ValidRequestID(ids[0]) {
		t.Errorf("upstream X-Request-Id = %q, want one valid id", ids)
	} else if gw != "trusted" && strings.Contains(raw, ids[0]) {
		t.Errorf("upstream X-Request-Id %q comes from an untrusted client", ids[0])
	}
	for _, name := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip", "Forwarded"} {
		if v := got.Header[name]; len(v) != 1 {
			t.Errorf("upstream %s = %q, want exactly one value set by the gateway", name, v)
		}
	}
	if gw != "trusted" {
		for name, want := range hdrE2EDirectForwarding {
			if v := got.Header[name]; !slices.Equal(v, want) {
				t.Errorf("upstream %s = %q, want %q (the direct peer)", name, v, want)
			}
		}
	}
	if v, ok := got.Header["Authorization"]; ok {
		t.Errorf("upstream received Authorization %q", v)
	}
	for _, line := range got.Header["Cookie"] {
		for pair := range strings.SplitSeq(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(pair), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "gw_access", "gw_refresh", "__host-gw_access", "__host-gw_refresh":
				t.Errorf("upstream received gateway cookie in %q", line)
			}
		}
	}
}

// TestUpstreamCannotSetGatewayCookies proves that an upstream's Set-Cookie
// for one of the gateway's cookies never reaches the browser (session
// fixation), while its other cookies do.
func TestUpstreamCannotSetGatewayCookies(t *testing.T) {
	lines := []struct {
		name string
		line string
		kept bool
	}{
		{"other cookie", "theme=dark; Path=/", true},
		{"other cookie with attributes", "session=abc; Path=/; HttpOnly; SameSite=Lax", true},
		{"look-alike name", "gw_accessory=1", true},
		{"access cookie", "gw_access=evil; Path=/; HttpOnly", false},
		{"refresh cookie", "gw_refresh=evil; Path=/auth", false},
		{"__Host- access cookie", "__Host-gw_access=evil; Path=/; Secure", false},
		{"__Secure- refresh cookie", "__Secure-gw_refresh=evil; Secure", false},
		{"upper-case name", "GW_ACCESS=evil", false},
		{"nameless cookie smuggling the access cookie", "=gw_access=evil; Path=/", false},
		{"nameless cookie smuggling a __Host- name", "=__Host-gw_access=evil; Path=/; Secure", false},
		{"nameless cookie shadowing the access cookie", "gw_access; Path=/", false},
	}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, l := range lines {
			w.Header().Add("Set-Cookie", l.line)
		}
		_, _ = io.WriteString(w, "upstream ok")
	})
	gw := startGateway(t, upstream, nil)
	resp, err := http.Get(gw.URL + "/set")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	got := resp.Header["Set-Cookie"]
	for _, l := range lines {
		t.Run(l.name, func(t *testing.T) {
			if slices.Contains(got, l.line) != l.kept {
				t.Errorf("Set-Cookie %q: passed=%v, want %v (response Set-Cookie: %q)", l.line, !l.kept, l.kept, got)
			}
		})
	}
}
