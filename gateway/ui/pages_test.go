package ui

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/authgate/gateway/config"
)

// checkPageHeaders fails t unless p carries the headers every page must
// (PAGES.md): HTML, no-store, a CSP without any script allowance or
// inline style, no framing, no sniffing, no referrer.
func checkPageHeaders(t *testing.T, p *page) {
	t.Helper()
	h := p.header
	if ct := h.Get("Content-Type"); ct != "text/html; charset=UTF-8" && ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "script-src", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %q", csp, bad)
		}
	}
	for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := h.Get(k); got != v {
			t.Errorf("%s %q, want %q", k, got, v)
		}
	}
	if p.doc == nil {
		t.Fatalf("not an HTML page: %s", p.body)
	}
	if len(p.doc.tag("script")) > 0 || strings.Contains(strings.ToLower(p.body), "<script") {
		t.Errorf("the page contains a script")
	}
	if l := p.doc.all(func(n *html.Node) bool {
		return hasAttr(n, "style") || strings.HasPrefix(attr(n, "href"), "javascript:")
	}); len(l) > 0 {
		t.Errorf("the page has inline style or javascript: links")
	}
	for _, n := range p.doc.all(func(n *html.Node) bool { return strings.HasPrefix(n.Data, "on") || len(n.Attr) > 0 }) {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s %s>: an event handler attribute", n.Data, a.Key)
			}
		}
	}
	if htm := p.doc.tag("html"); len(htm) != 1 || attr(htm[0], "lang") == "" {
		t.Errorf("<html> has no lang attribute")
	}
}

// checkLabels fails t unless every visible input of the page has a
// <label for> naming its id.
func checkLabels(t *testing.T, p *page) {
	t.Helper()
	labels := map[string]bool{}
	for _, l := range p.doc.tag("label") {
		labels[attr(l, "for")] = true
	}
	for _, in := range p.doc.tag("input") {
		if attr(in, "type") == "hidden" {
			continue
		}
		if id := attr(in, "id"); id == "" || !labels[id] {
			t.Errorf("input %q has no label", attr(in, "name"))
		}
	}
}

// TestPagesRender: every page answers 200 text/html with the security
// headers, the contract's elements and labelled inputs; the stylesheet it
// links is served immutable.
func TestPagesRender(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.user("alice")
	anon := e.browser()
	signed := e.browser()
	signed.login("alice@example.com", testPassword)

	cases := []struct {
		name, path string
		b          *browser
		ids        []string
		inputs     map[string][]string // form id → input names
	}{
		{"login", "/auth/login?rd=/app", anon, []string{"login-form", "register-link", "forgot-link"},
			map[string][]string{"login-form": {"email", "password", "rd"}}},
		{"register", "/auth/register?rd=/app", anon, []string{"register-form"},
			map[string][]string{"register-form": {"name", "email", "password", "rd"}}},
		{"forgot", "/auth/password/forgot", anon, []string{"forgot-form"},
			map[string][]string{"forgot-form": {"email"}}},
		{"account", "/auth/account", signed, []string{"account-email", "profile-form", "password-form", "sessions", "logout-form", "logout-all-form"},
			map[string][]string{"profile-form": {"name", "email"}, "password-form": {"current_password", "new_password"}}},
	}
	var css string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.b.get(tc.path)
			p.wantStatus(t, http.StatusOK)
			checkPageHeaders(t, p)
			checkLabels(t, p)
			for _, id := range tc.ids {
				p.doc.mustID(t, id)
			}
			for formID, names := range tc.inputs {
				f := p.doc.mustID(t, formID)
				if attr(f, "method") != "post" {
					t.Errorf("#%s method %q", formID, attr(f, "method"))
				}
				if len(in(f, func(n *html.Node) bool { return n.Data == "button" && attr(n, "type") == "submit" })) != 1 {
					t.Errorf("#%s has no submit button", formID)
				}
				for _, name := range names {
					if input(f, name) == nil {
						t.Errorf("#%s has no input %q", formID, name)
					}
				}
			}
			links := p.doc.all(func(n *html.Node) bool { return n.Data == "link" && attr(n, "rel") == "stylesheet" })
			if len(links) != 1 {
				t.Fatalf("%d stylesheets", len(links))
			}
			css = attr(links[0], "href")
		})
	}

	p := anon.get("/auth/login?rd=/app")
	if rd := attr(input(p.doc.byID("login-form"), "rd"), "value"); rd != "/app" {
		t.Errorf("hidden rd %q, want /app", rd)
	}
	if href := attr(p.doc.byID("register-link"), "href"); href != "/auth/register?rd=%2fapp" && href != "/auth/register?rd=%2Fapp" {
		t.Errorf("register link %q", href)
	}
	// Autocomplete attributes help password managers.
	for name, want := range map[string]string{"email": "email", "password": "current-password"} {
		if got := attr(input(p.doc.byID("login-form"), name), "autocomplete"); got != want {
			t.Errorf("login %s autocomplete %q, want %q", name, got, want)
		}
	}
	if got := attr(input(anon.get("/auth/register").doc.byID("register-form"), "password"), "autocomplete"); got != "new-password" {
		t.Errorf("register password autocomplete %q", got)
	}

	// The stylesheet: immutable under its hashed name, 404 under others.
	if !strings.HasPrefix(css, "/auth/assets/style.") || !strings.HasSuffix(css, ".css") {
		t.Fatalf("stylesheet %q", css)
	}
	res, err := http.Get(e.URL + css)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") ||
		res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("stylesheet: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	res, err = http.Get(e.URL + "/auth/assets/style.0000.css")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown asset: %d, want 404", res.StatusCode)
	}
}

