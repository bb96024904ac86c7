package main

// The security suite, part 1: what arrives at the gateway as HTTP. Path
// normalisation against the policy, header spoofing and aliasing, hop-by-hop
// abuse, method overrides, request smuggling, oversized and slow requests,
// and WebSocket upgrades. Every case cites the advisory, CVE or RFC section
// it comes from; the invariant of security_harness_test.go is checked over
// everything the upstream received.

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
)

// pathCase is a request-target sent raw with a user's token (role "user":
// /api/items/* is allowed, /admin/* is not).
type pathCase struct {
	name, source string
	target       string
	// status is the expected answer; reach says the upstream must receive
	// it, with exactly this target.
	status int
	reach  bool
	// anonymous sends no token.
	anonymous bool
}

var pathCases = []pathCase{
	// Dot segments: the policy sees /api/items/..., a normalising upstream
	// /admin/x.
	{"dot segments", "CVE-2019-9901 (Envoy path normalisation); heimdall GHSA-3q34-rx83-r6mq", "/api/items/../../admin/x", 400, false, false},
	{"encoded dot segments", "heimdall GHSA-3q34-rx83-r6mq; CVE-2021-41773 (Apache %2e)", "/api/items/%2e%2e/%2e%2e/admin/x", 400, false, false},
	{"upper-case encoded dots", "CVE-2021-41773", "/api/items/%2E%2E/%2E%2E/admin/x", 400, false, false},
	{"mixed dot and encoded dot", "CVE-2021-41773", "/api/items/.%2e/.%2e/admin/x", 400, false, false},
	{"single encoded dot segment", "RFC 3986 section 5.2.4", "/api/items/%2e/x", 400, false, false},
	{"dot segment at the end", "RFC 3986 section 5.2.4", "/api/items/x/..", 400, false, false},
	{"double-encoded dots", "CVE-2021-42013 (Apache double decoding)", "/api/items/%252e%252e/%252e%252e/admin/x", 400, false, false},
	{"encoded slash", "CVE-2021-29492 (Envoy escaped slashes)", "/api/items/..%2f..%2fadmin%2fx", 400, false, false},
	{"encoded slash upper case", "CVE-2021-29492", "/api/items/x%2Fy", 400, false, false},
	{"double-encoded slash", "CVE-2021-42013", "/api/items/x%252fy", 400, false, false},
	{"Tomcat path parameter traversal", "CVE-2020-1957 (Apache Shiro, '..;/')", "/api/items/..;/..;/admin/x", 400, false, false},
	{"path parameter", "CVE-2020-1957; Spring CVE-2016-5007", "/api/items/1;jsessionid=x", 400, false, false},
	{"encoded semicolon", "CVE-2020-1957", "/api/items/1%3b/x", 400, false, false},
	{"backslash separators", "IIS and Tomcat read '\\' as '/' (OWASP WSTG-ATHZ-01)", `/api/items\..\..\admin\x`, 400, false, false},
	{"encoded backslash", "OWASP WSTG-ATHZ-01", "/api/items/%5c..%5c..%5cadmin", 400, false, false},
	{"overlong UTF-8 dots", "CVE-2000-0884 (IIS overlong UTF-8 '%c0%ae')", "/api/items/%c0%ae%c0%ae/admin/x", 400, false, false},
	{"three-byte overlong dot", "RFC 3629 section 10", "/api/items/%e0%80%ae%e0%80%ae/admin", 400, false, false},
	{"overlong slash", "CVE-2000-0884", "/api/items/..%c0%af..%c0%afadmin", 400, false, false},
	{"IIS %u encoding", "CVE-2001-0333 (IIS double decode / %u)", "/api/items/%u002e%u002e/admin", 400, false, false},
	{"invalid percent-encoding", "RFC 3986 section 2.1", "/api/items/%zz", 400, false, false},
	{"truncated percent-encoding", "RFC 3986 section 2.1", "/api/items/x%2", 400, false, false},
	{"encoded NUL", "CVE-2013-4547 (nginx NUL/space); OWASP path traversal", "/api/items/x%00/../../admin", 400, false, false},
	{"encoded NUL alone", "OWASP ASVS 5 V1.3 (injection): control bytes", "/api/items/x%00.json", 400, false, false},
	{"encoded tab", "RFC 9112 section 3.2: no control characters", "/api/items/%09/x", 400, false, false},
	{"encoded C1 control (NEL)", "Unicode newline U+0085 in paths", "/api/items/%c2%85", 400, false, false},
	{"invalid UTF-8", "RFC 3629", "/api/items/%ff%fe", 400, false, false},
	{"UTF-16 surrogate in UTF-8", "RFC 3629 section 3", "/api/items/%ed%a0%80", 400, false, false},
	{"fullwidth solidus", "Unicode NFKC bypass (Orange Tsai, Black Hat 2019 'HostSplit')", "/api/items/%ef%bc%8f..%ef%bc%8fadmin", 400, false, false},
	{"fullwidth full stops", "Unicode NFKC bypass", "/api/items/%ef%bc%8e%ef%bc%8e/admin", 400, false, false},
	{"one dot leader", "Unicode NFKC: U+2024 becomes '.'", "/api/items/%e2%80%a4%e2%80%a4/admin", 400, false, false},
	{"encoded unreserved letter", "RFC 3986 section 2.3: never encode unreserved", "/%61dmin/x", 400, false, false},
	{"encoded unreserved letter in auth admin", "RFC 3986 section 2.3", "/auth/%61dmin/users", 400, false, false},
	{"empty segment", "nginx merge_slashes; CVE-2021-41773 class", "/api/items//x", 400, false, false},
	{"leading double slash", "protocol-relative path; Pomerium CVE-2023-33189", "//admin/x", 400, false, false},
	{"segment of dots (Windows trims)", "CVE-2016-5007 (Spring trims); Windows path normalisation", "/api/items/.../x", 400, false, false},
	{"dots and encoded space", "CVE-2016-5007", "/api/items/..%20/x", 400, false, false},
	{"raw space", "RFC 9112 section 3.2", "/api/items/a b", 400, false, false},
	{"raw quote", "RFC 3986 section 3.3 pchar", `/api/items/a"b`, 400, false, false},
	{"raw non-ASCII", "RFC 3986 section 3.3; raw UTF-8 read differently by servers", "/api/items/\xc3\xa9", 400, false, false},
	{"raw fragment", "CVE-2021-39156 (Istio: fragment in path bypasses policy)", "/api/items/x#/../../admin/x", 400, false, false},
	{"traversal from the auth namespace", "CVE-2019-9901", "/auth/../admin/x", 400, false, false},
	{"traversal from the public area, anonymous", "CVE-2019-9901", "/public/../admin/x", 400, false, true},
	{"encoded traversal from the public area, anonymous", "CVE-2021-29492", "/public/%2e%2e/admin/x", 400, false, true},
	{"case variant of a denied prefix", "SPEC 6: paths are case-sensitive (Spring CVE-2016-5007 class)", "/ADMIN/x", 403, false, false},
	{"case variant of the admin API", "SPEC 4; Echo routes are case-sensitive", "/auth/ADMIN/users", 404, false, false},
	{"query that looks like a path", "oauth2-proxy CVE-2025-54576 (skip_auth_routes matched the query)", "/api/items/x?/../../admin/x", 200, true, false},
	{"query never takes part in a decision, anonymous", "oauth2-proxy CVE-2025-54576", "/admin/x?/public/x", 401, false, true},
	{"public path, anonymous", "control: the policy allows it", "/public/x", 200, true, true},
	{"valid encoded UTF-8 passes unchanged", "control: RFC 3986 section 2.5", "/api/items/caf%C3%A9", 200, true, false},
	{"encoded reserved character passes unchanged", "control: RFC 3986 section 2.2", "/api/items/a%3Ab", 200, true, false},
	{"denied area", "control: deny by default (OWASP ASVS 5 V8.2.1)", "/admin/x", 403, false, false},
}

