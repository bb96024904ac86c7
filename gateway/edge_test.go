package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/observe"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/scope"
)

// echoingRequestID is an upstream that, like many frameworks' request-id
// middleware, answers with the X-Request-Id it received.
type echoingRequestID struct{ recorder }

func (u *echoingRequestID) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id"))
	u.recorder.ServeHTTP(w, r)
}

func TestRequestID(t *testing.T) {
	const trustedID = "lb-4f3a9c-0001"
	tests := []struct {
		name    string
		trusted bool   // the test client (127.0.0.1) is a trusted proxy
		sent    string // X-Request-Id sent by the client; "" sends none
		keep    bool   // the gateway must use the sent id
	}{
		{name: "generated when absent", sent: ""},
		{name: "generated when absent from a trusted proxy", trusted: true, sent: ""},
		{name: "replaced when sent by an untrusted peer", sent: trustedID},
		{name: "kept when sent by a trusted proxy", trusted: true, sent: trustedID, keep: true},
		{name: "replaced when a trusted proxy sends an invalid id", trusted: true, sent: "id with spaces<script>"},
		{name: "replaced when a trusted proxy sends an overlong id", trusted: true, sent: strings.Repeat("a", 129)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &echoingRequestID{}
			gw := startGateway(t, up, func(c *config.Config) {
				if tt.trusted {
					c.Server.TrustedProxies = []string{"127.0.0.1/32"}
				}
			})
			h := http.Header{}
			if tt.sent != "" {
				h.Set("X-Request-Id", tt.sent)
			}
			status, resp, _ := gatewayGet(t, gw.URL+"/api/items", h)
			if status != http.StatusOK {
				t.Fatalf("status %d, want 200", status)
			}
			ids := resp.Values("X-Request-Id")
			if len(ids) != 1 {
				t.Fatalf("response carries X-Request-Id %q, want exactly one value", ids)
			}
			id := ids[0]
			switch {
			case tt.keep && id != tt.sent:
				t.Errorf("request id = %q, want the trusted proxy's %q", id, tt.sent)
			case !tt.keep && (id == tt.sent || !observe.ValidRequestID(id)):
				t.Errorf("request id = %q, want a freshly generated one", id)
			}
			if got := up.last(t).Header.Values("X-Request-Id"); len(got) != 1 || got[0] != id {
				t.Errorf("upstream received X-Request-Id %q, want exactly [%q]", got, id)
			}
		})
	}

	t.Run("on the gateway's own answers", func(t *testing.T) {
		gw := startGateway(t, &recorder{}, nil)
		for _, path := range []string{"/healthz", "/auth/nope", "/a/../b"} {
			req, _ := http.NewRequest(http.MethodGet, gw.URL+"/", nil)
			req.URL.Opaque = path // sent as is
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if id := resp.Header.Get("X-Request-Id"); !observe.ValidRequestID(id) {
				t.Errorf("%s: %d answer has X-Request-Id %q", path, resp.StatusCode, id)
			}
		}
	})
}

// readinessCheck is a ReadinessCheck with a fixed answer.
type readinessCheck struct {
	name string
	err  error
}

func (c readinessCheck) Name() string                { return c.name }
func (c readinessCheck) Check(context.Context) error { return c.err }

