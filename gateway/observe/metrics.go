package observe

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the gateway's Prometheus metrics (SPEC section 8), on a
// registry of their own: two gateways in one process (tests) never share
// or collide on a series, and nothing registered elsewhere on the default
// registry is exposed by accident.
//
// Every label value is bounded: a route class ("proxy:app",
// "auth:/auth/login", the registered route pattern, never the request's
// path), a method from a fixed set, a status code, an upstream name from the
// configuration, or a constant event, result or error kind of the code.
// No label ever carries a path, a user id or an email.
//
// The methods are safe for concurrent use, and are no-ops on a nil
// *Metrics, so that callers need not check.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec
	upstreamDuration *prometheus.HistogramVec
	upstreamErrors   *prometheus.CounterVec
	authEvents       *prometheus.CounterVec
	policyDecisions  *prometheus.CounterVec
	policyReloads    *prometheus.CounterVec
	hashWait         prometheus.Histogram
	hashRejections   prometheus.Counter
	storeErrors      *prometheus.CounterVec
}

// Stores counted by gateway_store_errors_total.
const (
	StoreDatabase  = "database"
	StoreSessions  = "sessions"
	StoreFeed      = "feed"
	StoreRateLimit = "ratelimit"
)

// Results of the policy metrics.
const (
	ResultAllow   = "allow"
	ResultDeny    = "deny"
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// NewMetrics registers every metric, the Go and process collectors and
// gateway_build_info{version} on a new registry.
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_http_requests_total",
			Help: "Requests answered, by route class, method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_http_request_duration_seconds",
			Help:    "Time from receiving a request to the end of its answer, by route class, method and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "status"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_upstream_request_duration_seconds",
			Help:    "Time an upstream took to send its response headers, by upstream and the upstream's status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"upstream", "status"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_errors_total",
			Help: "Proxied requests that got no upstream answer, by upstream and kind (timeout, unavailable, client_canceled, client_body).",
		}, []string{"upstream", "kind"}),
		authEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_auth_events_total",
			Help: "Account events of the audit log, by event (login, refresh, ...) and result (success, failure, reuse_detected).",
		}, []string{"event", "result"}),
		policyDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_policy_decisions_total",
			Help: "Authorization decisions of the policy, by result (allow, deny).",
		}, []string{"result"}),
		policyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_policy_reloads_total",
			Help: "Reloads of a changed policy file, by result (success; failure: the previous policy stays in force).",
		}, []string{"result"}),
		hashWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_password_hash_wait_seconds",
			Help:    "Time a password hash or verification waited for a hashing slot.",
			Buckets: []float64{.0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		hashRejections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_password_hash_rejections_total",
			Help: "Password hashes refused because every slot stayed busy for passwords.max_wait (answered 503).",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_store_errors_total",
			Help: "Technical failures of a store an account request needed (answered 503), by store (database, sessions, feed, ratelimit).",
		}, []string{"store"}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_build_info",
		Help: "Always 1; the labels say which build is running.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	m.reg.MustRegister(
		m.httpRequests, m.httpDuration, m.upstreamDuration, m.upstreamErrors,
		m.authEvents, m.policyDecisions, m.policyReloads, m.hashWait, m.hashRejections,
		m.storeErrors, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Series that alerts compare against exist from the start, at 0: a
	// rate() over a series that appears with its first increment misses
	// that increment.
	for _, r := range []string{ResultAllow, ResultDeny} {
		m.policyDecisions.WithLabelValues(r)
	}
	for _, r := range []string{ResultSuccess, ResultFailure} {
		m.policyReloads.WithLabelValues(r)
	}
	for _, st := range []string{StoreDatabase, StoreSessions, StoreFeed, StoreRateLimit} {
		m.storeErrors.WithLabelValues(st)
	}
	return m
}

// StoreError counts a technical failure of store (one of the Store
// constants; anything else is counted as "other", to keep labels bounded).
func (m *Metrics) StoreError(store string) {
	if m == nil {
		return
	}
	switch store {
	case StoreDatabase, StoreSessions, StoreFeed, StoreRateLimit:
	default:
		store = "other"
	}
	m.storeErrors.WithLabelValues(store).Inc()
}

// Registry is the registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats. A
// collector that fails does not hide the others.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Request records one answered request. route is its route class; status
// 0 means no answer was written (the client went away first).
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "none"
	}
	labels := []string{route, MethodLabel(method), StatusLabel(status)}
	m.httpRequests.WithLabelValues(labels...).Inc()
	m.httpDuration.WithLabelValues(labels...).Observe(d.Seconds())
}

// PolicyDecision records an answer of the policy: allowed or not.
func (m *Metrics) PolicyDecision(allow bool) {
	if m == nil {
		return
	}
	r := ResultDeny
	if allow {
		r = ResultAllow
	}
	m.policyDecisions.WithLabelValues(r).Inc()
}

// PolicyReload records a reload attempt of the policy file: err nil when
// the new policy is in force.
func (m *Metrics) PolicyReload(err error) {
	if m == nil {
		return
	}
	r := ResultSuccess
	if err != nil {
		r = ResultFailure
	}
	m.policyReloads.WithLabelValues(r).Inc()
}

// UpstreamDone records the response headers of upstream (a configured
// name) after d. It implements proxy.Observer.
func (m *Metrics) UpstreamDone(upstream string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.upstreamDuration.WithLabelValues(upstream, StatusLabel(status)).Observe(d.Seconds())
}

// UpstreamError records a proxied request that got no answer from
// upstream; kind is a constant of the proxy. It implements proxy.Observer.
func (m *Metrics) UpstreamError(upstream, kind string) {
	if m == nil {
		return
	}
	m.upstreamErrors.WithLabelValues(upstream, kind).Inc()
}

// AuthEvent records an account event of the audit log. event and result are
// constants of the auth package, never user input. It implements
// auth.EventObserver.
func (m *Metrics) AuthEvent(event, result string) {
	if m == nil {
		return
	}
	m.authEvents.WithLabelValues(event, result).Inc()
}

// HashWait implements password.Observer.
func (m *Metrics) HashWait(d time.Duration) {
	if m == nil {
		return
	}
	m.hashWait.Observe(d.Seconds())
}

// HashRejected implements password.Observer.
func (m *Metrics) HashRejected() {
	if m == nil {
		return
	}
	m.hashRejections.Inc()
}

// MethodLabel bounds a request method for a label: the standard methods
// (RFC 9110 and PATCH) as they are, anything else "OTHER", since a client
// may send any token as a method.
func MethodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// StatusLabel is a status code as a label; anything outside 100-599
// (no answer written) is "0".
func StatusLabel(status int) string {
	if status < 100 || status > 599 {
		return "0"
	}
	return strconv.Itoa(status)
}