// TestSecurityPaths sends each target raw, with a user's token, and checks
// the answer and that the upstream received exactly the target or nothing.
func TestSecurityPaths(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	for _, tc := range pathCases {
		t.Run(tc.name, func(t *testing.T) {
			// Source: see tc.source.
			lines := []string{}
			if !tc.anonymous {
				lines = append(lines, "Authorization: Bearer "+e.user.Access)
			}
			res := e.raw(t, e.rawReq(tc.name, "GET "+tc.target+" HTTP/1.1", lines, ""))
			if res.status != tc.status {
				t.Errorf("%s (%s): status %d, want %d; %s", tc.target, tc.source, res.status, tc.status, res.body)
			}
			if !tc.reach {
				e.mustNotReach(t, tc.name)
				return
			}
			if got := e.reachedOnce(t, tc.name); got.Target != tc.target {
				t.Errorf("the upstream received %q, want %q byte for byte", got.Target, tc.target)
			}
		})
	}
}

// targetCase is a raw request line that is not origin-form.
var targetCases = []struct {
	name, source, requestLine string
	status                    int
}{
	// Absolute-form: some servers route by the URI's host and path.
	{"absolute-form to the gateway", "RFC 9112 section 3.2.2; Envoy CVE-2020-11080 class", "GET http://%s/admin/x HTTP/1.1", 400},
	{"absolute-form to another host", "RFC 9112 section 3.2.2 (host confusion)", "GET http://evil.example/admin/x HTTP/1.1", 400},
	// net/http would answer "OPTIONS *" itself (200, empty) before the
	// guard; the server disables that, so it is refused like the others.
	{"asterisk-form", "RFC 9112 section 3.2.4", "OPTIONS * HTTP/1.1", 400},
	{"authority-form CONNECT", "RFC 9112 section 3.2.3: an open tunnel", "CONNECT 127.0.0.1:22 HTTP/1.1", 405},
	{"TRACE", "cross-site tracing (OWASP WSTG-CONF-06)", "TRACE /api/items/x HTTP/1.1", 405},
	{"TRACK", "cross-site tracing (IIS TRACK)", "TRACK /api/items/x HTTP/1.1", 405},
	{"HTTP/0.9 request line", "RFC 9112 section 2.3", "GET /admin/x", 400},
	{"extra token in the request line", "RFC 9112 section 3", "GET /admin/x HTTP/1.1 x", 400},
	{"raw NUL in the target", "RFC 9112 section 3.2", "GET /api/items/x\x00/../../admin HTTP/1.1", 400},
	{"raw tab in the target", "RFC 9112 section 3.2", "GET /api/items/x\t/../admin HTTP/1.1", 400},
}