func TestHealthAndReadiness(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		checks     []ReadinessCheck
		wantStatus int
		wantState  string
		wantChecks map[string]string
	}{
		{name: "healthz", path: "/healthz", wantStatus: 200, wantState: "ok", wantChecks: map[string]string{}},
		{
			name: "healthz ignores failing dependencies", path: "/healthz",
			checks:     []ReadinessCheck{readinessCheck{"database", errors.New("down")}},
			wantStatus: 200, wantState: "ok", wantChecks: map[string]string{},
		},
		{name: "readyz without checks", path: "/readyz", wantStatus: 200, wantState: "ok", wantChecks: map[string]string{}},
		{
			name: "readyz all passing", path: "/readyz",
			checks:     []ReadinessCheck{readinessCheck{"database", nil}, readinessCheck{"policy", nil}},
			wantStatus: 200, wantState: "ok", wantChecks: map[string]string{"database": "ok", "policy": "ok"},
		},
		{
			name: "readyz names the failing check", path: "/readyz",
			checks: []ReadinessCheck{
				readinessCheck{"database", nil},
				readinessCheck{"redis", errors.New("dial tcp: connection refused")},
			},
			wantStatus: 503, wantState: "unavailable",
			wantChecks: map[string]string{"database": "ok", "redis": "failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			gw := startGateway(t, rec, nil, func(o *Options) { o.Checks = tt.checks })
			status, h, body := gatewayGet(t, gw.URL+tt.path, nil)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d", status, tt.wantStatus)
			}
			if cc := h.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			var rep healthReport
			if err := json.Unmarshal([]byte(body), &rep); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if rep.Status != tt.wantState || fmt.Sprint(rep.Checks) != fmt.Sprint(tt.wantChecks) {
				t.Errorf("report = %+v, want status %q checks %v", rep, tt.wantState, tt.wantChecks)
			}
			if rec.count() != 0 {
				t.Errorf("%s reached the upstream", tt.path)
			}
		})
	}
}

// switchCheck is a ReadinessCheck whose answer the test changes.
type switchCheck struct {
	name string
	mu   sync.Mutex
	err  error
}

func (c *switchCheck) Name() string { return c.name }
func (c *switchCheck) Check(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
func (c *switchCheck) set(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// TestReadyzKeepsErrorsInTheLog: the public /readyz says which check
// failed and nothing more. The error, which for a database driver names
// the user, the database and the address (audit finding: /readyz showed
// them to anyone), is logged at warn level when the check starts failing,
// once for a burst of probes, and the recovery once.
func TestReadyzKeepsErrorsInTheLog(t *testing.T) {
	// The shape of pgx's error for a database that went away.
	const detail = "database: postgres unavailable: failed to connect to `user=gwuser database=gwdb`: 10.1.2.3:6543 (10.1.2.3): dial error: connection refused"
	chk := &switchCheck{name: "database", err: errors.New(detail)}
	core, logs := observer.New(zap.InfoLevel)
	gw := startGateway(t, &recorder{}, nil, func(o *Options) {
		o.Checks = []ReadinessCheck{chk}
		o.Logger = zap.New(zapcore.NewTee(testLogger(t).Core(), core))
	})
	probe := func(wantStatus int, wantCheck string) {
		t.Helper()
		status, _, body := gatewayGet(t, gw.URL+"/readyz", nil)
		var rep healthReport
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		if status != wantStatus || rep.Checks["database"] != wantCheck {
			t.Errorf("/readyz %d %s, want %d with database %q", status, body, wantStatus, wantCheck)
		}
		for _, leak := range []string{"gwuser", "gwdb", "10.1.2.3", "6543", "dial"} {
			if strings.Contains(body, leak) {
				t.Errorf("/readyz shows %q: %s", leak, body)
			}
		}
	}
	wantLogged := func(msg string, n int, level zapcore.Level) []observer.LoggedEntry {
		t.Helper()
		got := logs.FilterMessage(msg).All()
		if len(got) != n {
			t.Fatalf("%d lines %q, want %d: %+v", len(got), msg, n, got)
		}
		for _, e := range got {
			if e.Level != level || e.ContextMap()["check"] != "database" {
				t.Errorf("line %q at %v with %v, want %v and check database", msg, e.Level, e.ContextMap(), level)
			}
		}
		return got
	}

	for range 5 {
		probe(http.StatusServiceUnavailable, "failed")
	}
	if e := wantLogged("readiness check failed", 1, zapcore.WarnLevel)[0]; e.ContextMap()["error"] != detail {
		t.Errorf("logged error %q, want %q", e.ContextMap()["error"], detail)
	}

	chk.set(nil)
	probe(http.StatusOK, "ok")
	probe(http.StatusOK, "ok")
	wantLogged("readiness check passes again", 1, zapcore.InfoLevel)

	// A new outage is logged again at once.
	chk.set(errors.New(detail))
	probe(http.StatusServiceUnavailable, "failed")
	wantLogged("readiness check failed", 2, zapcore.WarnLevel)
}

func TestOversizedHeadersAre431(t *testing.T) {
	const limit = 16 << 10 // the default server.max_header_bytes
	tests := []struct {
		name       string
		valueBytes int
		wantStatus int
	}{
		{"well under the limit", 8 << 10, http.StatusOK},
		{"just over the limit", limit + 1, http.StatusRequestHeaderFieldsTooLarge},
		// net/http's own limit (MaxHeaderBytes plus 4 KiB of slack) answers
		// with a text/plain 431; the gateway must answer first.
		{"twice the limit", 2 * limit, http.StatusRequestHeaderFieldsTooLarge},
	}
	rec := &recorder{}
	gw := startGateway(t, rec, nil)
	if gw.Config.Server.MaxHeaderBytes != limit {
		t.Fatalf("default max_header_bytes is %d, the test assumes %d", gw.Config.Server.MaxHeaderBytes, limit)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rec.count()
			h := http.Header{"X-Big": {strings.Repeat("a", tt.valueBytes)}}
			status, resp, body := gatewayGet(t, gw.URL+"/api/items", h)
			if tt.wantStatus == http.StatusOK {
				if status != http.StatusOK {
					t.Errorf("status = %d, want 200", status)
				}
				return
			}
			checkProblem(t, status, resp.Get("Content-Type"), body, tt.wantStatus, problem.HeaderFieldsTooLarge)
			if rec.count() != before {
				t.Error("the oversized request reached the upstream")
			}
		})
	}
}

