package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/problem"
)

// pathE2ECase is one request-target sent verbatim through a real gateway.
type pathE2ECase struct {
	name   string
	target string
	// status is 200 (forwarded) or 400 (refused).
	status int
	// plain marks targets that net/http itself refuses with a text/plain
	// 400 before the gateway sees them (control bytes, invalid escapes,
	// spaces): only the status and the silence of the upstreams are
	// asserted.
	plain bool
	// upstream ("api" or "web") and uri: who received the request and the
	// exact request-target it saw, byte for byte, query included.
	upstream string
	uri      string
}

var pathE2ECases = []pathE2ECase{
	// Forwarded byte for byte; /api is stripped for the api upstream.
	{name: "root", target: "/", status: 200, upstream: "web", uri: "/"},
	{name: "web page", target: "/index.html", status: 200, upstream: "web", uri: "/index.html"},
	{name: "prefix strip", target: "/api/x", status: 200, upstream: "api", uri: "/x"},
	{name: "prefix strip with query", target: "/api/items/42?x=1&y=%2F", status: 200, upstream: "api", uri: "/items/42?x=1&y=%2F"},
	{name: "bare prefix becomes root", target: "/api", status: 200, upstream: "api", uri: "/"},
	{name: "prefix with slash becomes root", target: "/api/", status: 200, upstream: "api", uri: "/"},
	{name: "bare prefix with query", target: "/api?x=1", status: 200, upstream: "api", uri: "/?x=1"},
	{name: "prefix matches whole segments only", target: "/apix", status: 200, upstream: "web", uri: "/apix"},
	{name: "longer segment under web", target: "/apix/y", status: 200, upstream: "web", uri: "/apix/y"},
	{name: "prefix is case-sensitive", target: "/API/x", status: 200, upstream: "web", uri: "/API/x"},
	{name: "trailing slash kept", target: "/api/items/", status: 200, upstream: "api", uri: "/items/"},
	{name: "UTF-8 path and query keep their case of hex", target: "/caf%C3%A9/%e6%97%a5?q=%C3%A9", status: 200, upstream: "web", uri: "/caf%C3%A9/%e6%97%a5?q=%C3%A9"},
	{name: "encoded space", target: "/api/my%20file.pdf", status: 200, upstream: "api", uri: "/my%20file.pdf"},
	{name: "sub-delims", target: "/!$&'()*+,=:@", status: 200, upstream: "web", uri: "/!$&'()*+,=:@"},
	{name: "browser raw characters", target: "/a[b]|c^d", status: 200, upstream: "web", uri: "/a[b]|c^d"},
	{name: "dots inside segments", target: "/api/v1.2/file..tar.gz", status: 200, upstream: "api", uri: "/v1.2/file..tar.gz"},
	{name: "query is not judged", target: "/q?next=/../admin&x=%2e%2e%2f&y=%00&z=\\", status: 200, upstream: "web", uri: "/q?next=/../admin&x=%2e%2e%2f&y=%00&z=\\"},
	{name: "query with raw non-ASCII", target: "/q?a=\xff\xc3", status: 200, upstream: "web", uri: "/q?a=\xff\xc3"},
	{name: "fragment after the query is query", target: "/q?a=1#frag", status: 200, upstream: "web", uri: "/q?a=1#frag"},
	// net/http's ReverseProxy (Rewrite) drops query parameters it cannot
	// parse (';' separators, bad escapes) before the gateway's rewrite:
	// the upstream never sees a ';'-separated parameter (Rack read ';' as
	// '&': parameter cloaking).
	{name: "semicolon in query is dropped by the proxy", target: "/q?a=1;b=2&c=3", status: 200, upstream: "web", uri: "/q?c=3"},
	{name: "bad escape in query is dropped by the proxy", target: "/q?a=%zz&b=1", status: 200, upstream: "web", uri: "/q?b=1"},

	// Refused by the gateway: 400 problem+json, nothing forwarded.
	{name: "dot dot", target: "/api/../admin", status: 400},
	{name: "dot segment", target: "/api/./x", status: 400},
	{name: "encoded dot dot", target: "/api/%2e%2e/admin", status: 400},
	{name: "half-encoded dot dot", target: "/api/.%2E/admin", status: 400},
	{name: "encoded slash", target: "/api%2Fadmin", status: 400},
	{name: "encoded slash lower-case", target: "/api%2fadmin", status: 400},
	{name: "encoded backslash", target: "/api/%5C..%5Cadmin", status: 400},
	{name: "raw backslash", target: "/api\\..\\admin", status: 400}, // IIS, Tomcat on Windows
	{name: "encoded NUL", target: "/admin%00.css", status: 400},
	{name: "encoded LF", target: "/a%0aSet-Cookie:x", status: 400},
	{name: "encoded percent", target: "/a%25", status: 400},
	{name: "double-encoded slash", target: "/api%252Fadmin", status: 400},
	{name: "invalid UTF-8", target: "/a%ff", status: 400},
	{name: "truncated UTF-8", target: "/a%c3", status: 400},
	{name: "overlong dot dot", target: "/api/%c0%ae%c0%ae/admin", status: 400},
	{name: "three-byte overlong dot", target: "/%e0%80%ae", status: 400},
	{name: "UTF-16 surrogate", target: "/%ed%a0%80", status: 400},
	{name: "C1 NEL", target: "/a%c2%85", status: 400},
	{name: "fullwidth solidus", target: "/api%ef%bc%8fadmin", status: 400},
	{name: "fullwidth dot dot", target: "/api/%ef%bc%8e%ef%bc%8e/admin", status: 400},
	{name: "semicolon parameter (Shiro CVE-2020-1957)", target: "/admin;x=1", status: 400},
	{name: "dot dot semicolon (Shiro CVE-2020-1957)", target: "/api/..;/admin", status: 400},
	{name: "double slash (nginx merge_slashes)", target: "//admin", status: 400},
	{name: "double slash inside", target: "/api//admin", status: 400},
	{name: "absolute-form", target: "http://evil.example/api/x", status: 400},
	{name: "asterisk-form", target: "*", status: 400},
	{name: "authority-form", target: "evil.example:443", status: 400},
	{name: "encoded letter", target: "/%61pi/x", status: 400},
	{name: "encoded tilde", target: "/a%7e", status: 400},
	{name: "three dots (Windows trims to dot dot)", target: "/api/.../admin", status: 400},
	{name: "dot dot space (Windows trims to dot dot)", target: "/api/..%20/admin", status: 400},
	{name: "raw UTF-8", target: "/caf\xc3\xa9", status: 400},
	{name: "raw double quote", target: "/a\"b", status: 400},
	{name: "raw fragment", target: "/a#frag", status: 400},

	// Refused by net/http before the gateway: plain 400.
	{name: "invalid escape", target: "/a%zz", status: 400, plain: true},
	{name: "short escape", target: "/a%4", status: 400, plain: true},
	{name: "trailing percent", target: "/a%", status: 400, plain: true},
	{name: "IIS %u escape", target: "/%u002e%u002e/admin", status: 400, plain: true},
	{name: "raw control byte", target: "/a\x01b", status: 400, plain: true},
	{name: "raw DEL", target: "/a\x7f", status: 400, plain: true},
	{name: "raw tab", target: "/a\tb", status: 400, plain: true},
}

