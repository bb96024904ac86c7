package observe

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func TestMethodLabel(t *testing.T) {
	tests := []struct {
		method, want string
	}{
		{"GET", "GET"},
		{"HEAD", "HEAD"},
		{"POST", "POST"},
		{"PUT", "PUT"},
		{"PATCH", "PATCH"},
		{"DELETE", "DELETE"},
		{"OPTIONS", "OPTIONS"},
		{"CONNECT", "CONNECT"},
		{"TRACE", "TRACE"},
		{"get", "OTHER"}, // methods are case-sensitive (RFC 9110 section 9.1)
		{"PROPFIND", "OTHER"},
		{"BREW", "OTHER"},
		{"", "OTHER"},
		{"/api/users/42", "OTHER"},
		{strings.Repeat("X", 1000), "OTHER"},
	}
	for _, tt := range tests {
		t.Run(tt.method[:min(len(tt.method), 20)], func(t *testing.T) {
			if got := MethodLabel(tt.method); got != tt.want {
				t.Errorf("MethodLabel(%q) = %q, want %q", tt.method, got, tt.want)
			}
		})
	}
}

func TestStatusLabel(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{200, "200"}, {404, "404"}, {499, "499"}, {599, "599"},
		{0, "0"}, {-1, "0"}, {99, "0"}, {600, "0"}, {1 << 20, "0"},
	}
	for _, tt := range tests {
		if got := StatusLabel(tt.status); got != tt.want {
			t.Errorf("StatusLabel(%d) = %q, want %q", tt.status, got, tt.want)
		}
	}
}

// record exercises every recording method once or more.
func record(m *Metrics) {
	m.Request("proxy:app", "GET", 200, 3*time.Millisecond)
	m.Request("proxy:app", "GET", 200, 5*time.Millisecond)
	m.Request("auth:/auth/login", "POST", 401, time.Millisecond)
	m.Request("", "PROPFIND", 0, time.Millisecond)
	m.PolicyDecision(true)
	m.PolicyDecision(false)
	m.PolicyReload(nil)
	m.PolicyReload(errors.New("line 3: bad"))
	m.UpstreamDone("app", 200, 2*time.Millisecond)
	m.UpstreamError("app", "timeout")
	m.AuthEvent("login", "success")
	m.AuthEvent("login", "failure")
	m.HashWait(0)
	m.HashWait(20 * time.Millisecond)
	m.HashRejected()
}

func TestRecordedValues(t *testing.T) {
	m := NewMetrics("v1.2.3")
	record(m)
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"requests proxy GET 200", testutil.ToFloat64(m.httpRequests.WithLabelValues("proxy:app", "GET", "200")), 2},
		{"requests login 401", testutil.ToFloat64(m.httpRequests.WithLabelValues("auth:/auth/login", "POST", "401")), 1},
		{"requests unknown method, no route, no answer", testutil.ToFloat64(m.httpRequests.WithLabelValues("none", "OTHER", "0")), 1},
		{"decisions allow", testutil.ToFloat64(m.policyDecisions.WithLabelValues("allow")), 1},
		{"decisions deny", testutil.ToFloat64(m.policyDecisions.WithLabelValues("deny")), 1},
		{"reloads success", testutil.ToFloat64(m.policyReloads.WithLabelValues("success")), 1},
		{"reloads failure", testutil.ToFloat64(m.policyReloads.WithLabelValues("failure")), 1},
		{"upstream errors", testutil.ToFloat64(m.upstreamErrors.WithLabelValues("app", "timeout")), 1},
		{"auth login success", testutil.ToFloat64(m.authEvents.WithLabelValues("login", "success")), 1},
		{"auth login failure", testutil.ToFloat64(m.authEvents.WithLabelValues("login", "failure")), 1},
		{"hash rejections", testutil.ToFloat64(m.hashRejections), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(m.httpRequests); n != 3 {
		t.Errorf("gateway_http_requests_total has %d series, want 3", n)
	}
}