func TestRefusedMethodsAndPaths(t *testing.T) {
	tests := []struct {
		name       string
		request    string // raw request line
		wantStatus int
		wantCode   string
	}{
		{"TRACE", "TRACE /api/items HTTP/1.1", 405, problem.MethodNotAllowed},
		{"TRACE on the gateway's own path", "TRACE /auth/login HTTP/1.1", 405, problem.MethodNotAllowed},
		{"TRACK", "TRACK /api/items HTTP/1.1", 405, problem.MethodNotAllowed},
		{"CONNECT", "CONNECT 127.0.0.1:22 HTTP/1.1", 405, problem.MethodNotAllowed},
		{"unknown /auth endpoint", "GET /auth/nope HTTP/1.1", 404, problem.NotFound},
		{"bare /auth/ is the gateway's", "GET /auth/ HTTP/1.1", 404, problem.NotFound},
		{"ambiguous path", "GET /api/%2e%2e/admin HTTP/1.1", 400, problem.BadRequest},
	}
	rec := &recorder{}
	gw := startGateway(t, rec, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rec.count()
			status, body := rawRequest(t, gw.Addr, tt.request+"\r\nHost: "+gw.Addr+"\r\nConnection: close\r\n\r\n")
			var doc problemDoc
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatalf("status %d, body is not a problem document: %q", status, body)
			}
			if status != tt.wantStatus || doc.Code != tt.wantCode {
				t.Errorf("got %d %q, want %d %q", status, doc.Code, tt.wantStatus, tt.wantCode)
			}
			if rec.count() != before {
				t.Error("the request reached the upstream")
			}
		})
	}

	t.Run("problem content type", func(t *testing.T) {
		status, h, body := gatewayGet(t, gw.URL+"/auth/nope", nil)
		checkProblem(t, status, h.Get("Content-Type"), body, http.StatusNotFound, problem.NotFound)
		req, _ := http.NewRequest(http.MethodTrace, gw.URL+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Content-Type") != problem.ContentType {
			t.Errorf("TRACE: %d %q, want 405 %q", resp.StatusCode, resp.Header.Get("Content-Type"), problem.ContentType)
		}
	})
}

