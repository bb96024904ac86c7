package main

// Browser tests of the hosted pages (issue 5): a real headless Chromium
// (internal/browsertest) in front of the whole gateway (the e2e harness),
// the demo's whoami upstream behind it, and outgoing mail caught by a real
// SMTP server (internal/mailtest). Each flow is what a user does, and each
// page it sees is screenshotted (GATEWAY_TEST_SCREENSHOTS) and checked for
// the pages' security headers.
//
// The flows share one gateway and one browser per test, and run in order
// (the machine is small); each uses its own browser contexts, so their
// cookie jars never mix.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/whoami"
	"github.com/authgate/gateway/internal/browsertest"
	"github.com/authgate/gateway/internal/mailtest"
	"github.com/authgate/gateway/internal/testenv"
)

// revocationBound is how long a revoked session may still pass: the SPEC's
// 1 s on every replica, doubled for a loaded test machine.
const revocationBound = 2 * time.Second

// browserSite is a gateway in front of whoami, mailing through mailtest,
// with a browser to visit it.
type browserSite struct {
	*instance
	mail *mailtest.Server
	b    *browsertest.Browser
	// shots prefixes this site's screenshot names (the backend, when not
	// the default), so that two tests' files do not overwrite each other.
	shots string
}

// newBrowserSite starts the site on backend. public_url is the gateway's
// own address, so that the reset link in the mail is the one a user would
// click.
func newBrowserSite(t *testing.T, backend string) *browserSite {
	t.Helper()
	d := newDeployment(t, backend)
	who := httptest.NewServer(whoami.Handler())
	t.Cleanup(who.Close)
	mail := mailtest.Start(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	in := d.start(t, func(c *config.Config) {
		c.Server.Addr = addr
		c.Server.PublicURL = "http://" + addr
		c.Upstreams = []config.Upstream{{Name: "whoami", Prefix: "/", URL: who.URL, Timeout: 10 * time.Second}}
		c.Mail.SMTPURL = mail.URL()
		c.Mail.From = "Gateway <gateway@example.com>"
	})
	s := &browserSite{instance: in, mail: mail}
	if backend != backendSQLite {
		s.shots = "redis-"
	}
	// Started after the gateway, so stopped before it.
	s.b = browsertest.New(t)
	return s
}

// newUser returns a fresh email and strong password (recorded as secrets
// that no log line may contain) without registering them.
func (s *browserSite) newUser(t testing.TB, local string) testUser {
	u := testUser{Email: local + "-" + randomHex(t, 4) + "@example.com", Password: newPassword(t)}
	s.d.secret(u.Password)
	return u
}

// flow is one browser context's walk through the site: it screenshots every
// page it sees as <name>-<nn>-<page> and checks the security headers of
// every /auth page.
type flow struct {
	t    *testing.T
	s    *browserSite
	ctx  context.Context
	name string
	n    int
}

func (s *browserSite) flow(t *testing.T, name string) *flow {
	t.Helper()
	return &flow{t: t, s: s, ctx: s.b.NewContext(t), name: s.shots + name}
}

// open navigates to path on the gateway and returns the final response.
func (f *flow) open(path string) *network.Response {
	f.t.Helper()
	resp := browsertest.Navigate(f.t, f.ctx, f.s.URL+path)
	f.seen(resp)
	return resp
}

// click clicks sel and waits for the page it leads to.
func (f *flow) click(sel string) *network.Response {
	f.t.Helper()
	resp := browsertest.ClickNavigate(f.t, f.ctx, sel)
	f.seen(resp)
	return resp
}

func (f *flow) fill(sel, value string) {
	f.t.Helper()
	browsertest.Fill(f.t, f.ctx, sel, value)
}

func (f *flow) text(sel string) string {
	f.t.Helper()
	return browsertest.Text(f.t, f.ctx, sel)
}

// seen screenshots the page resp loaded and checks its headers.
func (f *flow) seen(resp *network.Response) {
	f.t.Helper()
	f.n++
	u := f.url()
	page := strings.Trim(strings.ReplaceAll(u.Path, "/", "-"), "-")
	if page == "" {
		page = "root"
	}
	browsertest.Screenshot(f.t, f.ctx, fmt.Sprintf("%s-%02d-%s", f.name, f.n, page))
	if strings.HasPrefix(u.Path, "/auth/") {
		checkPageHeaders(f.t, u.Path, func(name string) string { return browsertest.Header(resp, name) })
	}
	// No page of a flow is missing or broken: stop here rather than wait
	// for a form that is not there.
	if resp.Status == http.StatusNotFound || resp.Status >= 500 {
		f.t.Fatalf("%s answered %d %s", u, resp.Status, resp.StatusText)
	}
}

// url is the page's current URL.
func (f *flow) url() *url.URL {
	f.t.Helper()
	raw := browsertest.Location(f.t, f.ctx)
	u, err := url.Parse(raw)
	if err != nil {
		f.t.Fatalf("page URL %q: %v", raw, err)
	}
	return u
}

// wantPath fails unless the page is path (and, if query is not nil, has
// exactly those query parameters).
func (f *flow) wantPath(path string, query url.Values) {
	f.t.Helper()
	u := f.url()
	if u.Path != path || (query != nil && u.Query().Encode() != query.Encode()) {
		f.t.Fatalf("the browser is at %s, want %s?%s", u, path, query.Encode())
	}
}

// identity reads the whoami page: header name → value, as the upstream
// received them (nil when the page is not whoami's).
func (f *flow) identity() map[string]string {
	f.t.Helper()
	return browsertest.Eval[map[string]string](f.t, f.ctx, `(() => {
		const out = {};
		if (!document.title.startsWith("whoami")) return out;
		for (const tr of document.querySelectorAll("tr")) {
			const th = tr.querySelector("th"), td = tr.querySelector("td");
			if (th && td && !(th.textContent in out)) out[th.textContent] = td.textContent;
		}
		return out;
	})()`)
}

// wantWhoami fails unless the page is whoami's, showing u as the user; it
// returns the identity headers.
func (f *flow) wantWhoami(u testUser) map[string]string {
	f.t.Helper()
	id := f.identity()
	if id["X-Auth-User-Email"] != u.Email || id["X-Auth-User-Id"] == "" || id["X-Auth-Session-Id"] == "" {
		f.t.Fatalf("the whoami page at %s shows identity %v, want user %s with an id and a session", f.url(), id, u.Email)
	}
	if u.ID != "" && id["X-Auth-User-Id"] != u.ID {
		f.t.Fatalf("whoami shows user id %s, want %s", id["X-Auth-User-Id"], u.ID)
	}
	return id
}

// wantFieldError fails unless field of form is marked invalid, described
// by its p#<field>-error, focused first, and listed in the error summary.
func (f *flow) wantFieldError(form, field string) {
	f.t.Helper()
	input := fmt.Sprintf("%s [name=%s]", form, field)
	msg := f.text("p#" + field + "-error")
	if msg == "" {
		f.t.Errorf("p#%s-error is empty", field)
	}
	if v, _ := browsertest.Attr(f.t, f.ctx, input, "aria-invalid"); v != "true" {
		f.t.Errorf("%s: aria-invalid = %q, want true", input, v)
	}
	if v, _ := browsertest.Attr(f.t, f.ctx, input, "aria-describedby"); !slices.Contains(strings.Fields(v), field+"-error") {
		f.t.Errorf("%s: aria-describedby = %q, want it to name %s-error", input, v, field)
	}
	if _, ok := browsertest.Attr(f.t, f.ctx, input, "autofocus"); !ok {
		f.t.Errorf("%s: the first invalid field has no autofocus", input)
	}
	if got := f.text("#error-summary"); !strings.Contains(got, msg) {
		f.t.Errorf("error summary %q does not list the field error %q", got, msg)
	}
	if role, _ := browsertest.Attr(f.t, f.ctx, "#error-summary", "role"); role != "alert" {
		f.t.Errorf("error summary role = %q, want alert", role)
	}
	if got := browsertest.Value(f.t, f.ctx, input); got != "" && strings.Contains(field, "password") {
		f.t.Errorf("%s is filled again after the failure (%d characters)", input, len(got))
	}
}

// signIn signs u in through the login page, from the page rd asks for.
func (f *flow) signIn(u testUser, rd string) {
	f.t.Helper()
	f.open("/auth/login?rd=" + url.QueryEscape(rd))
	f.fill("#login-form input[name=email]", u.Email)
	f.fill("#login-form input[name=password]", u.Password)
	f.click("#login-form button[type=submit]")
}

// tokenCookies returns the session cookies the browser holds, failing
// unless both are there, HttpOnly and invisible to the page's scripts;
// their values are recorded as secrets.
func (f *flow) tokenCookies() (access, refresh *network.Cookie) {
	f.t.Helper()
	names := []string{f.s.cfg.Cookies.AccessName, f.s.cfg.Cookies.RefreshName}
	found := map[string]*network.Cookie{}
	for _, c := range browsertest.Cookies(f.t, f.ctx) {
		found[c.Name] = c
	}
	docCookie := browsertest.DocumentCookie(f.t, f.ctx)
	for _, name := range names {
		c := found[name]
		if c == nil {
			f.t.Fatalf("the browser has no %s cookie after signing in (has %v)", name, keys(found))
		}
		f.s.d.secret(c.Value)
		if !c.HTTPOnly {
			f.t.Errorf("cookie %s is not HttpOnly", name)
		}
		if c.SameSite != network.CookieSameSiteLax {
			f.t.Errorf("cookie %s: SameSite %q, want Lax", name, c.SameSite)
		}
		if strings.Contains(docCookie, name) || strings.Contains(docCookie, c.Value) {
			f.t.Errorf("document.cookie %q shows the %s cookie to scripts", docCookie, name)
		}
	}
	return found[names[0]], found[names[1]]
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// waitSignedOut opens path until the gateway sends the browser to the
// login page, and fails if a visit that started more than
// revocationBound after since still got through.
func (f *flow) waitSignedOut(path string, since time.Time) time.Duration {
	f.t.Helper()
	for {
		attempt := time.Now()
		browsertest.Navigate(f.t, f.ctx, f.s.URL+path)
		if u := f.url(); u.Path == "/auth/login" {
			f.n++
			browsertest.Screenshot(f.t, f.ctx, fmt.Sprintf("%s-%02d-signed-out", f.name, f.n))
			if rd := u.Query().Get("rd"); rd != path {
				f.t.Errorf("login page rd = %q, want %q", rd, path)
			}
			return max(attempt.Sub(since), 0)
		}
		if attempt.Sub(since) > revocationBound {
			f.n++
			browsertest.Screenshot(f.t, f.ctx, fmt.Sprintf("%s-%02d-still-signed-in", f.name, f.n))
			f.t.Fatalf("%s still reaches %s (%v) in a visit started %v after the session ended",
				f.name, path, f.identity(), attempt.Sub(since).Round(time.Millisecond))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkPageHeaders checks the headers every hosted page carries (PAGES.md):
// no script may run, nothing may frame it, nothing may cache it, and its
// URL (a reset token) never leaks in a Referer.
func checkPageHeaders(t testing.TB, page string, header func(string) string) {
	t.Helper()
	want := map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	}
	for name, v := range want {
		if got := header(name); !strings.EqualFold(got, v) {
			t.Errorf("%s: %s = %q, want %q", page, name, got, v)
		}
	}
	csp := header("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if name != "" {
			directives[strings.ToLower(name)] = strings.TrimSpace(value)
		}
	}
	for name, v := range map[string]string{"frame-ancestors": "'none'", "form-action": "'self'", "base-uri": "'none'"} {
		if directives[name] != v {
			t.Errorf("%s: CSP %s = %q, want %s (CSP %q)", page, name, directives[name], v, csp)
		}
	}
	if strings.Contains(csp, "'unsafe-inline'") || strings.Contains(csp, "'unsafe-eval'") {
		t.Errorf("%s: CSP allows unsafe-inline/unsafe-eval: %q", page, csp)
	}
	// No script at all: script-src 'none', or no script-src and
	// default-src 'none'.
	script, ok := directives["script-src"]
	if !ok {
		script = directives["default-src"]
	}
	if script != "'none'" {
		t.Errorf("%s: CSP lets scripts run (script-src/default-src %q): %q", page, script, csp)
	}
}

// TestBrowserPages walks the hosted pages as a user does, on SQLite.
func TestBrowserPages(t *testing.T) {
	s := newBrowserSite(t, backendSQLite)
	t.Run("register_then_sign_out", s.testRegisterThenSignOut)
	t.Run("wrong_password", s.testWrongPassword)
	t.Run("forgot_password", s.testForgotPassword)
	t.Run("revoke_other_device", s.testRevokeOtherDevice)
	t.Run("no_open_redirect", s.testNoOpenRedirect)
	t.Run("security_headers", s.testSecurityHeaders)
	t.Run("small_screen", s.testSmallScreen)
}

// TestBrowserRevokeRedis revokes a session from another device with
// sessions in Redis and the database in PostgreSQL, where revocation
// travels another way.
func TestBrowserRevokeRedis(t *testing.T) {
	s := newBrowserSite(t, backendPostgres)
	s.testRevokeOtherDevice(t)
}

// Flows 1 and 2: an anonymous visit to a protected page goes to the login
// page, on to registration, and back to the page, signed in; signing out
// from the account page makes the page protected again.
func (s *browserSite) testRegisterThenSignOut(t *testing.T) {
	f := s.flow(t, "register")
	u := s.newUser(t, "reggie")
	const protected = "/whoami?tab=1"

	f.open(protected)
	f.wantPath("/auth/login", url.Values{"rd": {protected}})
	if rd := browsertest.Value(t, f.ctx, "#login-form input[type=hidden][name=rd]"); rd != protected {
		t.Fatalf("login form's hidden rd = %q, want %q", rd, protected)
	}

	f.click("a#register-link")
	f.wantPath("/auth/register", url.Values{"rd": {protected}})
	f.fill("#register-form input[name=name]", "Reggie")
	f.fill("#register-form input[name=email]", u.Email)

	// A too-short password first: the field error beside the field, in
	// the summary, and the form kept (but not the password).
	f.fill("#register-form input[name=password]", "short")
	resp := f.click("#register-form button[type=submit]")
	if resp.Status < 400 || resp.Status > 499 {
		t.Errorf("registration with a short password: status %d, want a 4xx", resp.Status)
	}
	f.wantPath("/auth/register", nil)
	f.wantFieldError("#register-form", "password")
	if got := browsertest.Value(t, f.ctx, "#register-form input[name=email]"); got != u.Email {
		t.Errorf("email field = %q after the failure, want %q kept", got, u.Email)
	}
	if got := browsertest.Value(t, f.ctx, "#register-form input[name=rd]"); got != protected {
		t.Errorf("rd = %q after the failure, want %q kept", got, protected)
	}

	f.fill("#register-form input[name=password]", u.Password)
	f.click("#register-form button[type=submit]")

	f.wantPath("/whoami", url.Values{"tab": {"1"}})
	id := f.wantWhoami(u)
	// The account the page made is the one the upstream was told about,
	// and its password is the one typed.
	if got := s.login(t, u).User["id"]; got != id["X-Auth-User-Id"] {
		t.Errorf("the API logs %s in as %v, the upstream was told %s", u.Email, got, id["X-Auth-User-Id"])
	}
	access, refresh := f.tokenCookies()
	// The gateway's cookies never reach the upstream.
	for h, v := range id {
		if strings.Contains(v, access.Value) || strings.Contains(v, refresh.Value) {
			t.Errorf("the upstream received a session cookie in %s", h)
		}
	}

	// Flow 2: sign out on the account page.
	f.open("/auth/account")
	f.wantPath("/auth/account", nil)
	if got := f.text("span#account-email"); got != u.Email {
		t.Errorf("account page shows email %q, want %q", got, u.Email)
	}
	f.click("#logout-form button[type=submit]")
	f.wantPath("/auth/login", url.Values{"signed_out": {"1"}})
	for _, c := range browsertest.Cookies(t, f.ctx) {
		if c.Name == s.cfg.Cookies.AccessName || c.Name == s.cfg.Cookies.RefreshName {
			t.Errorf("cookie %s is still in the browser after signing out", c.Name)
		}
	}
	f.open("/whoami")
	f.wantPath("/auth/login", url.Values{"rd": {"/whoami"}})
	// The old cookies are dead too, not just forgotten by this browser.
	eventually(t, revocationBound, "the signed-out access cookie is refused", func() bool {
		r := s.send(t, request{method: http.MethodGet, path: "/whoami", header: http.Header{"Accept": {"application/json"}},
			cookies: []*http.Cookie{{Name: access.Name, Value: access.Value}}})
		return r.status == http.StatusUnauthorized
	})
}

// Flow 3: a wrong password keeps the user on the login page with the
// error in the summary, the email kept and the password not.
func (s *browserSite) testWrongPassword(t *testing.T) {
	u := s.register(t, "wendy")
	f := s.flow(t, "wrong-password")
	f.open("/auth/login?rd=%2Fwhoami")
	f.fill("#login-form input[name=email]", u.Email)
	f.fill("#login-form input[name=password]", u.Password+"-wrong")
	resp := f.click("#login-form button[type=submit]")

	if resp.Status < 400 || resp.Status > 499 {
		t.Errorf("wrong password: status %d, want a 4xx", resp.Status)
	}
	f.wantPath("/auth/login", nil)
	if got := f.text("#error-summary"); !strings.Contains(got, "Email or password is incorrect.") {
		t.Errorf("error summary = %q, want it to say %q", got, "Email or password is incorrect.")
	}
	if role, _ := browsertest.Attr(t, f.ctx, "#error-summary", "role"); role != "alert" {
		t.Errorf("error summary role = %q, want alert", role)
	}
	if got := browsertest.Value(t, f.ctx, "#login-form input[name=email]"); got != u.Email {
		t.Errorf("email field = %q after the failure, want the entered %q", got, u.Email)
	}
	if got := browsertest.Value(t, f.ctx, "#login-form input[name=password]"); got != "" {
		t.Errorf("the password field is filled again after the failure (%d characters)", len(got))
	}
	if got := browsertest.Value(t, f.ctx, "#login-form input[name=rd]"); got != "/whoami" {
		t.Errorf("rd = %q after the failure, want /whoami kept", got)
	}
	for _, c := range browsertest.Cookies(t, f.ctx) {
		if c.Name == s.cfg.Cookies.AccessName || c.Name == s.cfg.Cookies.RefreshName {
			t.Errorf("a failed login set cookie %s", c.Name)
		}
	}
}

// Flow 4: forgot password → the mail → the link → a new password; the old
// password is refused, the new one works, the link is single-use, and the
// reset ended the sessions that were open.
func (s *browserSite) testForgotPassword(t *testing.T) {
	u := s.register(t, "fiona")
	before := s.mail.Count()

	// Another device, signed in before the reset.
	other := s.flow(t, "forgot-other-device")
	other.signIn(u, "/whoami")
	other.wantWhoami(u)

	f := s.flow(t, "forgot")
	f.open("/auth/login")
	f.click("a#forgot-link")
	f.wantPath("/auth/password/forgot", nil)
	f.fill("#forgot-form input[name=email]", u.Email)
	f.click("#forgot-form button[type=submit]")
	if got := f.text("p#notice"); got == "" {
		t.Errorf("the forgot page shows no notice after sending")
	}

	// The reset mail: the first message to u that has a reset link.
	mailCtx := waitCtx(t, 15*time.Second)
	var msg mailtest.Message
	for msg.ResetLink() == "" {
		m, err := s.mail.WaitContext(mailCtx)
		if err != nil {
			t.Fatalf("no reset mail to %s within 15s (%d messages before the request): %v", u.Email, before, err)
		}
		if len(m.EnvelopeTo) == 1 && strings.EqualFold(m.EnvelopeTo[0], u.Email) {
			msg = m
		}
	}
	link := msg.ResetLink()
	s.d.secret(msg.ResetToken())
	if !strings.HasPrefix(link, s.URL+"/auth/password/reset?token=") {
		t.Fatalf("reset link %q does not point at public_url %s", link, s.URL)
	}

	resp := browsertest.Navigate(t, f.ctx, link)
	f.seen(resp)
	f.wantPath("/auth/password/reset", nil)
	if got := browsertest.Value(t, f.ctx, "#reset-form input[type=hidden][name=token]"); got != msg.ResetToken() {
		t.Errorf("reset form carries another token than the link's")
	}
	next := newPassword(t)
	s.d.secret(next)
	f.fill("#reset-form input[name=new_password]", next)
	f.click("#reset-form button[type=submit]")
	f.wantPath("/auth/login", url.Values{"reset": {"1"}})
	if got := f.text("p#notice"); got == "" {
		t.Errorf("the login page after a reset shows no notice")
	}

	// The link works once.
	f.open(strings.TrimPrefix(link, s.URL))
	if got := f.text("#error-summary"); got == "" {
		t.Errorf("a used reset link shows no error")
	}
	if !browsertest.Exists(t, f.ctx, "#error-summary a#forgot-link") && !browsertest.Exists(t, f.ctx, "a#forgot-link") {
		t.Errorf("a used reset link's page has no a#forgot-link to ask again")
	}

	// The old password is refused...
	f.signIn(u, "/whoami")
	f.wantPath("/auth/login", nil)
	if got := f.text("#error-summary"); !strings.Contains(got, "Email or password is incorrect.") {
		t.Errorf("old password after reset: error summary %q", got)
	}
	// ...the new one works.
	u.Password = next
	f.signIn(u, "/whoami")
	f.wantPath("/whoami", nil)
	f.wantWhoami(u)

	// The reset signed the other device out.
	took := other.waitSignedOut("/whoami", time.Now())
	t.Logf("the other device was signed out %v after the check began", took)
}

// After signing in, rd never takes the browser to another site: however it
// is spelled, the browser stays on the gateway's origin.
func (s *browserSite) testNoOpenRedirect(t *testing.T) {
	u := s.register(t, "otto")
	origin, _ := url.Parse(s.URL)
	for i, rd := range []string{"//evil.example/x", "https://evil.example/", `/\evil.example/`} {
		f := s.flow(t, fmt.Sprintf("open-redirect-%d", i))
		f.signIn(u, rd)
		if got := f.url(); got.Host != origin.Host {
			t.Errorf("rd %q took the browser to %s", rd, got)
		}
	}
}

// Flow 5: the same user on two devices (browser contexts); from A's
// account page, B's session is signed out, and B's next visit to a
// protected page goes to the login page within the revocation bound.
func (s *browserSite) testRevokeOtherDevice(t *testing.T) {
	u := s.register(t, "ravi")
	a := s.flow(t, "revoke-device-a")
	b := s.flow(t, "revoke-device-b")
	a.signIn(u, "/whoami")
	aID := a.wantWhoami(u)
	b.signIn(u, "/whoami")
	bID := b.wantWhoami(u)
	aSID, bSID := aID["X-Auth-Session-Id"], bID["X-Auth-Session-Id"]
	if aSID == bSID {
		t.Fatalf("both devices have session %s", aSID)
	}

	a.open("/auth/account")
	if n := browsertest.Count(t, a.ctx, "table#sessions tr[data-session-id]"); n < 2 {
		t.Fatalf("table#sessions lists %d sessions, want both devices'", n)
	}
	if !browsertest.Exists(t, a.ctx, fmt.Sprintf(`table#sessions tr.current[data-session-id=%q]`, aSID)) {
		t.Errorf("A's own session %s is not the row marked current", aSID)
	}
	row := fmt.Sprintf(`table#sessions tr[data-session-id=%q]`, bSID)
	if !browsertest.Exists(t, a.ctx, row) {
		t.Fatalf("B's session %s is not in A's table#sessions", bSID)
	}
	a.click(row + " button.revoke")
	revoked := time.Now()
	a.wantPath("/auth/account", nil)
	if got := a.text("p#notice"); got == "" {
		t.Errorf("the account page shows no notice after signing a session out")
	}
	if browsertest.Exists(t, a.ctx, row) {
		t.Errorf("B's session is still listed after it was signed out")
	}

	took := b.waitSignedOut("/whoami", revoked)
	t.Logf("B was sent to the login page %v after the revocation", took)

	// A is still signed in.
	a.open("/whoami")
	if got := a.wantWhoami(u)["X-Auth-Session-Id"]; got != aSID {
		t.Errorf("A's session changed from %s to %s", aSID, got)
	}
}

// Flow 6: every page has the security headers, as a plain HTTP client sees
// them too (the browser flows check every page they load), and the
// stylesheet is immutable and content-hashed.
func (s *browserSite) testSecurityHeaders(t *testing.T) {
	u := s.register(t, "hedy")
	login := s.send(t, request{method: http.MethodPost, path: "/auth/login",
		json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
	login.wantStatus(t, http.StatusOK)
	for _, c := range login.cookies {
		s.d.secret(c.Value)
	}
	html := http.Header{"Accept": {"text/html"}}
	pages := []struct {
		path    string
		cookies []*http.Cookie
	}{
		{path: "/auth/login"},
		{path: "/auth/login?rd=%2Fwhoami&reset=1"},
		{path: "/auth/register?rd=%2F"},
		{path: "/auth/password/forgot"},
		{path: "/auth/password/reset?token=not-a-real-token"},
		{path: "/auth/account", cookies: login.cookies},
	}
	var css string
	for _, p := range pages {
		r := s.send(t, request{method: http.MethodGet, path: p.path, header: html, cookies: p.cookies})
		if r.status < 200 || r.status > 499 {
			t.Errorf("GET %s: status %d", p.path, r.status)
		}
		checkPageHeaders(t, p.path, r.header.Get)
		if m := stylesheetRef.FindSubmatch(r.body); m != nil {
			css = string(m[1])
		} else {
			t.Errorf("GET %s: no /auth/assets/<name>.<hash>.css stylesheet link", p.path)
		}
	}
	if css == "" {
		return
	}
	r := s.send(t, request{method: http.MethodGet, path: css})
	r.wantStatus(t, http.StatusOK)
	if got := r.header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("%s: Cache-Control %q, want public, max-age=31536000, immutable", css, got)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("%s: Content-Type %q, want text/css", css, ct)
	}
}

// On a phone-sized screen every page fits its width: nothing makes the
// user scroll sideways (the account page's sessions table is the widest).
func (s *browserSite) testSmallScreen(t *testing.T) {
	u := s.register(t, "sam")
	f := s.flow(t, "small-screen")
	const width = 375
	browsertest.Viewport(t, f.ctx, width, 740)
	// Against the screen's width, not innerWidth: a mobile browser zooms
	// out to show a page that is too wide, and innerWidth grows with it.
	fits := func() {
		t.Helper()
		if w := browsertest.Eval[int](t, f.ctx, `document.documentElement.scrollWidth`); w > width {
			t.Errorf("%s is %dpx wide on a %dpx screen: the user must scroll sideways", f.url().Path, w, width)
		}
	}
	f.open("/auth/register")
	fits()
	f.open("/auth/password/forgot")
	fits()
	f.signIn(u, "/auth/account")
	f.wantPath("/auth/account", nil)
	fits()
}

// stylesheetRef finds a page's hashed stylesheet.
var stylesheetRef = regexp.MustCompile(`<link[^>]+href="(/auth/assets/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.css)"`)

// waitCtx is a context that ends after d or at t's end.
func waitCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
