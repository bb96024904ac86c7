// Package proxy forwards authorized requests to the upstreams.
//
// Guarantees:
//   - The path an upstream receives is the path the gateway authorized, byte
//     for byte (after a configured prefix strip); CheckTarget refuses every
//     path that an upstream could read differently.
//   - No client copy of an identity, forwarding, URL-rewriting or
//     method-override header reaches an upstream, whatever its case or
//     separators; the gateway's own cookies never do either, and an upstream
//     cannot set them.
//   - Bodies stream in both directions without buffering; Server-Sent Events
//     are flushed at once; WebSocket upgrades pass, other upgrades do not.
//   - With a StreamGuard, every open WebSocket and event stream can be ended
//     by it at any time (its session was revoked); ordinary answers do not
//     pay for this.
//   - Failures answer 502 (unreachable), 504 (no response headers within the
//     upstream's timeout) or 400 (the client's body was malformed), as
//     problem+json; a client that went away is logged as 499.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/scope"
)

// StatusClientClosedRequest is logged when the client went away before the
// upstream answered (nginx's 499).
const StatusClientClosedRequest = 499

// AssertionSigner mints the X-Auth-Assertion token for an identity and an
// upstream audience. A nil signer sends no assertion.
type AssertionSigner interface {
	Assertion(id *scope.Identity, audience string) (string, error)
}

// Options configure New.
type Options struct {
	Upstreams []config.Upstream
	Headers   config.Headers
	// CookieNames are the gateway's own cookies (without __Host- prefix).
	CookieNames []string
	Signer      AssertionSigner
	// ForwardAccessToken sends the verified access token that authenticated
	// a request to the upstream as "Authorization: Bearer" (the client's
	// own Authorization header never passes).
	ForwardAccessToken bool
	Logger             *zap.Logger
	// Observer receives each upstream's answer times and failures (for
	// metrics); nil: none.
	Observer Observer
	// Streams watches the WebSockets and event streams the proxy opens,
	// and ends them when their credentials stop holding (see streams.go);
	// nil: none.
	Streams StreamGuard
}

// Observer receives the outcome of every proxied request, for metrics. Its
// methods are called on the request's goroutine, concurrently: they must be
// fast and safe for concurrent use. upstream is the configured name.
type Observer interface {
	// UpstreamDone reports that upstream sent response headers with status
	// after d (the time to the headers: a stream's body is not counted).
	UpstreamDone(upstream string, status int, d time.Duration)
	// UpstreamError reports a request that got no answer from upstream;
	// kind is one of the ErrorKind constants.
	UpstreamError(upstream, kind string)
}

// Kinds of UpstreamError.
const (
	ErrorKindTimeout        = "timeout"         // no response headers in time (504)
	ErrorKindUnavailable    = "unavailable"     // refused, reset, unreachable (502)
	ErrorKindClientCanceled = "client_canceled" // the client went away first (499)
	ErrorKindClientBody     = "client_body"     // the client's body was malformed or too large (400, 413)
)

// Proxy is the upstream table. It is safe for concurrent use.
type Proxy struct {
	routes []*Route // longest prefix first
}

// Route is one upstream with its reverse proxy, built once at start-up.
type Route struct {
	Name   string
	Prefix string
	// Class is the route class of the metrics and the access log,
	// "proxy:" + Name, made once here rather than per request.
	Class  string
	strip  bool
	target *url.URL
	rp     *httputil.ReverseProxy
	hp     *headerPolicy
	signer AssertionSigner
	// forwardToken: see Options.ForwardAccessToken.
	forwardToken bool
	log          *zap.Logger
	transport    *http.Transport
	obs          Observer
	streams      StreamGuard
}

// New builds one reverse proxy per upstream.
func New(o Options) (*Proxy, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	hp := newHeaderPolicy(o.Headers, o.CookieNames)
	buffers := newBufferPool()
	p := &Proxy{}
	for _, u := range o.Upstreams {
		target, err := url.Parse(u.URL)
		if err != nil {
			return nil, fmt.Errorf("proxy: upstream %s: %w", u.Name, err)
		}
		rt := &Route{
			Name:         u.Name,
			Prefix:       u.Prefix,
			Class:        "proxy:" + u.Name,
			strip:        u.StripPrefix,
			target:       target,
			hp:           hp,
			signer:       o.Signer,
			forwardToken: o.ForwardAccessToken,
			log:          o.Logger.With(zap.String("upstream", u.Name)),
			transport:    newTransport(u.Timeout),
			obs:          o.Observer,
			streams:      o.Streams,
		}
		var transport http.RoundTripper = rt.transport
		if rt.obs != nil {
			transport = observedTransport{rt}
		}
		rt.rp = &httputil.ReverseProxy{
			Rewrite:        rt.rewrite,
			Transport:      transport,
			BufferPool:     buffers,
			ModifyResponse: rt.modifyResponse,
			ErrorHandler:   rt.handleError,
			ErrorLog:       zap.NewStdLog(rt.log),
		}
		p.routes = append(p.routes, rt)
	}
	slices.SortStableFunc(p.routes, func(a, b *Route) int { return len(b.Prefix) - len(a.Prefix) })
	return p, nil
}