// TestSecurityRequestTargets: targets other than origin-form paths and
// methods that have no business at an application origin.
func TestSecurityRequestTargets(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	for _, tc := range targetCases {
		t.Run(tc.name, func(t *testing.T) {
			// Source: see tc.source.
			line := tc.requestLine
			if strings.Contains(line, "%s") {
				line = fmt.Sprintf(line, e.in.host)
			}
			res := e.raw(t, e.rawReq(tc.name, line, []string{"Authorization: Bearer " + e.user.Access}, ""))
			if res.closed || res.status != tc.status && !(tc.status == 400 && res.status >= 400 && res.status < 500) {
				t.Errorf("%q: status %d (closed %v), want %d", line, res.status, res.closed, tc.status)
			}
			e.mustNotReach(t, tc.name)
		})
	}
}

// headerCase sends extra header lines raw with a user's token to an allowed
// path; the invariant checks what arrived, the case what it expects.
type headerCase struct {
	name, source string
	lines        []string
	// status: the expected answer (200: it reaches the upstream).
	status int
	// check inspects the record when it reached the upstream.
	check func(t *testing.T, e *secEnv, r upRecord)
}

// wantIdentityOf checks that the upstream got the user's real identity.
func wantIdentityOf(uid string) func(t *testing.T, e *secEnv, r upRecord) {
	return func(t *testing.T, e *secEnv, r upRecord) {
		t.Helper()
		h := e.in.cfg.Headers
		if got := r.Header.Values(h.UserID); len(got) != 1 || got[0] != uid {
			t.Errorf("%s = %q, want the user's id %q only", h.UserID, got, uid)
		}
		if got := r.Header.Get(h.Roles); got != "user" {
			t.Errorf("%s = %q, want %q", h.Roles, got, "user")
		}
	}
}

// wantForwardedFromPeer checks that the forwarding headers describe the TCP
// peer, not the client's claims.
func wantForwardedFromPeer(t *testing.T, _ *secEnv, r upRecord) {
	t.Helper()
	if got := r.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want the peer 127.0.0.1 only", got)
	}
	if got := r.Header.Get("X-Real-Ip"); got != "127.0.0.1" {
		t.Errorf("X-Real-IP %q, want 127.0.0.1", got)
	}
}