func TestPanicIs500AndServerKeepsServing(t *testing.T) {
	routes := func(o *Options) {
		o.Routes = func(e *echo.Echo) {
			e.GET("/auth/panic", func(echo.Context) error { panic("secret internal state") })
		}
	}
	gw := startGateway(t, &recorder{}, nil, routes)
	for i := range 2 {
		status, h, body := gatewayGet(t, gw.URL+"/auth/panic", nil)
		checkProblem(t, status, h.Get("Content-Type"), body, http.StatusInternalServerError, problem.Internal)
		if strings.Contains(body, "secret") {
			t.Errorf("request %d: the panic value leaks into the answer: %q", i, body)
		}
		if status, _, _ := gatewayGet(t, gw.URL+"/healthz", nil); status != http.StatusOK {
			t.Fatalf("after a panic /healthz answered %d, want 200", status)
		}
		if status, _, _ := gatewayGet(t, gw.URL+"/api/items", nil); status != http.StatusOK {
			t.Fatalf("after a panic the proxy answered %d, want 200", status)
		}
	}
}

// denyAll refuses everything.
type denyAll struct{}

func (denyAll) Authorize(*scope.Identity, string, string) Decision {
	return Decision{Allow: false, Rule: "test: deny all"}
}

// fixedAuthn authenticates every request as id, or fails with err.
type fixedAuthn struct {
	id  *scope.Identity
	err error
}

func (a fixedAuthn) Authenticate(http.ResponseWriter, *http.Request) (*scope.Identity, error) {
	return a.id, a.err
}

var testIdentity = &scope.Identity{UserID: "u-1234", Email: "alice@example.com", Roles: []string{"editor", "user"}, SessionID: "s-5678"}