// Match returns the route of the longest prefix that contains path, or nil.
// Prefixes match whole segments: "/api" matches "/api" and "/api/x", not
// "/apix".
func (p *Proxy) Match(path string) *Route {
	for _, rt := range p.routes {
		if rt.Prefix == "/" || path == rt.Prefix ||
			(strings.HasPrefix(path, rt.Prefix) && path[len(rt.Prefix)] == '/') {
			return rt
		}
	}
	return nil
}

// Routes lists the routes, longest prefix first.
func (p *Proxy) Routes() []*Route { return p.routes }

// CloseIdleConnections releases pooled upstream connections.
func (p *Proxy) CloseIdleConnections() {
	for _, rt := range p.routes {
		rt.transport.CloseIdleConnections()
	}
}

// ServeHTTP forwards r. The caller has validated the target with
// CheckTarget, placed a *scope.Scope in the context and authorized the
// request.
func (rt *Route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Only WebSocket may switch protocols: "h2c" upgrades in particular let a
	// client tunnel requests past the gateway (h2c smuggling).
	if up := r.Header.Get("Upgrade"); up != "" && !strings.EqualFold(up, "websocket") {
		r.Header.Del("Upgrade")
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		r.Body = &clientBody{ReadCloser: r.Body}
	}
	rt.rp.ServeHTTP(w, r)
}

func (rt *Route) rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	sc := scope.Of(in)

	path, _, _ := strings.Cut(in.RequestURI, "?")
	if rt.strip && rt.Prefix != "/" {
		path = strings.TrimPrefix(path, rt.Prefix)
	}
	out.URL.Scheme = rt.target.Scheme
	out.URL.Host = rt.target.Host
	out.Host = ""
	// Opaque is written to the request line verbatim: the upstream receives
	// exactly the bytes the policy saw, with no re-encoding by net/url.
	out.URL.Opaque = joinPath(rt.target.Path, path)
	out.URL.RawPath = ""
	out.URL.RawQuery = dropMethodOverride(out.URL.RawQuery)

	rt.hp.scrub(out.Header)

	h := out.Header
	names := rt.hp.names
	if sc != nil {
		h.Set(names.RequestID, sc.RequestID)
		rt.setForwarded(in, out, sc)
		if id := sc.Identity; id != nil {
			h.Set(names.UserID, id.UserID)
			h.Set(names.Email, id.Email)
			h.Set(names.Roles, strings.Join(id.Roles, ","))
			h.Set(names.SessionID, id.SessionID)
			if rt.forwardToken && sc.AccessToken != "" {
				h.Set("Authorization", "Bearer "+sc.AccessToken)
			}
			if rt.signer != nil {
				if tok, err := rt.signer.Assertion(id, rt.Name); err == nil {
					h.Set(names.Assertion, tok)
				} else {
					rt.log.Error("signing upstream assertion", zap.Error(err))
				}
			}
		}
	}
}

// setForwarded writes X-Forwarded-*, Forwarded and X-Real-IP. A trusted
// proxy's chain is continued; anyone else's is replaced.
func (rt *Route) setForwarded(in, out *http.Request, sc *scope.Scope) {
	h := out.Header
	peer, _, err := net.SplitHostPort(in.RemoteAddr)
	if err != nil {
		peer = in.RemoteAddr
	}
	xff := peer
	if sc.PeerTrusted {
		if prior := in.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			xff = strings.Join(prior, ", ") + ", " + peer
		}
	}
	h.Set("X-Forwarded-For", xff)
	h.Set("X-Forwarded-Proto", sc.Scheme)
	h.Set("X-Forwarded-Host", sc.Host)
	fwd := "for=" + formatForwardedFor(sc.ClientIP) + ";proto=" + sc.Scheme
	if sc.Host != "" {
		fwd += `;host="` + sc.Host + `"`
	}
	h.Set("Forwarded", fwd)
	if sc.ClientIP.IsValid() {
		h.Set("X-Real-IP", sc.ClientIP.String())
	}
}

func (rt *Route) modifyResponse(res *http.Response) error {
	rt.hp.scrubSetCookie(res.Header)
	if sc := scope.Of(res.Request); sc != nil && sc.FreshCredentials {
		// The response carries the gateway's new cookies (and its own
		// "Cache-Control: no-store"): an upstream's "public, max-age" must
		// not let a shared cache store them.
		res.Header.Del("Cache-Control")
		res.Header.Del("Expires")
	}
	// The gateway has already set its request id on the response; an
	// upstream that echoes it (a common middleware) would add a second
	// value, since the proxy adds upstream headers rather than replacing.
	res.Header.Del(rt.hp.names.RequestID)
	if rt.streams != nil {
		rt.guardStream(res)
	}
	return nil
}