func headerCases(e *secEnv) []headerCase {
	uid := e.userAcct.ID
	id := wantIdentityOf(uid)
	return []headerCase{
		{"identity header", "oauth2-proxy GHSA-vjrc-mh2v-45x6 / CVE-2025-64484 (spoofed identity headers)", []string{"X-Auth-User-Id: evil-admin"}, 200, id},
		{"identity header lower case", "CVE-2025-64484 (capitalisation variants)", []string{"x-auth-user-id: evil-admin"}, 200, id},
		{"identity header upper case", "CVE-2025-64484", []string{"X-AUTH-USER-ID: evil-admin"}, 200, id},
		{"identity header with underscores", "CVE-2025-64484; Traefik PR 12961 (WSGI/CGI read '_' as '-')", []string{"X_Auth_User_Id: evil-admin"}, 200, id},
		{"identity header with dots", "SPEC 6: any separator in place of '-'", []string{"X.Auth.User.Id: evil-admin"}, 200, id},
		{"identity header without separators", "SPEC 6", []string{"XAuthUserId: evil-admin"}, 200, id},
		{"roles escalation", "oauth2-proxy GHSA-vjrc-mh2v-45x6 (privilege escalation via groups header)", []string{"X-Auth-User-Roles: admin,evil"}, 200, id},
		{"roles with underscores", "CVE-2025-64484", []string{"X_AUTH_USER_ROLES: admin,evil"}, 200, id},
		{"email header", "CVE-2025-64484", []string{"X-Auth-User-Email: evil@example.com"}, 200, id},
		{"session header", "CVE-2025-64484", []string{"X-Auth-Session-Id: evil"}, 200, id},
		{"assertion header", "SPEC 6 (X-Auth-Assertion is the gateway's)", []string{"X-Auth-Assertion: evil.evil.evil"}, 200, id},
		{"identity header repeated", "RFC 9110 section 5.3 (repeated fields combine)", []string{"X-Auth-User-Id: evil-1", "X-Auth-User-Id: evil-2"}, 200, id},
		{"identity header as a list", "RFC 9110 section 5.3", []string{"X-Auth-User-Id: " + uid + ", evil"}, 200, id},
		{"identity headers of every spelling at once", "CVE-2025-64484", []string{"X-Auth-User-Id: evil-1", "x_auth_user_id: evil-2", "X-AUTH-USER-ID: evil-3"}, 200, id},
		{"request id", "SPEC 6 (X-Request-Id set by the gateway)", []string{"X-Request-Id: evil-request"}, 200, nil},
		{"X-Forwarded-For", "RFC 7239 section 8.1; OWASP ASVS 5 V4.1.3", []string{"X-Forwarded-For: 6.6.6.6, evil"}, 200, wantForwardedFromPeer},
		{"X_Forwarded_For with underscores", "Traefik PR 12961; CVE-2025-64484", []string{"X_Forwarded_For: 6.6.6.6"}, 200, wantForwardedFromPeer},
		{"X-Real-IP", "nginx realip module trust (OWASP ASVS 5 V4.1.3)", []string{"X-Real-IP: 6.6.6.6"}, 200, wantForwardedFromPeer},
		{"Forwarded", "RFC 7239 section 8.1 (header spoofing)", []string{`Forwarded: for=6.6.6.6;host=evil.example;proto=https`}, 200, wantForwardedFromPeer},
		{"True-Client-IP", "Akamai/Cloudflare client-IP headers trusted by apps", []string{"True-Client-IP: 6.6.6.6"}, 200, wantForwardedFromPeer},
		{"X-Client-IP", "PHP HTTP_CLIENT_IP spoofing", []string{"X-Client-IP: 6.6.6.6", "Client-IP: 6.6.6.6"}, 200, wantForwardedFromPeer},
		{"X-Forwarded-Host", "host header poisoning (OWASP WSTG-INPV-17)", []string{"X-Forwarded-Host: evil.example"}, 200, func(t *testing.T, e *secEnv, r upRecord) {
			if got := r.Header.Get("X-Forwarded-Host"); got != e.in.host {
				t.Errorf("X-Forwarded-Host %q, want the Host the client used (%q)", got, e.in.host)
			}
		}},
		{"X-Forwarded-Proto", "SPEC 6; Traefik CVE-2024-45410", []string{"X-Forwarded-Proto: https-evil"}, 200, func(t *testing.T, _ *secEnv, r upRecord) {
			if got := r.Header.Get("X-Forwarded-Proto"); got != "http" {
				t.Errorf("X-Forwarded-Proto %q, want http", got)
			}
		}},
		{"X-Original-URL", "Symfony CVE-2018-14773 (X-Original-URL / X-Rewrite-URL)", []string{"X-Original-URL: /admin/evil"}, 200, nil},
		{"X-Rewrite-URL", "CVE-2018-14773", []string{"X-Rewrite-URL: /admin/evil"}, 200, nil},
		{"X-Forwarded-Prefix", "Traefik CVE-2024-52003", []string{"X-Forwarded-Prefix: /evil"}, 200, nil},
		{"X-Forwarded-Uri", "Traefik/nginx auth_request URI headers", []string{"X-Forwarded-Uri: /admin/evil"}, 200, nil},
		{"Proxy-Authorization", "RFC 9110 section 11.7.2 (hop-by-hop credentials)", []string{"Proxy-Authorization: Basic ZXZpbDpldmls"}, 200, nil},
		// Hop-by-hop abuse: a client lists the gateway's headers in
		// Connection so that a proxy drops them after they were set.
		{"Connection lists the identity header", "Traefik CVE-2021-32813 / CVE-2024-45410 (Connection removes set headers)", []string{"Connection: X-Auth-User-Id, X-Auth-User-Roles"}, 200, id},
		{"Connection lists forwarding headers in lower case", "Traefik GHSA-92mv-8f8w-wq52 (case-sensitive Connection tokens)", []string{"Connection: x-forwarded-for, x-real-ip, x-request-id"}, 200, func(t *testing.T, e *secEnv, r upRecord) {
			wantForwardedFromPeer(t, e, r)
			if r.Header.Get(e.in.cfg.Headers.RequestID) == "" {
				t.Errorf("the request id was dropped through Connection")
			}
		}},
		{"Connection lists Authorization", "RFC 9110 section 7.6.1", []string{"Connection: Authorization"}, 200, id},
		{"Connection lists the assertion", "CVE-2024-45410", []string{"Connection: X-Auth-Assertion"}, 200, func(t *testing.T, e *secEnv, r upRecord) {
			if r.Header.Get(e.in.cfg.Headers.Assertion) == "" {
				t.Errorf("the assertion was dropped through Connection")
			}
		}},
		// Header lines Go's client would never send.
		{"whitespace before the colon", "RFC 9112 section 5.1: must be rejected with 400 (smuggling)", []string{"X-Auth-User-Id : evil"}, 400, nil},
		// RFC 9112 section 5.2: reject obs-fold, or replace it with spaces
		// before interpreting or forwarding (Go replaces it): the folded
		// line must not become a header of its own at the upstream.
		{"obs-fold continuation", "RFC 9112 section 5.2 (obs-fold)", []string{"X-Note: a", " X-Auth-User-Id: evil", "X-Auth-User-Roles: user", "\tadmin-evil"}, 200, id},
		{"non-token character in a name", "RFC 9110 section 5.1", []string{"X-Auth-User-Id\x01: evil"}, 400, nil},
		{"non-ASCII look-alike name", "RFC 9110 section 5.1 (names are tokens)", []string{"X-Auth-User-\xc4\xb0d: evil"}, 400, nil},
		{"NUL in a value", "RFC 9110 section 5.5", []string{"X-Note: a\x00b"}, 400, nil},
		{"bare CR in a value", "RFC 9110 section 5.5 (CR must be rejected or replaced)", []string{"X-Note: a\rX-Auth-User-Id: evil"}, 400, nil},
	}
}