// TestGatherEveryFamily: every metric of SPEC section 8 (and the Go and
// process collectors) is on the registry, and nothing else is: the
// registry is the metrics' own, not the global default.
func TestGatherEveryFamily(t *testing.T) {
	m := NewMetrics("v1.2.3")
	record(m)
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	want := map[string]dto.MetricType{
		"gateway_http_requests_total":               dto.MetricType_COUNTER,
		"gateway_http_request_duration_seconds":     dto.MetricType_HISTOGRAM,
		"gateway_upstream_request_duration_seconds": dto.MetricType_HISTOGRAM,
		"gateway_upstream_errors_total":             dto.MetricType_COUNTER,
		"gateway_auth_events_total":                 dto.MetricType_COUNTER,
		"gateway_policy_decisions_total":            dto.MetricType_COUNTER,
		"gateway_policy_reloads_total":              dto.MetricType_COUNTER,
		"gateway_password_hash_wait_seconds":        dto.MetricType_HISTOGRAM,
		"gateway_password_hash_rejections_total":    dto.MetricType_COUNTER,
		"gateway_build_info":                        dto.MetricType_GAUGE,
		"go_goroutines":                             dto.MetricType_GAUGE,
		"process_start_time_seconds":                dto.MetricType_GAUGE,
	}
	for name, typ := range want {
		f, ok := byName[name]
		if !ok {
			t.Errorf("%s is not gathered", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
		}
	}
	for name := range byName {
		if !strings.HasPrefix(name, "gateway_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("unexpected family %s on the registry", name)
		}
	}

	bi := byName["gateway_build_info"].GetMetric()
	if len(bi) != 1 || bi[0].GetGauge().GetValue() != 1 {
		t.Fatalf("gateway_build_info = %v, want one series at 1", bi)
	}
	labels := map[string]string{}
	for _, l := range bi[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] != "v1.2.3" || labels["goversion"] != runtime.Version() {
		t.Errorf("gateway_build_info labels = %v", labels)
	}

	wait := byName["gateway_password_hash_wait_seconds"].GetMetric()[0].GetHistogram()
	if wait.GetSampleCount() != 2 || wait.GetSampleSum() < 0.019 {
		t.Errorf("hash wait: count %d sum %v, want 2 and about 0.02", wait.GetSampleCount(), wait.GetSampleSum())
	}
}

// TestZeroSeriesExist: the policy series that alerts watch exist at 0
// before anything happened.
func TestZeroSeriesExist(t *testing.T) {
	m := NewMetrics("dev")
	for _, r := range []string{"allow", "deny"} {
		if got := testutil.ToFloat64(m.policyDecisions.WithLabelValues(r)); got != 0 {
			t.Errorf("decisions %s = %v, want 0", r, got)
		}
	}
	if n := testutil.CollectAndCount(m.policyReloads); n != 2 {
		t.Errorf("gateway_policy_reloads_total has %d series, want 2 (success, failure)", n)
	}
}

// TestSeparateRegistries: two Metrics (two gateways in one test process)
// neither collide nor see each other's counts.
func TestSeparateRegistries(t *testing.T) {
	a, b := NewMetrics("dev"), NewMetrics("dev")
	a.AuthEvent("login", "success")
	if got := testutil.ToFloat64(b.authEvents.WithLabelValues("login", "success")); got != 0 {
		t.Errorf("b counted a's event: %v", got)
	}
}

func TestNilMetricsAreNoOps(t *testing.T) {
	var m *Metrics
	record(m) // must not panic
}

func TestHandler(t *testing.T) {
	m := NewMetrics("dev")
	record(m)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	for _, want := range []string{
		`gateway_http_requests_total{method="GET",route="proxy:app",status="200"} 2`,
		`gateway_upstream_errors_total{kind="timeout",upstream="app"} 1`,
		`gateway_password_hash_rejections_total 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

func BenchmarkRequest(b *testing.B) {
	m := NewMetrics("dev")
	b.ReportAllocs()
	for b.Loop() {
		m.Request("proxy:app", "GET", 200, time.Millisecond)
	}
}

func TestStoreErrorsAreBounded(t *testing.T) {
	m := NewMetrics("test")
	m.StoreError(StoreSessions)
	m.StoreError(StoreSessions)
	m.StoreError("a store nobody knows")
	for store, want := range map[string]float64{StoreSessions: 2, StoreDatabase: 0, StoreFeed: 0, StoreRateLimit: 0, "other": 1} {
		if got := testutil.ToFloat64(m.storeErrors.WithLabelValues(store)); got != want {
			t.Errorf("gateway_store_errors_total{store=%q} = %v, want %v", store, got, want)
		}
	}
	var nilMetrics *Metrics
	nilMetrics.StoreError(StoreDatabase) // must not panic
}