func (rt *Route) handleError(w http.ResponseWriter, r *http.Request, err error) {
	var p *problem.Problem
	var bodyErr *clientBodyError
	var netErr net.Error
	var kind string
	switch {
	case r.Context().Err() != nil:
		// The client went away; nobody is listening for an answer. This
		// comes first: a client that drops the connection mid-upload also
		// breaks the body it was sending, which is not a 400 of its own.
		rt.observeError(ErrorKindClientCanceled)
		w.WriteHeader(StatusClientClosedRequest)
		return
	case errors.As(err, &bodyErr):
		kind = ErrorKindClientBody
		var tooLarge *http.MaxBytesError
		if errors.As(bodyErr.err, &tooLarge) {
			p = problem.New(http.StatusRequestEntityTooLarge, problem.PayloadTooLarge, "request body too large")
		} else {
			p = problem.New(http.StatusBadRequest, problem.BadRequest, "malformed request body")
		}
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		kind = ErrorKindTimeout
		p = problem.New(http.StatusGatewayTimeout, problem.UpstreamTimeout, "the upstream did not answer in time")
	default:
		kind = ErrorKindUnavailable
		p = problem.New(http.StatusBadGateway, problem.UpstreamUnavailable, "the upstream is unavailable")
	}
	rt.observeError(kind)
	rt.log.Warn("upstream request failed", zap.Int("status", p.Status), zap.Error(err))
	problem.Write(w, p)
}

func (rt *Route) observeError(kind string) {
	if rt.obs != nil {
		rt.obs.UpstreamError(rt.Name, kind)
	}
}

// observedTransport reports the time to each upstream answer's headers to
// the route's Observer. Failures are reported by handleError, which
// classifies them.
type observedTransport struct{ rt *Route }

func (t observedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.rt.transport.RoundTrip(r)
	if err == nil {
		t.rt.obs.UpstreamDone(t.rt.Name, res.StatusCode, time.Since(start))
	}
	return res, err
}

// joinPath prefixes the upstream URL's base path.
func joinPath(base, path string) string {
	if base == "" || base == "/" {
		if path == "" {
			return "/"
		}
		return path
	}
	base = strings.TrimSuffix(base, "/")
	if path == "" || path == "/" {
		return base + "/"
	}
	return base + path
}

// dropMethodOverride removes "_method" query parameters (Rails, Laravel,
// Express method-override), leaving the rest of the query byte for byte. A
// key counts when, percent-decoded and trimmed, with "." and " " read as "_"
// (PHP's conversion of parameter names), it is "_method" in any case or
// starts with "_method[" (qs and PHP array syntax).
func dropMethodOverride(q string) string {
	if q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	kept := parts[:0]
	for _, part := range parts {
		if !hasMethodOverride(part) {
			kept = append(kept, part)
		}
	}
	if len(kept) == len(parts) {
		return q
	}
	return strings.Join(kept, "&")
}

// hasMethodOverride reports whether one '&'-separated pair sets the
// override. Servers that also split on ';' (Rack before 3.0) would see a
// second pair inside it, so every ';'-separated piece is checked too.
func hasMethodOverride(pair string) bool {
	for piece := range strings.SplitSeq(pair, ";") {
		key, _, _ := strings.Cut(piece, "=")
		if isMethodOverrideKey(key) {
			return true
		}
	}
	return false
}

func isMethodOverrideKey(raw string) bool {
	k, err := url.QueryUnescape(raw)
	if err != nil {
		// Undecodable keys were already removed by ReverseProxy; decode
		// what can be decoded rather than let a stray '%' hide the key.
		k = raw
	}
	k = strings.ToLower(strings.TrimSpace(k))
	k = strings.NewReplacer(".", "_", " ", "_").Replace(k)
	return k == "_method" || strings.HasPrefix(k, "_method[")
}

// newTransport returns a transport tuned for one upstream: a keep-alive pool
// large enough for 1000+ concurrent clients, no transparent compression (it
// would buffer and rewrite bodies), no environment proxy, and a bound on the
// wait for response headers that does not cut streaming bodies.
func newTransport(headerTimeout time.Duration) *http.Transport {
	dialer := &net.Dialer{Timeout: min(headerTimeout, 10*time.Second), KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		MaxIdleConns:          0, // no global cap; per host below
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		// Read and write buffers stay at net/http's 4 KiB: the proxy copies
		// bodies with its own pooled buffers, and 32 KiB per pooled
		// connection cost 64 MiB of RSS at 1000 idle connections
		// (measured with cmd/loadtest).
	}
}

// copyBufferSize is the size of the pooled copy buffers: 16 KiB keeps the
// memory of 1000 concurrent responses at 16 MiB while a 256 MiB stream still
// moves in large reads.
const copyBufferSize = 16 << 10

// bufferPool recycles the copy buffers of the streaming loops, so that
// memory stays flat however many bodies are in flight.
type bufferPool struct{ pool sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}}
}

func (bp *bufferPool) Get() []byte  { return *(bp.pool.Get().(*[]byte)) }
func (bp *bufferPool) Put(b []byte) { bp.pool.Put(&b) }

// clientBody marks errors that come from reading the client's request body,
// so that a malformed upload is answered 400 and not blamed on the upstream.
type clientBody struct {
	io.ReadCloser
}

type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = &clientBodyError{err}
	}
	return n, err
}