// TestSecurityHeaders: spoofed identity, forwarding and rewriting headers in
// every spelling, and hop-by-hop abuse, sent raw with a user's token.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	for _, tc := range headerCases(e) {
		t.Run(tc.name, func(t *testing.T) {
			// Source: see tc.source.
			lines := append([]string{"Authorization: Bearer " + e.user.Access}, tc.lines...)
			res := e.raw(t, e.rawReq(tc.name, "GET /api/items/h HTTP/1.1", lines, ""))
			if res.status != tc.status {
				t.Fatalf("%s: status %d, want %d; %s", tc.source, res.status, tc.status, res.body)
			}
			if tc.status != 200 {
				e.mustNotReach(t, tc.name)
				return
			}
			r := e.reachedOnce(t, tc.name)
			if tc.check != nil {
				tc.check(t, e, r)
			}
		})
	}

	// Anonymous requests carry no identity, whatever they claim (SPEC 6).
	t.Run("anonymous request with a forged identity", func(t *testing.T) {
		// Source: oauth2-proxy PR 1065 review (skipped routes and spoofed
		// identity headers); CVE-2025-64484.
		res := e.raw(t, e.rawReq("anon-identity", "GET /public/h HTTP/1.1",
			[]string{"X-Auth-User-Id: evil", "X_Auth_User_Roles: admin-evil", "X-Auth-Session-Id: evil"}, ""))
		if res.status != 200 {
			t.Fatalf("status %d", res.status)
		}
		r := e.reachedOnce(t, "anon-identity")
		for _, n := range r.Names {
			if strings.HasPrefix(foldName(n), "xauth") {
				t.Errorf("an anonymous request reached the upstream with %q", n)
			}
		}
	})

	// A chunked body's trailer section can carry any name; a server that
	// merges trailers into headers would read it as the gateway's.
	t.Run("identity header smuggled as a trailer", func(t *testing.T) {
		// Source: Traefik GHSA-v67p-phpq-fc8x (sanitised names smuggled in
		// chunked trailers); RFC 9110 section 6.5.1.
		body := "4\r\ndata\r\n0\r\nX-Auth-User-Id: evil\r\nX-Forwarded-Prefix: /evil\r\nX_Auth_User_Roles: admin-evil\r\n\r\n"
		res := e.raw(t, e.rawReq("trailer", "POST /api/items/t HTTP/1.1",
			[]string{"Authorization: Bearer " + e.user.Access, "Transfer-Encoding: chunked",
				"Trailer: X-Auth-User-Id, X-Forwarded-Prefix, X_Auth_User_Roles"}, body))
		if res.status != 200 {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		r := e.reachedOnce(t, "trailer")
		if string(r.Body) != "data" {
			t.Errorf("body %q, want %q", r.Body, "data")
		}
		// checkInvariant fails on any trailer that arrived.
	})

	// The gateway's cookies and the client's Authorization never reach
	// the upstream; an upstream cannot plant the gateway's cookies.
	t.Run("gateway cookies are not forwarded", func(t *testing.T) {
		// Source: SPEC 6; OWASP ASVS 5 V3.3 (cookie scope); oauth2-proxy
		// pass_authorization_header defaults.
		res := e.raw(t, e.rawReq("cookies-fwd", "GET /api/items/c HTTP/1.1",
			[]string{"Authorization: Bearer " + e.user.Access,
				"Cookie: gw_access=evil; app=1; __Host-gw_refresh=evil; GW_ACCESS=evil2"}, ""))
		if res.status != 200 {
			t.Fatalf("status %d", res.status)
		}
		r := e.reachedOnce(t, "cookies-fwd")
		c := strings.ToLower(strings.Join(r.Header.Values("Cookie"), ";"))
		if strings.Contains(c, "gw_access") || strings.Contains(c, "gw_refresh") || !strings.Contains(c, "app=1") {
			t.Errorf("Cookie at the upstream %q: want app=1 only", c)
		}
		if r.Header.Get("Authorization") != "" {
			t.Errorf("the client's Authorization reached the upstream")
		}
	})
	t.Run("upstream cannot plant the gateway's cookies", func(t *testing.T) {
		// Source: session fixation (OWASP Session Management Cheat Sheet,
		// "Session Fixation"); RFC 6265bis section 5.6 nameless cookies.
		r := e.do(t, "plant", request{method: http.MethodGet, path: "/api/items/plant-cookie", bearer: e.user.Access})
		r.wantStatus(t, http.StatusOK)
		for _, l := range r.header.Values("Set-Cookie") {
			if strings.Contains(strings.ToLower(l), "gw_") {
				t.Errorf("the upstream's Set-Cookie %q reached the client", l)
			}
		}
		if !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ";"), "app=kept") {
			t.Errorf("the upstream's own cookie was dropped: %q", r.header.Values("Set-Cookie"))
		}
	})
}

// TestSecurityMethodOverride: headers and parameters that make frameworks
// run another method than the one the policy decided on. A user may GET
// /api/items/:id but only an editor may DELETE it.
func TestSecurityMethodOverride(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	cases := []struct {
		name, source, target string
		lines                []string
		wantQuery            string
	}{
		{"X-HTTP-Method-Override", "OWASP WSTG-CONF-06 (HTTP method tampering); Express method-override", "/api/items/1", []string{"X-HTTP-Method-Override: DELETE"}, ""},
		{"X-HTTP-Method", "OWASP WSTG-CONF-06 (Microsoft X-HTTP-Method)", "/api/items/1", []string{"X-HTTP-Method: DELETE"}, ""},
		{"X-Method-Override", "OWASP WSTG-CONF-06", "/api/items/1", []string{"X-Method-Override: DELETE"}, ""},
		{"X_HTTP_Method_Override with underscores", "CVE-2025-64484 class (underscore aliasing)", "/api/items/1", []string{"X_HTTP_Method_Override: DELETE"}, ""},
		{"_method query parameter", "Rails/Laravel _method (OWASP WSTG-CONF-06)", "/api/items/1?_method=DELETE&a=1", nil, "a=1"},
		{"_METHOD in upper case", "Laravel reads it case-insensitively", "/api/items/1?_METHOD=delete", nil, ""},
		{"encoded _method", "percent-encoded key %5Fmethod", "/api/items/1?%5Fmethod=DELETE", nil, ""},
		{"_method array syntax", "qs/PHP array keys", "/api/items/1?_method[]=DELETE&b=2", nil, "b=2"},
		{"_method after a semicolon", "Rack < 3 splits the query on ';'", "/api/items/1?a=1;_method=DELETE", nil, ""},
		{"PHP dot conversion", "PHP converts '.' and ' ' in names to '_'", "/api/items/1?.method=DELETE", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Source: see tc.source.
			lines := append([]string{"Authorization: Bearer " + e.user.Access}, tc.lines...)
			res := e.raw(t, e.rawReq(tc.name, "GET "+tc.target+" HTTP/1.1", lines, ""))
			if res.status != 200 {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			r := e.reachedOnce(t, tc.name)
			if r.RawQuery != tc.wantQuery {
				t.Errorf("query at the upstream %q, want %q", r.RawQuery, tc.wantQuery)
			}
			if r.Method != http.MethodGet {
				t.Errorf("method at the upstream %s", r.Method)
			}
		})
	}
}

