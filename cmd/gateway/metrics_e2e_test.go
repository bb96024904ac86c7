package main

// Issue 6, end to end: after a scripted session of traffic through a
// running gateway, /metrics on the admin listener shows each counter with
// exactly the value the session implies, and no label value carries a
// request path, a user id or an email (SPEC section 8).

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/authgate/gateway/config"
)

// scrape is one parsed /metrics answer.
type scrape struct {
	text     string
	families map[string]*dto.MetricFamily
}

// metrics fetches and parses the instance's /metrics.
func (in *instance) metrics(t testing.TB) scrape {
	t.Helper()
	if in.AdminURL == "" {
		t.Fatal("the instance has no admin listener: set server.admin_addr")
	}
	res, err := in.hc.Get(in.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", res.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return scrape{text: string(body), families: fams}
}

// value is the counter's value (a histogram's sample count) of the series
// of family name whose labels are exactly labels; 0 if there is none.
func (s scrape) value(name string, labels map[string]string) float64 {
	f := s.families[name]
	if f == nil {
		return 0
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if !maps.Equal(got, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// series counts the series of family name.
func (s scrape) series(name string) int {
	return len(s.families[name].GetMetric())
}

// labelValues lists every label value of every gateway_ family.
func (s scrape) labelValues() []string {
	var out []string
	for name, f := range s.families {
		if !strings.HasPrefix(name, "gateway_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				out = append(out, name+"{"+l.GetName()+"="+l.GetValue()+"}")
			}
		}
	}
	slices.Sort(out)
	return out
}

// metricsPolicy lets logged-in users read /api/items/* only.
const metricsPolicy = "p, authenticated, /api/items/*, GET\n"

func TestMetricsAfterScriptedSession(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		policyFile := filepath.Join(t.TempDir(), "policy.csv")
		if err := os.WriteFile(policyFile, []byte(metricsPolicy), 0o600); err != nil {
			t.Fatal(err)
		}
		// A second upstream that is down: a closed server.
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		adminAddr := freeAddr(t)
		gw := d.start(t, func(c *config.Config) {
			withPolicy(policyFile)(c)
			c.Server.AdminAddr = adminAddr
			c.Upstreams = append(c.Upstreams, config.Upstream{Name: "dead", Prefix: "/dead", URL: dead.URL, Timeout: 5 * time.Second})
		})

		// Before any traffic the policy series exist at 0, so that
		// alerts over rate() see the first increment.
		before := gw.metrics(t)
		for _, r := range []string{"allow", "deny"} {
			if !hasSeries(before, "gateway_policy_decisions_total", map[string]string{"result": r}) {
				t.Errorf("gateway_policy_decisions_total{result=%q} does not exist before traffic", r)
			}
		}

		// The session: a registration, 2 logins (the first by
		// registerAs), 1 failed login, 2 allowed proxied calls, 1 denied,
		// 1 refresh, 1 policy reload.
		u, tk := gw.registerAs(t, "mona", nil)
		tk2 := gw.login(t, u)
		gw.send(t, request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": u.Email, "password": u.Password + "-wrong"}}).
			wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
		gw.get(t, "/api/items/1", tk.Access).wantStatus(t, http.StatusOK)
		gw.get(t, "/api/items/"+u.ID, tk2.Access).wantStatus(t, http.StatusOK)
		gw.get(t, "/api/secret/"+u.Email, tk.Access).wantProblem(t, http.StatusForbidden, "forbidden")
		gw.refresh(t, tk.Refresh).wantStatus(t, http.StatusOK)

		writeFileAtomic(t, policyFile, metricsPolicy+"p, authenticated, /api/secret/*, GET\np, authenticated, /dead/*, GET\n")
		var s scrape
		eventually(t, 5*time.Second, "the policy reload is counted", func() bool {
			s = gw.metrics(t)
			return s.value("gateway_policy_reloads_total", map[string]string{"result": "success"}) >= 1
		})
		// The edge records a request after its answer is written: wait for
		// the last one's count before asserting.
		refresh := map[string]string{"route": "auth:/auth/refresh", "method": "POST", "status": "200"}
		eventually(t, 2*time.Second, "the refresh request is counted", func() bool {
			s = gw.metrics(t)
			return s.value("gateway_http_requests_total", refresh) >= 1
		})

		type want struct {
			name   string
			labels map[string]string
			value  float64
		}
		req := func(route, method, status string) map[string]string {
			return map[string]string{"route": route, "method": method, "status": status}
		}
		wants := []want{
			{"gateway_http_requests_total", req("auth:/auth/register", "POST", "201"), 1},
			{"gateway_http_requests_total", req("auth:/auth/login", "POST", "200"), 2},
			{"gateway_http_requests_total", req("auth:/auth/login", "POST", "401"), 1},
			{"gateway_http_requests_total", req("proxy:app", "GET", "200"), 2},
			{"gateway_http_requests_total", req("proxy:app", "GET", "403"), 1},
			{"gateway_http_requests_total", refresh, 1},
			{"gateway_http_request_duration_seconds", req("auth:/auth/login", "POST", "200"), 2},
			{"gateway_http_request_duration_seconds", req("proxy:app", "GET", "200"), 2},
			{"gateway_http_request_duration_seconds", req("proxy:app", "GET", "403"), 1},
			{"gateway_upstream_request_duration_seconds", map[string]string{"upstream": "app", "status": "200"}, 2},
			{"gateway_auth_events_total", map[string]string{"event": "register", "result": "success"}, 1},
			{"gateway_auth_events_total", map[string]string{"event": "login", "result": "success"}, 2},
			{"gateway_auth_events_total", map[string]string{"event": "login", "result": "failure"}, 1},
			{"gateway_auth_events_total", map[string]string{"event": "refresh", "result": "success"}, 1},
			{"gateway_policy_decisions_total", map[string]string{"result": "allow"}, 2},
			{"gateway_policy_decisions_total", map[string]string{"result": "deny"}, 1},
			{"gateway_policy_reloads_total", map[string]string{"result": "success"}, 1},
			{"gateway_policy_reloads_total", map[string]string{"result": "failure"}, 0},
			// One wait per argon2 computation: the registration's hash and
			// the three logins' verifications.
			{"gateway_password_hash_wait_seconds", map[string]string{}, 4},
			{"gateway_password_hash_rejections_total", map[string]string{}, 0},
			{"gateway_build_info", map[string]string{"version": buildVersion(), "goversion": runtime.Version()}, 1},
		}
		for _, w := range wants {
			if got := s.value(w.name, w.labels); got != w.value {
				t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
			}
		}
		// Exactly these series, and no others, for the counted families
		// (the readiness polls of start() aside).
		for name, n := range map[string]int{
			"gateway_auth_events_total":                 4,
			"gateway_policy_decisions_total":            2,
			"gateway_upstream_request_duration_seconds": 1,
			"gateway_upstream_errors_total":             0,
		} {
			if got := s.series(name); got != n {
				t.Errorf("%s has %d series, want %d", name, got, n)
			}
		}
		if got := s.value("gateway_http_requests_total", req("gateway:/readyz", "GET", "200")); got < 1 {
			t.Errorf("the readiness polls of start() are not counted under gateway:/readyz (%v)", got)
		}
		for _, fam := range []string{"go_goroutines", "process_start_time_seconds"} {
			if s.families[fam] == nil {
				t.Errorf("%s is not exposed", fam)
			}
		}

		// After the reload the new rules decide; a dead upstream is
		// counted as an upstream error; a method outside the standard set
		// is counted as OTHER; an unknown /auth path is not labelled with
		// its path.
		gw.get(t, "/api/secret/"+u.Email, tk.Access).wantStatus(t, http.StatusOK)
		gw.get(t, "/dead/"+u.ID, tk.Access).wantProblem(t, http.StatusBadGateway, "upstream_unavailable")
		gw.send(t, request{method: "PROPFIND", path: "/api/items/" + u.ID, bearer: tk.Access})
		gw.send(t, request{method: http.MethodGet, path: "/auth/no-such-endpoint-" + u.ID})
		var s2 scrape
		eventually(t, 2*time.Second, "the last requests are counted", func() bool {
			s2 = gw.metrics(t)
			return s2.value("gateway_http_requests_total", req("proxy:app", "OTHER", "403")) == 1
		})
		for _, w := range []want{
			{"gateway_policy_decisions_total", map[string]string{"result": "allow"}, 4},
			{"gateway_policy_decisions_total", map[string]string{"result": "deny"}, 2},
			{"gateway_http_requests_total", req("proxy:dead", "GET", "502"), 1},
			{"gateway_upstream_errors_total", map[string]string{"upstream": "dead", "kind": "unavailable"}, 1},
			{"gateway_upstream_request_duration_seconds", map[string]string{"upstream": "app", "status": "200"}, 3},
		} {
			if got := s2.value(w.name, w.labels); got != w.value {
				t.Errorf("after the reload: %s%v = %v, want %v", w.name, w.labels, got, w.value)
			}
		}
		if got := s2.series("gateway_upstream_errors_total"); got != 1 {
			t.Errorf("gateway_upstream_errors_total has %d series, want 1", got)
		}

		// No label value anywhere is a path, a user id or an email, and the
		// exposition does not contain them at all.
		for _, s := range []scrape{s, s2} {
			for _, lv := range s.labelValues() {
				for _, bad := range []string{"/api/", "/auth/no-such", u.ID, u.Email, "@"} {
					if strings.Contains(lv, bad) {
						t.Errorf("label %s contains %q", lv, bad)
					}
				}
			}
			for _, bad := range []string{u.ID, u.Email, "/api/items", "/api/secret", "no-such-endpoint"} {
				if strings.Contains(s.text, bad) {
					t.Errorf("/metrics contains %q", bad)
				}
			}
		}
		if t.Failed() {
			t.Logf("label values:\n%s", strings.Join(s2.labelValues(), "\n"))
		}
	})
}

// hasSeries reports whether family name has a series with exactly labels.
func hasSeries(s scrape, name string, labels map[string]string) bool {
	for _, m := range s.families[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if maps.Equal(got, labels) {
			return true
		}
	}
	return false
}