func TestDenials(t *testing.T) {
	const target = "/app/reports/q3?year=2025&sort=-date&q=a%20b"
	html := "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	tests := []struct {
		name      string
		authn     Authenticator
		method    string
		header    http.Header
		wantCode  int
		wantProb  string // problem code for 4xx answers
		wantChall string // WWW-Authenticate must contain this
	}{
		{
			name: "anonymous API call", authn: Anonymous{}, method: "GET",
			header:   http.Header{"Accept": {"application/json"}},
			wantCode: 401, wantProb: problem.Unauthenticated, wantChall: "Bearer",
		},
		{
			name: "anonymous form post is not a page load", authn: Anonymous{}, method: "POST",
			header:   http.Header{"Accept": {html}},
			wantCode: 401, wantProb: problem.Unauthenticated, wantChall: "Bearer",
		},
		{
			name: "anonymous fetch that accepts HTML", authn: Anonymous{}, method: "GET",
			header:   http.Header{"Accept": {html}, "Sec-Fetch-Dest": {"empty"}},
			wantCode: 401, wantProb: problem.Unauthenticated, wantChall: "Bearer",
		},
		{
			name: "anonymous browser page load", authn: Anonymous{}, method: "GET",
			header:   http.Header{"Accept": {html}},
			wantCode: 303,
		},
		{
			name: "anonymous navigation by Sec-Fetch-Dest", authn: Anonymous{}, method: "GET",
			header:   http.Header{"Accept": {"*/*"}, "Sec-Fetch-Dest": {"document"}},
			wantCode: 303,
		},
		{
			name: "authenticated API call", authn: fixedAuthn{id: testIdentity}, method: "GET",
			header:   http.Header{"Accept": {"application/json"}},
			wantCode: 403, wantProb: problem.Forbidden,
		},
		{
			name: "authenticated page load", authn: fixedAuthn{id: testIdentity}, method: "GET",
			header:   http.Header{"Accept": {html}},
			wantCode: 403, wantProb: problem.Forbidden,
		},
		{
			name:   "rejected credentials on an API call",
			authn:  fixedAuthn{err: problem.New(http.StatusUnauthorized, problem.TokenExpired, "the access token has expired")},
			method: "GET", header: http.Header{"Accept": {"application/json"}},
			wantCode: 401, wantProb: problem.TokenExpired, wantChall: `error="invalid_token"`,
		},
		{
			name:   "rejected credentials on a page load",
			authn:  fixedAuthn{err: problem.New(http.StatusUnauthorized, problem.InvalidToken, "invalid session")},
			method: "GET", header: http.Header{"Accept": {html}},
			wantCode: 303,
		},
		{
			// SPEC 6: a request presenting a Bearer token is an API
			// client; a redirect would hide the challenge from it.
			name:   "rejected Bearer token on a request that accepts HTML",
			authn:  fixedAuthn{err: problem.New(http.StatusUnauthorized, problem.InvalidToken, "the access token is invalid")},
			method: "GET", header: http.Header{"Accept": {html}, "Authorization": {"Bearer nope"}},
			wantCode: 401, wantProb: problem.InvalidToken, wantChall: `error="invalid_token"`,
		},
		{
			name:   "rejected Bearer token on a navigation by Sec-Fetch-Dest",
			authn:  fixedAuthn{err: problem.New(http.StatusUnauthorized, problem.TokenExpired, "the access token has expired")},
			method: "GET", header: http.Header{"Accept": {html}, "Sec-Fetch-Dest": {"document"}, "Authorization": {"Bearer old"}},
			wantCode: 401, wantProb: problem.TokenExpired, wantChall: `error="invalid_token"`,
		},
		{
			name: "anonymous request with an Authorization header that accepts HTML", authn: Anonymous{}, method: "GET",
			header:   http.Header{"Accept": {html}, "Authorization": {"Bearer x"}},
			wantCode: 401, wantProb: problem.Unauthenticated, wantChall: "Bearer",
		},
		{
			name:   "authenticator failure is a 500 that says nothing",
			authn:  fixedAuthn{err: errors.New("session store: password=hunter2 refused")},
			method: "GET", header: http.Header{"Accept": {"application/json"}},
			wantCode: 500, wantProb: problem.Internal,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			gw := startGateway(t, rec, nil, func(o *Options) {
				o.Authenticator = tt.authn
				o.Authorizer = denyAll{}
			})
			req, _ := http.NewRequest(tt.method, gw.URL+target, nil)
			req.Header = tt.header
			resp, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body := string(b)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, tt.wantCode, body)
			}
			if tt.wantCode == http.StatusSeeOther {
				loc, err := url.Parse(resp.Header.Get("Location"))
				if err != nil || loc.Path != "/auth/login" || loc.Host != "" {
					t.Fatalf("Location = %q, want /auth/login?rd=...", resp.Header.Get("Location"))
				}
				if rd := loc.Query().Get("rd"); rd != target {
					t.Errorf("rd = %q, want the original target %q", rd, target)
				}
				if want := "/auth/login?rd=" + url.QueryEscape(target); resp.Header.Get("Location") != want {
					t.Errorf("Location = %q, want %q", resp.Header.Get("Location"), want)
				}
			} else {
				checkProblem(t, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.wantCode, tt.wantProb)
				if strings.Contains(body, "hunter2") {
					t.Errorf("internal error leaks into the answer: %q", body)
				}
			}
			chall := resp.Header.Get("WWW-Authenticate")
			switch {
			case tt.wantChall != "" && (!strings.HasPrefix(chall, "Bearer") || !strings.Contains(chall, tt.wantChall)):
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with %q", chall, tt.wantChall)
			case tt.wantChall == "" && chall != "":
				t.Errorf("WWW-Authenticate = %q on a %d", chall, resp.StatusCode)
			}
			if rec.count() != 0 {
				t.Error("a refused request reached the upstream")
			}
		})
	}
}

func TestIdentityHeadersReachUpstream(t *testing.T) {
	spoofed := http.Header{
		"X-Auth-User-Id":    {"u-admin"},
		"X-Auth-User-Email": {"root@example.com"},
		"X-Auth-User-Roles": {"admin"},
		"X-Auth-Session-Id": {"s-stolen"},
	}
	tests := []struct {
		name  string
		authn Authenticator
		want  map[string]string // "" = must be absent
	}{
		{
			name:  "authenticated",
			authn: fixedAuthn{id: testIdentity},
			want: map[string]string{
				"X-Auth-User-Id": "u-1234", "X-Auth-User-Email": "alice@example.com",
				"X-Auth-User-Roles": "editor,user", "X-Auth-Session-Id": "s-5678",
			},
		},
		{
			name:  "anonymous",
			authn: Anonymous{},
			want: map[string]string{
				"X-Auth-User-Id": "", "X-Auth-User-Email": "", "X-Auth-User-Roles": "", "X-Auth-Session-Id": "",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			gw := startGateway(t, rec, nil, func(o *Options) { o.Authenticator = tt.authn })
			if status, _, _ := gatewayGet(t, gw.URL+"/api/items", spoofed); status != http.StatusOK {
				t.Fatalf("status %d, want 200", status)
			}
			got := rec.last(t).Header
			for name, want := range tt.want {
				vs := got.Values(name)
				switch {
				case want == "" && len(vs) != 0:
					t.Errorf("%s = %q, want absent", name, vs)
				case want != "" && (len(vs) != 1 || vs[0] != want):
					t.Errorf("%s = %q, want exactly [%q]", name, vs, want)
				}
			}
		})
	}
}