// TestSecuritySmuggling: framing the gateway and an upstream could read
// differently (CL.TE, TE.CL, TE.TE), malformed chunking, and pipelining. A
// smuggled request for /admin/x must never reach the upstream (the
// invariant checks the policy for every request that did).
func TestSecuritySmuggling(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	bearer := "Authorization: Bearer " + e.user.Access
	smuggled := "GET /admin/x HTTP/1.1\r\nHost: x\r\nX-Sec-Case: smuggled\r\n\r\n"
	cases := []struct {
		name, source string
		lines        []string
		body         string
		// ok: the request itself may pass (then its body must arrive
		// intact); otherwise a 4xx/5xx or a closed connection.
		ok bool
	}{
		{"CL.TE", "RFC 9112 section 6.1 (TE overrides CL); PortSwigger request smuggling", []string{bearer, "Content-Length: 6", "Transfer-Encoding: chunked"}, "0\r\n\r\n" + smuggled, true},
		{"TE.CL", "RFC 9112 section 6.3", []string{bearer, "Transfer-Encoding: chunked", "Content-Length: 3"}, "8\r\nSMUGGLED\r\n0\r\n\r\n", true},
		{"duplicate Transfer-Encoding", "RFC 9112 section 6.3 (TE.TE obfuscation)", []string{bearer, "Transfer-Encoding: chunked", "Transfer-Encoding: identity"}, "0\r\n\r\n" + smuggled, false},
		{"Transfer-Encoding with another coding", "RFC 9112 section 6.1: chunked must be final", []string{bearer, "Transfer-Encoding: gzip, chunked"}, "0\r\n\r\n", false},
		{"obfuscated Transfer-Encoding value", "PortSwigger TE.TE: 'xchunked'", []string{bearer, "Transfer-Encoding: xchunked", "Content-Length: 4"}, "0\r\n\r\n" + smuggled, false},
		{"Transfer-Encoding with a space before the colon", "RFC 9112 section 5.1", []string{bearer, "Transfer-Encoding : chunked"}, "0\r\n\r\n" + smuggled, false},
		// net/http ignores Transfer-Encoding in HTTP/1.0 (the body is
		// empty) and closes the connection after the answer: what follows
		// is never read as a request.
		{"Transfer-Encoding in HTTP/1.0", "RFC 9112 section 6.1 (TE in 1.0 is faulty framing; close after it)", []string{bearer, "Transfer-Encoding: chunked"}, "0\r\n\r\n" + smuggled, true},
		{"conflicting Content-Length lines", "RFC 9112 section 6.3 item 5", []string{bearer, "Content-Length: 4", "Content-Length: 40"}, "abcd", false},
		{"Content-Length list", "RFC 9110 section 8.6", []string{bearer, "Content-Length: 4, 40"}, "abcd", false},
		{"signed Content-Length", "RFC 9110 section 8.6 (1*DIGIT)", []string{bearer, "Content-Length: +4"}, "abcd", false},
		{"chunk extension", "CVE-2023-39326 (Go chunk extensions); RFC 9112 section 7.1.1", []string{bearer, "Transfer-Encoding: chunked"}, "4;ext=\"x\"\r\ndata\r\n0\r\n\r\n", true},
		{"huge chunk extensions", "CVE-2023-39326 (unbounded chunk extensions)", []string{bearer, "Transfer-Encoding: chunked"}, "1;" + strings.Repeat("x", 70000) + "\r\na\r\n0\r\n\r\n", false},
		{"bare LF in chunk framing", "CVE-2025-22871 (Go net/http bare LF in chunk size line)", []string{bearer, "Transfer-Encoding: chunked"}, "4\ndata\n0\n\n" + smuggled, false},
		{"chunk size overflow", "RFC 9112 section 7.1 (chunk-size overflow)", []string{bearer, "Transfer-Encoding: chunked"}, "ffffffffffffffffff\r\nx\r\n0\r\n\r\n", false},
		{"chunk shorter than its size", "RFC 9112 section 7.1", []string{bearer, "Transfer-Encoding: chunked"}, "10\r\nshort\r\n0\r\n\r\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Source: see tc.source.
			proto := "HTTP/1.1"
			if strings.Contains(tc.name, "HTTP/1.0") {
				proto = "HTTP/1.0"
			}
			// The client sends nothing more: a body shorter than its
			// framing ends instead of waiting like a slow upload.
			res := rawSend(t, e.in.host, e.rawReq(tc.name, "POST /api/items/s "+proto, tc.lines, tc.body), 10*time.Second, !tc.ok)
			switch {
			case tc.ok && res.status != 200:
				t.Errorf("status %d (closed %v), want 200: %s", res.status, res.closed, res.body)
			case !tc.ok && !res.closed && (res.status < 400 || res.status >= 500 && res.status != 501):
				t.Errorf("status %d, want a 4xx (or 501) or a closed connection: %s", res.status, res.body)
			}
			if res.status >= 500 && res.status != 501 {
				t.Errorf("status %d: a malformed request is the client's fault", res.status)
			}
			if !tc.ok && res.status == 200 {
				// It passed: the body must have been read as framed.
				r := e.reachedOnce(t, tc.name)
				t.Logf("passed with body %q", r.Body)
			}
			if tc.name == "CL.TE" {
				if r := e.reachedOnce(t, tc.name); len(r.Body) != 0 {
					t.Errorf("CL.TE: body %q reached the upstream, want the chunked (empty) body", r.Body)
				}
			}
		})
	}
	t.Run("pipelined request without credentials", func(t *testing.T) {
		// Source: RFC 9112 section 9.3.2 (pipelining): every request on a
		// connection is authenticated on its own.
		c, err := net.Dial("tcp", e.in.host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /api/items/p HTTP/1.1\r\nHost: %s\r\n%s\r\nX-Sec-Case: pipe-1\r\n\r\n"+
			"GET /admin/x HTTP/1.1\r\nHost: %s\r\nX-Sec-Case: pipe-2\r\nConnection: close\r\n\r\n", e.in.host, bearer, e.in.host)
		buf := make([]byte, 1<<16)
		var all strings.Builder
		for {
			n, err := c.Read(buf)
			all.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if !strings.Contains(all.String(), "401 Unauthorized") {
			t.Errorf("the second pipelined request was not refused: %q", all.String())
		}
		e.reachedOnce(t, "pipe-1")
		e.mustNotReach(t, "pipe-2")
	})
	t.Run("Expect 100-continue on a denied path", func(t *testing.T) {
		// Source: RFC 9110 section 10.1.1: the decision comes before the
		// body; nothing reaches the upstream.
		res := e.raw(t, e.rawReq("expect", "POST /admin/x HTTP/1.1",
			[]string{bearer, "Expect: 100-continue", "Content-Length: 4"}, "abcd"))
		if res.status != http.StatusForbidden {
			t.Errorf("status %d, want 403", res.status)
		}
		e.mustNotReach(t, "expect")
	})
	e.mustNotReach(t, "smuggled")
}