// TestPagesCrossOrigin: every form post a browser sends from another
// origin is refused before it changes anything, whether the browser says
// so with Sec-Fetch-Site or only with Origin.
func TestPagesCrossOrigin(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.user("alice")
	victim := e.browser()
	victim.login("alice@example.com", testPassword)
	sessionsBefore := func() int {
		l, err := e.svc.ListSessions(context.Background(), alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	before := sessionsBefore()
	attacks := map[string]http.Header{
		"sec-fetch-site": {"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
		"origin only":    {"Origin": {"https://evil.example"}, "Sec-Fetch-Site": nil},
	}
	posts := []struct {
		name, path string
		form       url.Values
	}{
		{"login", "/auth/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "rd": {"/"}}},
		{"register", "/auth/register", url.Values{"email": {"mallory@example.com"}, "password": {testPassword}}},
		{"profile", "/auth/account", url.Values{"action": {"profile"}, "name": {"Pwned"}, "email": {"mallory@evil.example"}}},
		{"password", "/auth/account", url.Values{"action": {"password"}, "current_password": {testPassword}, "new_password": {"attacker-chosen-password"}}},
		{"logout-all", "/auth/account", url.Values{"action": {"logout-all"}}},
		{"logout", "/auth/account", url.Values{"action": {"logout"}}},
		{"forgot", "/auth/password/forgot", url.Values{"email": {"alice@example.com"}}},
		{"reset", "/auth/password/reset", url.Values{"token": {"x"}, "new_password": {"attacker-chosen-password"}}},
	}
	for how, hdr := range attacks {
		for _, post := range posts {
			t.Run(how+"/"+post.name, func(t *testing.T) {
				p := victim.do(http.MethodPost, post.path, post.form, hdr)
				if p.status != http.StatusForbidden {
					t.Fatalf("status %d, want 403; body %s", p.status, p.body)
				}
				if sc := p.header.Values("Set-Cookie"); len(sc) > 0 {
					t.Errorf("a refused post set cookies: %v", sc)
				}
			})
		}
	}
	// Nothing changed: same user, same password, every session alive, no
	// new account.
	u, err := e.svc.Me(context.Background(), alice.ID)
	if err != nil || u.Name != alice.Name || u.Email != alice.Email {
		t.Errorf("the profile changed: %+v %v", u, err)
	}
	if _, err := e.svc.Login(context.Background(), "alice@example.com", testPassword, clientForTest()); err != nil {
		t.Errorf("the password changed: %v", err)
	}
	if _, err := e.svc.Login(context.Background(), "mallory@example.com", testPassword, clientForTest()); err == nil {
		t.Errorf("a cross-origin registration created an account")
	}
	if after := sessionsBefore(); after != before+1 { // +1: the check's own login above
		t.Errorf("sessions: %d before, %d after", before, after)
	}
	victim.get("/auth/account").wantStatus(t, http.StatusOK)
}

// TestLoginPage: success sets HttpOnly cookies and goes to rd; a wrong
// password and missing fields re-render the form accessibly; a hostile rd
// goes home; a signed-in user skips the form.
func TestLoginPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.user("alice")

	t.Run("success", func(t *testing.T) {
		b := e.browser()
		p := b.post("/auth/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "rd": {"/app/items?x=1"}})
		p.wantRedirect(t, "/app/items?x=1")
		var access, refresh bool
		for _, line := range p.header.Values("Set-Cookie") {
			c, err := http.ParseSetCookie(line)
			if err != nil {
				t.Fatal(err)
			}
			if !c.HttpOnly {
				t.Errorf("cookie %s is not HttpOnly", c.Name)
			}
			access = access || c.Name == e.cfg.Cookies.AccessName
			refresh = refresh || c.Name == e.cfg.Cookies.RefreshName
		}
		if !access || !refresh {
			t.Errorf("cookies set: %v", p.header.Values("Set-Cookie"))
		}
		if strings.Contains(p.body, testPassword) {
			t.Errorf("the answer contains the password")
		}
		// Signed in: the login page sends the browser on to rd.
		b.get("/auth/login?rd=/dashboard").wantRedirect(t, "/dashboard")
		b.get("/auth/login").wantRedirect(t, "/")
	})

	t.Run("wrong password", func(t *testing.T) {
		b := e.browser()
		p := b.post("/auth/login", url.Values{"email": {"alice@example.com"}, "password": {"not-the-password"}, "rd": {"/app"}})
		p.wantStatus(t, http.StatusUnauthorized)
		checkPageHeaders(t, p)
		sum := p.doc.mustID(t, "error-summary")
		if sum.Data != "div" || attr(sum, "role") != "alert" || !strings.Contains(text(sum), "Email or password is incorrect.") {
			t.Errorf("error summary <%s role=%q>%s", sum.Data, attr(sum, "role"), text(sum))
		}
		f := p.doc.mustID(t, "login-form")
		if v := attr(input(f, "email"), "value"); v != "alice@example.com" {
			t.Errorf("email not kept: %q", v)
		}
		if hasAttr(input(f, "password"), "value") || strings.Contains(p.body, "not-the-password") {
			t.Errorf("the password was filled back in")
		}
		if !hasAttr(input(f, "password"), "autofocus") {
			t.Errorf("the password field is not focused")
		}
		if v := attr(input(f, "rd"), "value"); v != "/app" {
			t.Errorf("rd not kept: %q", v)
		}
		if b.cookie(e.cfg.Cookies.AccessName) != "" {
			t.Errorf("a failed login set cookies")
		}
		// An unknown email answers the same.
		p = b.post("/auth/login", url.Values{"email": {"nobody@example.com"}, "password": {"not-the-password"}})
		p.wantStatus(t, http.StatusUnauthorized)
		if !strings.Contains(text(p.doc.byID("error-summary")), "Email or password is incorrect.") {
			t.Errorf("unknown email: %s", text(p.doc.byID("error-summary")))
		}
	})

	t.Run("missing fields", func(t *testing.T) {
		p := e.browser().post("/auth/login", url.Values{"email": {""}, "password": {""}})
		p.wantStatus(t, http.StatusBadRequest)
		p.doc.mustID(t, "error-summary")
		for _, name := range []string{"email", "password"} {
			msg := p.doc.mustID(t, name+"-error")
			field := p.doc.mustID(t, name)
			if attr(field, "aria-invalid") != "true" || !strings.Contains(attr(field, "aria-describedby"), name+"-error") {
				t.Errorf("%s: aria-invalid %q aria-describedby %q", name, attr(field, "aria-invalid"), attr(field, "aria-describedby"))
			}
			if text(msg) == "" {
				t.Errorf("%s: empty error", name)
			}
		}
		if !hasAttr(p.doc.byID("email"), "autofocus") || hasAttr(p.doc.byID("password"), "autofocus") {
			t.Errorf("autofocus is not on the first invalid field")
		}
		// The summary links to the fields.
		links := in(p.doc.byID("error-summary"), func(n *html.Node) bool { return n.Data == "a" })
		if len(links) != 2 || attr(links[0], "href") != "#email" {
			t.Errorf("summary links: %d", len(links))
		}
	})

	t.Run("hostile rd", func(t *testing.T) {
		for _, rd := range []string{"//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)"} {
			b := e.browser()
			p := b.get("/auth/login?rd=" + url.QueryEscape(rd))
			if v := attr(input(p.doc.byID("login-form"), "rd"), "value"); v != "/" {
				t.Errorf("rd %q rendered as %q", rd, v)
			}
			b.post("/auth/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "rd": {rd}}).wantRedirect(t, "/")
		}
	})

	t.Run("form too large", func(t *testing.T) {
		p := e.browser().post("/auth/login", url.Values{"email": {strings.Repeat("a", 70<<10)}, "password": {"x"}})
		p.wantStatus(t, http.StatusRequestEntityTooLarge)
		p.doc.mustID(t, "error-summary")
	})

	t.Run("not text", func(t *testing.T) {
		p := e.browser().post("/auth/login", url.Values{"email": {"a\xffb@example.com"}, "password": {"x"}})
		p.wantStatus(t, http.StatusBadRequest)
		p.doc.mustID(t, "error-summary")
	})
}

// TestLoginRateLimited: over the limit the page says how long to wait.
func TestLoginRateLimited(t *testing.T) {
	limits := config.Default().RateLimits
	limits.LoginPerIP = config.Rate{Limit: 2, Window: time.Hour}
	e := newEnv(t, envOptions{limits: &limits})
	e.user("alice")
	b := e.browser()
	for range 2 {
		b.post("/auth/login", url.Values{"email": {"alice@example.com"}, "password": {"wrong-password-1"}}).wantStatus(t, http.StatusUnauthorized)
	}
	p := b.post("/auth/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}})
	p.wantStatus(t, http.StatusTooManyRequests)
	sum := text(p.doc.mustID(t, "error-summary"))
	if !strings.HasPrefix(sum, "There is a problem Too many attempts. Try again in ") || !strings.HasSuffix(sum, " seconds.") {
		t.Errorf("summary %q", sum)
	}
	if p.header.Get("Retry-After") == "" {
		t.Errorf("no Retry-After")
	}
}

// TestProtectedRouteRoundTrip: a page load of a protected path goes to the
// login page with rd, and after the login lands back on that path.
func TestProtectedRouteRoundTrip(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.user("alice")
	b := e.browser()
	p := b.get("/reports/2026?view=full")
	p.wantRedirect(t, "/auth/login?rd="+url.QueryEscape("/reports/2026?view=full"))
	login := b.get(p.header.Get("Location"))
	login.wantStatus(t, http.StatusOK)
	rd := attr(input(login.doc.byID("login-form"), "rd"), "value")
	if rd != "/reports/2026?view=full" {
		t.Fatalf("hidden rd %q", rd)
	}
	back := b.post("/auth/login", url.Values{"email": {"alice@example.com"}, "password": {testPassword}, "rd": {rd}})
	back.wantRedirect(t, "/reports/2026?view=full")
	p = b.get(back.header.Get("Location"))
	p.wantStatus(t, http.StatusOK)
	if p.body != "upstream /reports/2026?view=full" {
		t.Errorf("upstream answered %q", p.body)
	}
}

func TestRegisterPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.user("alice")

	t.Run("success", func(t *testing.T) {
		b := e.browser()
		p := b.post("/auth/register", url.Values{"name": {"Bob"}, "email": {"bob@example.com"}, "password": {testPassword}, "rd": {"/welcome"}})
		p.wantRedirect(t, "/welcome")
		if b.cookie(e.cfg.Cookies.AccessName) == "" || b.cookie(e.cfg.Cookies.RefreshName) == "" {
			t.Fatalf("not signed in after registering")
		}
		a := b.get("/auth/account")
		a.wantStatus(t, http.StatusOK)
		if got := text(a.doc.mustID(t, "account-email")); got != "bob@example.com" {
			t.Errorf("account email %q", got)
		}
	})

	t.Run("errors", func(t *testing.T) {
		b := e.browser()
		p := b.post("/auth/register", url.Values{"name": {"Alice"}, "email": {"alice@example.com"}, "password": {testPassword}})
		p.wantStatus(t, http.StatusConflict)
		if msg := text(p.doc.mustID(t, "email-error")); !strings.Contains(msg, "already registered") {
			t.Errorf("email error %q", msg)
		}
		if v := attr(p.doc.byID("name"), "value"); v != "Alice" {
			t.Errorf("name not kept: %q", v)
		}
		p = b.post("/auth/register", url.Values{"email": {"carol@example.com"}, "password": {"short"}})
		p.wantStatus(t, http.StatusBadRequest)
		pw := p.doc.mustID(t, "password")
		if attr(pw, "aria-invalid") != "true" || !hasAttr(pw, "autofocus") ||
			!strings.Contains(attr(pw, "aria-describedby"), "password-error") {
			t.Errorf("password field not marked invalid")
		}
		if msg := text(p.doc.mustID(t, "password-error")); !strings.Contains(msg, "at least 12 characters") {
			t.Errorf("password error %q", msg)
		}
		p = b.post("/auth/register", url.Values{"email": {"not-an-email"}, "password": {testPassword}})
		p.wantStatus(t, http.StatusBadRequest)
		if msg := text(p.doc.mustID(t, "email-error")); !strings.HasPrefix(msg, "Email address ") {
			t.Errorf("email error %q", msg)
		}
	})
}

// TestRegistrationDisabled: the register page says so, its post is refused,
// and the login page does not link to it.
func TestRegistrationDisabled(t *testing.T) {
	e := newEnv(t, envOptions{registrationDisabled: true})
	b := e.browser()
	p := b.get("/auth/register")
	p.wantStatus(t, http.StatusOK)
	checkPageHeaders(t, p)
	if p.doc.byID("register-form") != nil {
		t.Errorf("the register form is shown")
	}
	if n := p.doc.mustID(t, "notice"); !strings.Contains(text(n), "Registration is closed") {
		t.Errorf("notice %q", text(n))
	}
	b.post("/auth/register", url.Values{"email": {"bob@example.com"}, "password": {testPassword}}).wantStatus(t, http.StatusForbidden)
	if b.get("/auth/login").doc.byID("register-link") != nil {
		t.Errorf("the login page links to registration")
	}
}

func TestAccountPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.user("alice")
	e.browser().get("/auth/account").wantRedirect(t, "/auth/login?rd=%2Fauth%2Faccount")
	// A post without a session goes to log in too, and changes nothing.
	e.browser().post("/auth/account", url.Values{"action": {"logout-all"}}).wantRedirect(t, "/auth/login?rd=%2Fauth%2Faccount")

	b := e.browser()
	b.login("alice@example.com", testPassword)
	other := e.browser()
	other.login("alice@example.com", testPassword)

	p := b.get("/auth/account")
	p.wantStatus(t, http.StatusOK)
	rows := p.doc.all(func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-session-id") != "" })
	if len(rows) != 2 {
		t.Fatalf("%d session rows, want 2", len(rows))
	}
	var otherID string
	current := 0
	for _, r := range rows {
		revoke := in(r, func(n *html.Node) bool {
			return n.Data == "button" && strings.Contains(" "+attr(n, "class")+" ", " revoke ")
		})
		if strings.Contains(" "+attr(r, "class")+" ", " current ") {
			current++
			if len(revoke) != 0 {
				t.Errorf("the current session has a revoke button")
			}
		} else {
			otherID = attr(r, "data-session-id")
			if len(revoke) != 1 {
				t.Errorf("another session has %d revoke buttons", len(revoke))
			}
		}
	}
	if current != 1 || otherID == "" {
		t.Fatalf("current rows %d, other %q", current, otherID)
	}

	t.Run("revoke a session", func(t *testing.T) {
		b.post("/auth/account", url.Values{"action": {"revoke"}, "session_id": {otherID}}).wantRedirect(t, "/auth/account?done=revoked")
		p := b.get("/auth/account?done=revoked")
		if n := p.doc.mustID(t, "notice"); !strings.Contains(text(n), "signed out") {
			t.Errorf("notice %q", text(n))
		}
		if p.doc.all(func(n *html.Node) bool { return attr(n, "data-session-id") == otherID }) != nil {
			t.Errorf("the revoked session is still listed")
		}
		other.get("/auth/account").wantRedirect(t, "/auth/login?rd=%2Fauth%2Faccount")
		// Someone else's or an unknown session: 404 on the page.
		p = b.post("/auth/account", url.Values{"action": {"revoke"}, "session_id": {"no-such-session"}})
		p.wantStatus(t, http.StatusNotFound)
		p.doc.mustID(t, "error-summary")
	})

	t.Run("update profile", func(t *testing.T) {
		b.post("/auth/account", url.Values{"action": {"profile"}, "name": {"Alice Liddell"}, "email": {"alice.l@example.com"}}).
			wantRedirect(t, "/auth/account?done=profile")
		p := b.get("/auth/account?done=profile")
		p.wantStatus(t, http.StatusOK)
		if got := text(p.doc.mustID(t, "account-email")); got != "alice.l@example.com" {
			t.Errorf("account email %q", got)
		}
		if v := attr(input(p.doc.byID("profile-form"), "name"), "value"); v != "Alice Liddell" {
			t.Errorf("name %q", v)
		}
		p.doc.mustID(t, "notice")
		p = b.post("/auth/account", url.Values{"action": {"profile"}, "name": {"A"}, "email": {"broken"}})
		p.wantStatus(t, http.StatusBadRequest)
		if attr(p.doc.mustID(t, "email"), "aria-invalid") != "true" || p.doc.byID("email-error") == nil {
			t.Errorf("the email error is not beside its field")
		}
		if v := attr(p.doc.byID("email"), "value"); v != "broken" {
			t.Errorf("entered email not kept: %q", v)
		}
	})

	t.Run("change password", func(t *testing.T) {
		third := e.browser()
		third.login("alice.l@example.com", testPassword)
		p := b.post("/auth/account", url.Values{"action": {"password"}, "current_password": {"wrong-password-x"}, "new_password": {"a-brand-new-password"}})
		p.wantStatus(t, http.StatusForbidden)
		if p.doc.byID("current_password-error") == nil || attr(p.doc.byID("current_password"), "aria-invalid") != "true" {
			t.Errorf("the wrong current password is not shown beside its field")
		}
		if strings.Contains(p.body, "wrong-password-x") || strings.Contains(p.body, "a-brand-new-password") {
			t.Errorf("passwords were filled back in")
		}
		b.post("/auth/account", url.Values{"action": {"password"}, "current_password": {testPassword}, "new_password": {"a-brand-new-password"}}).
			wantRedirect(t, "/auth/account?done=password")
		b.get("/auth/account").wantStatus(t, http.StatusOK)
		third.get("/auth/account").wantRedirect(t, "/auth/login?rd=%2Fauth%2Faccount")
		if _, err := e.svc.Login(context.Background(), "alice.l@example.com", "a-brand-new-password", clientForTest()); err != nil {
			t.Errorf("the new password does not work: %v", err)
		}
	})

	t.Run("sign out everywhere", func(t *testing.T) {
		second := e.browser()
		second.login("alice.l@example.com", "a-brand-new-password")
		p := b.post("/auth/account", url.Values{"action": {"logout-all"}})
		p.wantRedirect(t, "/auth/login?signed_out=1")
		if b.cookie(e.cfg.Cookies.AccessName) != "" || b.cookie(e.cfg.Cookies.RefreshName) != "" {
			t.Errorf("cookies not cleared")
		}
		second.get("/auth/account").wantRedirect(t, "/auth/login?rd=%2Fauth%2Faccount")
		l, err := e.svc.ListSessions(context.Background(), alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 0 {
			t.Errorf("%d sessions left", len(l))
		}
	})

	t.Run("sign out", func(t *testing.T) {
		b.login("alice.l@example.com", "a-brand-new-password")
		b.post("/auth/account", url.Values{"action": {"logout"}}).wantRedirect(t, "/auth/login?signed_out=1")
		if b.cookie(e.cfg.Cookies.AccessName) != "" {
			t.Errorf("cookies not cleared")
		}
		if n := b.get("/auth/login?signed_out=1").doc.mustID(t, "notice"); text(n) != "You have been signed out." {
			t.Errorf("login page after signing out: notice %q", text(n))
		}
		b.get("/auth/account").wantRedirect(t, "/auth/login?rd=%2Fauth%2Faccount")
	})
}
