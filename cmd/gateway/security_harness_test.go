package main

// The harness of the black-box security suite (security_*_test.go, issue
// 7). It runs the real gateway, wired by build() as `gateway serve` wires
// it (the e2e harness of harness_test.go), in front of a recording upstream
// that reads requests off the socket itself, so that it sees what arrived
// byte for byte: the method, the request-target as sent (escaped path and
// raw query), and every header name as spelled on the wire, trailers and
// repeated lines included. Attacks go over real sockets, many as
// hand-written HTTP/1.1 (rawRequest) for what Go's client would normalise.
//
// Every suite checks, when it ends, the invariant of the gateway
// (checkInvariant) over every request the upstream received:
//
//   - the policy allows it: re-deciding it with the policy file for the
//     roles the gateway forwarded (anonymous when it forwarded none) allows
//     the method and the path as received;
//   - its path is the authorised one: the access-log line of its request id
//     says "allow" for exactly this method and path;
//   - no client-supplied identity header or look-alike arrives: every
//     header whose name folds (case and separators ignored) to one the
//     gateway sets is spelled exactly as the gateway spells it, appears
//     once, and carries no value the suite forged (they all contain
//     forgedMark).

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/policy"
)

// forgedMark is in every value the suite forges for an identity,
// forwarding or rewriting header: it must never reach the upstream in one.
const forgedMark = "evil"

// caseHeader carries the name of the case that sent a request, so that the
// upstream's record can be matched to it. It is not a header the gateway
// treats specially.
const caseHeader = "X-Sec-Case"

// secPolicy is the suite's policy: a public area, an area for any logged-in
// user, an editor area, an administrators' area, and a deny line.
const secPolicy = `p, anonymous,     /public/*,          GET
p, authenticated, /api/items/*,       (GET)|(POST)
p, authenticated, /ws/*,              GET
p, editor,        /api/items/:id,     (PUT)|(DELETE)
p, user,          /api/billing/*,     GET
p, contractor,    /api/billing/*,     *,   deny
p, admin,         /admin/*,           *
p, admin,         /auth/admin/*,      *
g, admin, editor
g, editor, user
`

// upRecord is one request as the upstream read it off the socket.
type upRecord struct {
	Method   string
	Target   string // the request-target as sent
	Path     string // Target up to '?', still escaped
	RawQuery string
	// Names are the header field names in order and as spelled; Trailers
	// likewise for a chunked body's trailer section.
	Names    []string
	Trailers []string
	Header   http.Header // canonical, for reading values
	Trailer  http.Header
	Body     []byte
	// Folded is true when a header line was continued with obs-fold.
	Folded bool
	// Truncated is true when the body broke off (the connection closed
	// before the framing said the body ended).
	Truncated bool
}

// rawUpstream is an HTTP/1.1 server written on net.Listener that records
// every request it reads. It answers 200 "upstream ok", or, for paths under
// /ws/, completes a WebSocket handshake and then waits for the client to
// hang up; for a path ending in /plant-cookie it tries to set the
// gateway's cookies (session fixation through the upstream).
type rawUpstream struct {
	ln   net.Listener
	URL  string
	mu   sync.Mutex
	reqs []upRecord
	errs []string
	wg   sync.WaitGroup
}

func newRawUpstream(t testing.TB) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, URL: "http://" + ln.Addr().String()}
	u.wg.Add(1)
	go u.serve()
	t.Cleanup(func() {
		ln.Close()
		u.wg.Wait()
	})
	return u
}

func (u *rawUpstream) serve() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			defer c.Close()
			u.conn(c)
		}()
	}
}