// TestSecurityOversizedAndSlow: heads over server.max_header_bytes and a
// client that never finishes its head (slowloris) are bounded.
func TestSecurityOversizedAndSlow(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, func(c *config.Config) {
		c.Server.ReadHeaderTimeout = time.Second
	})
	bearer := "Authorization: Bearer " + e.user.Access
	t.Run("header over max_header_bytes", func(t *testing.T) {
		// Source: SPEC 9 (431); RFC 6585 section 5; OWASP ASVS 5 V4.2.
		res := e.raw(t, e.rawReq("big-header", "GET /api/items/b HTTP/1.1",
			[]string{bearer, "X-Big: " + strings.Repeat("a", 20<<10)}, ""))
		if res.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", res.status)
		}
		e.mustNotReach(t, "big-header")
	})
	t.Run("many small headers", func(t *testing.T) {
		// Source: CVE-2022-41717 class (header memory exhaustion); SPEC 9.
		lines := []string{bearer}
		for i := range 2000 {
			lines = append(lines, fmt.Sprintf("X-H%d: v", i))
		}
		res := e.raw(t, e.rawReq("many-headers", "GET /api/items/b HTTP/1.1", lines, ""))
		if res.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", res.status)
		}
		e.mustNotReach(t, "many-headers")
	})
	t.Run("very long path", func(t *testing.T) {
		// Source: RFC 9112 section 3 (long request-line: 414 or 431).
		res := e.raw(t, e.rawReq("long-path", "GET /api/items/"+strings.Repeat("a", 40<<10)+" HTTP/1.1", []string{bearer}, ""))
		if res.status != http.StatusRequestHeaderFieldsTooLarge && res.status != http.StatusRequestURITooLong {
			t.Errorf("status %d, want 431 or 414", res.status)
		}
		e.mustNotReach(t, "long-path")
	})
	t.Run("slowloris head", func(t *testing.T) {
		// Source: CVE-2007-6750 (slowloris); server.read_header_timeout.
		c, err := net.Dial("tcp", e.in.host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		fmt.Fprintf(c, "GET /api/items/slow HTTP/1.1\r\nHost: %s\r\n", e.in.host)
		// Trickle a header byte every 200 ms; the gateway must close the
		// connection about read_header_timeout after the start.
		closed := false
		for time.Since(start) < 8*time.Second {
			if _, err := c.Write([]byte("X")); err != nil {
				closed = true
				break
			}
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			var b [512]byte
			if n, err := c.Read(b[:]); n > 0 || (err != nil && !isTimeout(err)) {
				closed = true
				break
			}
		}
		took := time.Since(start)
		if !closed {
			t.Fatalf("the connection of a slow head was still open after %v", took)
		}
		if took > 4*time.Second {
			t.Errorf("closed after %v, want about read_header_timeout (1s)", took)
		}
		t.Logf("slow head cut after %v", took.Round(10*time.Millisecond))
	})
}