// Go's server accepts ',' ';' and other bytes in Host that no host name has;
// they would reach the upstream through X-Forwarded-Host and links built
// from it (host header injection, OWASP WSTG-INPV-17).
func TestInvalidHostIsRefused(t *testing.T) {
	rec := &recorder{}
	gw := startGateway(t, rec, nil)
	for _, tc := range []struct {
		host string
		want int
	}{
		{"example.com", http.StatusOK},
		{"Example.COM:8080", http.StatusOK},
		{"[::1]:8080", http.StatusOK},
		{"a.example,evil.example", http.StatusBadRequest},
		{"evil.example;x=1", http.StatusBadRequest},
		{"a..example", http.StatusBadRequest},
		{"example.com:80:90", http.StatusBadRequest},
		{"user@example.com", http.StatusBadRequest},
	} {
		t.Run(tc.host, func(t *testing.T) {
			before := rec.count()
			status, body := rawRequest(t, gw.Addr, "GET /x HTTP/1.1\r\nHost: "+tc.host+"\r\nConnection: close\r\n\r\n")
			if status != tc.want {
				t.Fatalf("Host %q: status %d (%s), want %d", tc.host, status, body, tc.want)
			}
			if tc.want != http.StatusOK && rec.count() != before {
				t.Errorf("Host %q reached the upstream", tc.host)
			}
		})
	}
}

// TestAccessLineNamesUpstream: SPEC 8 lists the upstream among the access
// line's fields. It is the configured name of the upstream whose prefix
// the path matched, also when the policy then refused the request (the
// decision says it was not forwarded), and empty on the gateway's own
// answers.
func TestAccessLineNamesUpstream(t *testing.T) {
	withLog, logs := accessLog(t)
	api := httptest.NewServer(&recorder{})
	t.Cleanup(api.Close)
	gw := startGateway(t, &recorder{}, func(c *config.Config) {
		c.Upstreams = append(c.Upstreams, config.Upstream{Name: "api", Prefix: "/api", URL: api.URL, Timeout: 5 * time.Second})
	}, withLog, func(o *Options) { o.Authorizer = pathAuthorizer{deny: "/api/secret"} })

	tests := []struct {
		path       string
		wantStatus int
		upstream   string
	}{
		{"/api/items", http.StatusOK, "api"},
		{"/index.html", http.StatusOK, "app"},
		{"/api/secret", http.StatusUnauthorized, "api"},
		{"/healthz", http.StatusOK, ""},
		{"/auth/nope", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if status, _, body := gatewayGet(t, gw.URL+tt.path, nil); status != tt.wantStatus {
				t.Fatalf("GET %s: %d %s, want %d", tt.path, status, body, tt.wantStatus)
			}
			accessStatus(t, logs, tt.path) // waits for the line
			line := logs.FilterLoggerName("access").FilterField(zap.String("path", tt.path)).All()[0].ContextMap()
			if got, ok := line["upstream"]; !ok || got != tt.upstream {
				t.Errorf("access line of %s has upstream %v (present %v), want %q: %v", tt.path, got, ok, tt.upstream, line)
			}
		})
	}
}

// pathAuthorizer refuses one path to everyone and allows the rest.
type pathAuthorizer struct{ deny string }

func (a pathAuthorizer) Authorize(_ *scope.Identity, _, path string) Decision {
	return Decision{Allow: path != a.deny, Rule: "test"}
}