func (u *rawUpstream) conn(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		rec, err := readRecord(br)
		if err != nil {
			u.mu.Lock()
			if rec.Method != "" {
				// The head arrived and the body broke off: the gateway
				// streams an authorised body and aborts it when the
				// client's framing turns out bad. It is recorded (and
				// checked) as what it is, an incomplete request.
				rec.Truncated = true
				u.reqs = append(u.reqs, rec)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
				u.errs = append(u.errs, err.Error())
			}
			u.mu.Unlock()
			return
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, rec)
		u.mu.Unlock()
		if strings.HasPrefix(rec.Path, "/ws/") && strings.EqualFold(rec.Header.Get("Upgrade"), "websocket") {
			h := sha1.Sum([]byte(rec.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
				base64.StdEncoding.EncodeToString(h[:]))
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.Copy(io.Discard, br)
			return
		}
		extra := ""
		if strings.HasSuffix(rec.Path, "/plant-cookie") {
			extra = "Set-Cookie: gw_access=planted; Path=/\r\nSet-Cookie: __Host-gw_refresh=planted; Path=/; Secure\r\nSet-Cookie: =gw_access=planted\r\nSet-Cookie: app=kept\r\n"
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n%sContent-Length: 11\r\n\r\nupstream ok", extra)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readRecord reads one request: the head by hand, so that names keep their
// spelling, then the body (Content-Length or chunked, with trailers).
func readRecord(br *bufio.Reader) (upRecord, error) {
	var rec upRecord
	line, err := readLine(br)
	if err != nil {
		return rec, err
	}
	parts := strings.SplitN(line, " ", 3)
	if len(parts) != 3 {
		return rec, fmt.Errorf("upstream: bad request line %q", line)
	}
	rec.Method, rec.Target = parts[0], parts[1]
	rec.Path, rec.RawQuery, _ = strings.Cut(rec.Target, "?")
	rec.Header = http.Header{}
	if rec.Names, rec.Folded, err = readFields(br, rec.Header); err != nil {
		return rec, err
	}
	var body io.Reader = http.NoBody
	chunked := false
	switch {
	case strings.Contains(strings.ToLower(strings.Join(rec.Header.Values("Transfer-Encoding"), ",")), "chunked"):
		body, chunked = httputil.NewChunkedReader(br), true
	case rec.Header.Get("Content-Length") != "":
		n, err := strconv.ParseInt(rec.Header.Get("Content-Length"), 10, 64)
		if err != nil {
			return rec, fmt.Errorf("upstream: bad Content-Length %q", rec.Header.Get("Content-Length"))
		}
		body = io.LimitReader(br, n)
	}
	if rec.Body, err = io.ReadAll(body); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return rec, fmt.Errorf("upstream: body: %w", err)
		}
		rec.Method = "" // not a truncation: a framing the upstream cannot read
		return rec, fmt.Errorf("upstream: body: %w", err)
	}
	if chunked {
		// The trailer section, up to the blank line.
		rec.Trailer = http.Header{}
		if rec.Trailers, _, err = readFields(br, rec.Trailer); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readFields reads header lines up to the blank line into h and returns
// the names as spelled.
func readFields(br *bufio.Reader, h http.Header) (names []string, folded bool, err error) {
	last := ""
	for {
		line, err := readLine(br)
		if err != nil {
			return names, folded, err
		}
		if line == "" {
			return names, folded, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			folded = true
			if last != "" {
				vs := h[last]
				vs[len(vs)-1] += " " + strings.TrimSpace(line)
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return names, folded, fmt.Errorf("upstream: bad header line %q", line)
		}
		names = append(names, name)
		last = textproto.CanonicalMIMEHeaderKey(name)
		h[last] = append(h[last], strings.TrimSpace(value))
	}
}

// all returns a copy of every record so far.
func (u *rawUpstream) all() []upRecord {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upRecord(nil), u.reqs...)
}

// byCase returns the records of requests sent by case name.
func (u *rawUpstream) byCase(name string) []upRecord {
	var out []upRecord
	for _, r := range u.all() {
		if r.Header.Get(caseHeader) == name {
			out = append(out, r)
		}
	}
	return out
}

// secEnv is one gateway under attack, with users of each role.
type secEnv struct {
	d      *deployment
	in     *instance
	up     *rawUpstream
	policy *policy.Policy
	// Tokens of users whose roles are the default ("user"), "editor",
	// "admin", and "contractor" + "user".
	user, editor, admin, contractor tokens
	userAcct                        testUser
}

// newSecEnv starts a gateway on backend with the suite's policy in front of
// a raw upstream, registers one user per role, and checks the invariant
// over everything the upstream received when t ends.
func newSecEnv(t *testing.T, backend string, mutate func(*config.Config)) *secEnv {
	t.Helper()
	d := newDeployment(t, backend)
	up := newRawUpstream(t)
	d.upURL = up.URL
	polFile := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(polFile, []byte(secPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load(polFile)
	if err != nil {
		t.Fatal(err)
	}
	in := d.start(t, func(c *config.Config) {
		c.Policy.File = polFile
		if mutate != nil {
			mutate(c)
		}
	})
	e := &secEnv{d: d, in: in, up: up, policy: pol}
	t.Cleanup(func() { e.checkInvariant(t) })
	var ua testUser
	ua, e.user = in.registerAs(t, "user", nil)
	e.userAcct = ua
	_, e.editor = in.registerAs(t, "editor", []string{"editor"})
	_, e.admin = in.registerAs(t, "admin", []string{"admin"})
	_, e.contractor = in.registerAs(t, "contractor", []string{"contractor", "user"})
	return e
}

// identityNames are the folded names of every header the gateway sets for
// identity and request tracking, with the spelling it uses.
func (e *secEnv) identityNames() map[string]string {
	h := e.in.cfg.Headers
	out := map[string]string{}
	for _, n := range []string{h.UserID, h.Email, h.Roles, h.SessionID, h.Assertion, h.RequestID,
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Real-IP"} {
		// As Go's transport writes it (X-Real-IP goes out as X-Real-Ip).
		out[foldName(n)] = textproto.CanonicalMIMEHeaderKey(n)
	}
	return out
}

// spoofNames are folded names that must never reach the upstream at all:
// the gateway sets none of them, and each makes some server read another
// URL, method, client or identity.
var spoofNames = []string{
	"X-Original-URL", "X-Rewrite-URL", "X-Forwarded-Uri", "X-Forwarded-Prefix", "X-Forwarded-Path",
	"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X-Original-Method",
	"X-Client-IP", "True-Client-IP", "CF-Connecting-IP", "X-Cluster-Client-IP", "Client-IP",
	"X-Forwarded-Server", "X-Forwarded-Port", "X-Host", "Proxy-Authorization",
}

func foldName(n string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(n) {
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// checkInvariant fails t for any request the upstream received that breaks
// the gateway's guarantees (see the file comment).
func (e *secEnv) checkInvariant(t *testing.T) {
	t.Helper()
	ident := e.identityNames()
	spoof := map[string]bool{}
	for _, n := range spoofNames {
		spoof[foldName(n)] = true
	}
	reqIDName := e.in.cfg.Headers.RequestID
	e.up.mu.Lock()
	errs := append([]string(nil), e.up.errs...)
	e.up.mu.Unlock()
	for _, msg := range errs {
		t.Errorf("invariant: the upstream read a malformed request from the gateway: %s", msg)
	}
	for _, r := range e.up.all() {
		what := r.Method + " " + r.Target + " (case " + r.Header.Get(caseHeader) + ")"
		// Identity and spoofable names, in headers and trailers.
		seen := map[string]int{}
		for _, list := range [][]string{r.Names, r.Trailers} {
			for _, n := range list {
				f := foldName(n)
				if spoof[f] {
					t.Errorf("invariant: %s: the upstream received %q", what, n)
				}
				if want, ok := ident[f]; ok {
					seen[f]++
					if n != want {
						t.Errorf("invariant: %s: the upstream received look-alike %q of %q", what, n, want)
					}
				}
				if strings.HasPrefix(f, "xforwarded") || strings.HasPrefix(f, "xauth") {
					if _, ok := ident[f]; !ok {
						t.Errorf("invariant: %s: the upstream received unknown %q", what, n)
					}
				}
			}
		}
		for _, list := range []http.Header{r.Header, r.Trailer} {
			for n, vs := range list {
				if _, ok := ident[foldName(n)]; ok && strings.Contains(strings.ToLower(strings.Join(vs, ",")), forgedMark) {
					t.Errorf("invariant: %s: forged value reached the upstream in %s: %q", what, n, vs)
				}
			}
		}
		for f, n := range seen {
			if n > 1 {
				t.Errorf("invariant: %s: %q arrived %d times", what, ident[f], n)
			}
		}
		if len(r.Trailers) > 0 {
			t.Errorf("invariant: %s: trailers reached the upstream: %v", what, r.Trailers)
		}
		if r.Folded {
			t.Errorf("invariant: %s: an obs-folded header line reached the upstream", what)
		}
		// The policy allows what arrived, for the roles that arrived.
		var roles []string
		if uid := r.Header.Get(e.in.cfg.Headers.UserID); uid != "" {
			if rs := r.Header.Get(e.in.cfg.Headers.Roles); rs != "" {
				roles = strings.Split(rs, ",")
			}
			roles = append(roles, policy.Authenticated)
		}
		if d := e.policy.Decide(roles, r.Method, r.Path); !d.Allow {
			t.Errorf("invariant: %s reached the upstream for roles %v, which the policy denies (%s)", what, roles, d.Reason)
		}
		// The path is the one the access log says was authorised.
		id := r.Header.Get(reqIDName)
		lines := e.d.logs.Filter(func(le observer.LoggedEntry) bool {
			return le.LoggerName == "access" && le.ContextMap()["request_id"] == id
		}).All()
		if id == "" || len(lines) == 0 {
			// The line is written when the answer is done; a WebSocket's
			// is written when it closes. Give it a moment.
			time.Sleep(200 * time.Millisecond)
			lines = e.d.logs.Filter(func(le observer.LoggedEntry) bool {
				return le.LoggerName == "access" && le.ContextMap()["request_id"] == id
			}).All()
		}
		if len(lines) != 1 {
			if !strings.HasPrefix(r.Path, "/ws/") {
				t.Errorf("invariant: %s: %d access lines for request id %q, want 1", what, len(lines), id)
			}
			continue
		}
		f := lines[0].ContextMap()
		if f["decision"] != "allow" || f["path"] != r.Path || f["method"] != r.Method {
			t.Errorf("invariant: %s: the access log authorised %v %v (decision %v)", what, f["method"], f["path"], f["decision"])
		}
	}
}

// mustNotReach fails t if the upstream received any request of case name.
func (e *secEnv) mustNotReach(t *testing.T, name string) {
	t.Helper()
	if got := e.up.byCase(name); len(got) > 0 {
		t.Errorf("case %s reached the upstream: %s %s", name, got[0].Method, got[0].Target)
	}
}

// reachedOnce returns the one record of case name, failing t otherwise.
func (e *secEnv) reachedOnce(t *testing.T, name string) upRecord {
	t.Helper()
	got := e.up.byCase(name)
	if len(got) != 1 {
		t.Fatalf("case %s reached the upstream %d times, want once", name, len(got))
	}
	return got[0]
}

// rawResponse is an answer to a hand-written request.
type rawResponse struct {
	status int
	header http.Header
	body   string
	// closed: the connection was closed without an answer.
	closed bool
}

// raw sends bytes exactly as given on a fresh connection to the gateway and
// reads one answer (a connection closed without one is closed: true).
func (e *secEnv) raw(t *testing.T, req string) rawResponse {
	t.Helper()
	return rawTo(t, e.in.host, req, 10*time.Second)
}

func rawTo(t *testing.T, host, req string, timeout time.Duration) rawResponse {
	t.Helper()
	return rawSend(t, host, req, timeout, false)
}

// rawSend is rawTo that, with halfClose, also ends its side of the
// connection after the request, as a client does that has nothing more to
// send (an unfinished body then ends early instead of waiting).
func rawSend(t *testing.T, host, req string, timeout time.Duration, halfClose bool) rawResponse {
	t.Helper()
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	if halfClose {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if isTimeout(err) {
			t.Fatalf("no answer within %v (the gateway hangs)", timeout)
		}
		return rawResponse{closed: true}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return rawResponse{status: res.StatusCode, header: res.Header, body: string(b)}
}

// rawReq builds a request head: the request line, Host, the case header,
// then each given line (without CRLF), then the blank line and body.
func (e *secEnv) rawReq(name, requestLine string, lines []string, body string) string {
	var b bytes.Buffer
	b.WriteString(requestLine + "\r\n")
	b.WriteString("Host: " + e.in.host + "\r\n")
	b.WriteString(caseHeader + ": " + name + "\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.WriteString(body)
	return b.String()
}

// do sends a request with the case header through Go's client.
func (e *secEnv) do(t *testing.T, name string, r request) *response {
	t.Helper()
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set(caseHeader, name)
	return e.in.send(t, r)
}