// TestSecurityUpgrades: WebSocket handshakes are authorised like any
// request; other upgrades never reach the upstream.
func TestSecurityUpgrades(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t, backendSQLite, nil)
	ws := []string{"Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}
	upgrade := func(name, path string, lines []string) rawResponse {
		req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n%s: %s\r\nConnection: Upgrade\r\n%s\r\n\r\n",
			path, e.in.host, caseHeader, name, strings.Join(lines, "\r\n"))
		return e.raw(t, req)
	}
	t.Run("unauthenticated WebSocket upgrade", func(t *testing.T) {
		// Source: OWASP WebSocket Security Cheat Sheet (authenticate the
		// handshake); SPEC 6.
		if res := upgrade("ws-anon", "/ws/chat", ws); res.status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", res.status)
		}
		e.mustNotReach(t, "ws-anon")
	})
	t.Run("WebSocket upgrade to a denied path", func(t *testing.T) {
		// Source: OWASP WebSocket Security Cheat Sheet (authorise the
		// handshake like any request).
		if res := upgrade("ws-denied", "/admin/ws", append(ws, "Authorization: Bearer "+e.user.Access)); res.status != http.StatusForbidden {
			t.Errorf("status %d, want 403", res.status)
		}
		e.mustNotReach(t, "ws-denied")
	})
	t.Run("authenticated WebSocket upgrade", func(t *testing.T) {
		// Source: control; SPEC 6 (WebSocket upgrades pass once authorised).
		res := upgrade("ws-ok", "/ws/chat", append(ws, "Authorization: Bearer "+e.user.Access, "X-Auth-User-Id: evil"))
		if res.status != http.StatusSwitchingProtocols {
			t.Fatalf("status %d, want 101: %s", res.status, res.body)
		}
		r := e.reachedOnce(t, "ws-ok")
		if r.Header.Get(e.in.cfg.Headers.UserID) != e.userAcct.ID {
			t.Errorf("the handshake reached the upstream without the user's identity")
		}
	})
	t.Run("cross-site WebSocket hijacking with cookies", func(t *testing.T) {
		// Source: CSWSH (OWASP WebSocket Security Cheat Sheet, "Cross-Site
		// WebSocket Hijacking"); SPEC 6: a cookie handshake must be
		// same-origin.
		cookies := e.cookieLogin(t)
		res := upgrade("ws-cswsh", "/ws/chat", append(ws, "Cookie: "+cookies, "Origin: http://evil.example", "Sec-Fetch-Site: cross-site"))
		if res.status == http.StatusSwitchingProtocols || res.status == http.StatusOK {
			t.Errorf("status %d: a cross-site cookie handshake passed", res.status)
		}
		e.mustNotReach(t, "ws-cswsh")
	})
	t.Run("h2c upgrade", func(t *testing.T) {
		// Source: h2c smuggling (Bishop Fox, 2020; Traefik and Envoy
		// advisories): an h2c upgrade tunnels requests past the proxy.
		res := upgrade("h2c", "/api/items/h2c", []string{"Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA", "Authorization: Bearer " + e.user.Access})
		if res.status == http.StatusSwitchingProtocols {
			t.Fatalf("an h2c upgrade was switched")
		}
		if r := e.reachedOnce(t, "h2c"); r.Header.Get("Upgrade") != "" || strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			t.Errorf("the upstream received Upgrade %q Connection %q", r.Header.Get("Upgrade"), r.Header.Get("Connection"))
		}
	})
	t.Run("h2c upgrade in lower case", func(t *testing.T) {
		// Source: h2c smuggling; case variants of the token.
		res := upgrade("h2c-lc", "/api/items/h2c", []string{"upgrade: H2C", "Authorization: Bearer " + e.user.Access})
		if res.status == http.StatusSwitchingProtocols {
			t.Fatalf("an h2c upgrade was switched")
		}
		if r := e.reachedOnce(t, "h2c-lc"); r.Header.Get("Upgrade") != "" {
			t.Errorf("the upstream received Upgrade %q", r.Header.Get("Upgrade"))
		}
	})
	t.Run("HTTP/2 prior knowledge preface", func(t *testing.T) {
		// Source: h2c smuggling with prior knowledge (RFC 9113 section 3.3):
		// a cleartext HTTP/2 preface is not a way around the gateway.
		res := e.raw(t, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
		if res.status == http.StatusOK || res.status == http.StatusSwitchingProtocols {
			t.Errorf("status %d for an HTTP/2 preface", res.status)
		}
	})
}

// cookieLogin logs the suite's user in in cookie mode and returns a Cookie
// header value with both cookies.
func (e *secEnv) cookieLogin(t *testing.T) string {
	t.Helper()
	r := e.in.send(t, request{method: http.MethodPost, path: "/auth/login",
		json: map[string]any{"email": e.userAcct.Email, "password": e.userAcct.Password, "cookie": true}})
	r.wantStatus(t, http.StatusOK)
	var parts []string
	for _, c := range r.cookies {
		e.d.secret(c.Value)
		parts = append(parts, c.Name+"="+c.Value)
	}
	if len(parts) != 2 {
		t.Fatalf("cookie login set %d cookies, want 2", len(parts))
	}
	return strings.Join(parts, "; ")
}