func TestPathsEndToEnd(t *testing.T) {
	if n := len(pathE2ECases); n < 30 {
		t.Fatalf("only %d path cases; at least 30 are required", n)
	}
	api, web := &recorder{}, &recorder{}
	apiSrv := httptest.NewServer(api)
	t.Cleanup(apiSrv.Close)
	gw := startGateway(t, web, func(c *config.Config) {
		webURL := c.Upstreams[0].URL
		c.Upstreams = []config.Upstream{
			{Name: "api", Prefix: "/api", URL: apiSrv.URL, StripPrefix: true, Timeout: 5 * time.Second},
			{Name: "web", Prefix: "/", URL: webURL, Timeout: 5 * time.Second},
		}
	})
	recorders := map[string]*recorder{"api": api, "web": web}

	for _, tc := range pathE2ECases {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]int{"api": api.count(), "web": web.count()}
			status, body := rawRequest(t, gw.Addr, "GET "+tc.target+" HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n")
			if status != tc.status {
				t.Fatalf("GET %q: status %d (%s), want %d", tc.target, status, body, tc.status)
			}
			if tc.status != http.StatusOK {
				for name, rec := range recorders {
					if n := rec.count(); n != before[name] {
						t.Errorf("GET %q refused with %d but upstream %s received it: %q", tc.target, status, name, rec.last(t).RequestURI)
					}
				}
				if !tc.plain {
					assertBadRequestProblem(t, gw, tc.target, body)
				}
				return
			}
			for name, rec := range recorders {
				want := before[name]
				if name == tc.upstream {
					want++
				}
				if n := rec.count(); n != want {
					t.Fatalf("GET %q: upstream %s received %d requests, want %d", tc.target, name, n-before[name], want-before[name])
				}
			}
			if got := recorders[tc.upstream].last(t).RequestURI; got != tc.uri {
				t.Errorf("GET %q: upstream %s saw %q, want %q", tc.target, tc.upstream, got, tc.uri)
			}
			if body != "upstream ok" {
				t.Errorf("GET %q: body %q, want the upstream's", tc.target, body)
			}
		})
	}
}

// assertBadRequestProblem checks that a refusal is the gateway's problem
// answer: body from the raw request, and Content-Type from the same target
// sent once more with net/http's client (URL.Opaque is written verbatim),
// since rawRequest returns no headers.
func assertBadRequestProblem(t *testing.T, gw *testGateway, target, body string) {
	t.Helper()
	var p struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("GET %q: body is not a problem document: %q", target, body)
	}
	if p.Status != http.StatusBadRequest || p.Code != problem.BadRequest {
		t.Errorf("GET %q: problem status %d code %q, want 400 %q", target, p.Status, p.Code, problem.BadRequest)
	}
	req, err := http.NewRequest(http.MethodGet, gw.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL = &url.URL{Scheme: "http", Host: gw.Addr, Opaque: target}
	req.Host = "app.example"
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %q with net/http: %v", target, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET %q with net/http: status %d, want 400", target, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("GET %q: Content-Type %q, want %q", target, ct, problem.ContentType)
	}
}
