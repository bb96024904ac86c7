package main

// Issue 5, hosted pages, end to end: the pages of gateway/ui through a
// gateway wired by build() exactly as `gateway serve` wires it, driven as a
// browser without JavaScript drives them (form posts, 303s, cookies in a
// jar), on both storage backends. The harness checks that no password or
// token of these flows reaches a log line.

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/internal/htmltest"
	"github.com/authgate/gateway/internal/mailtest"
)

// pageDoc is a parsed HTML answer.
type pageDoc struct{ root *html.Node }

func parsePage(t testing.TB, r *response) *pageDoc {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q, want text/html; body %s", ct, r.body)
	}
	return &pageDoc{htmltest.Parse(t, string(r.body))}
}

// find returns the elements under n (the document if nil) for which match
// holds.
func (d *pageDoc) find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	if n == nil {
		n = d.root
	}
	return htmltest.All(n, match)
}

func (d *pageDoc) id(id string) *html.Node { return htmltest.ByID(d.root, id) }

// input is the input named name in the form with id form.
func (d *pageDoc) input(form, name string) *html.Node {
	return htmltest.Input(d.id(form), name)
}

// pageBrowser is a browser without JavaScript on one gateway: a cookie jar,
// no automatic redirects, same-origin form posts.
type pageBrowser struct {
	in  *instance
	hc  *http.Client
	jar *cookiejar.Jar
}

func newPageBrowser(t testing.TB, in *instance) *pageBrowser {
	hc, jar := in.browser(t)
	return &pageBrowser{in: in, hc: hc, jar: jar}
}

func (b *pageBrowser) get(t testing.TB, path string) *response {
	t.Helper()
	return b.in.send(t, request{method: http.MethodGet, path: path, client: b.hc,
		header: http.Header{"Accept": {"text/html"}, "Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Site": {"none"}}})
}

// post submits a form as a browser does from the gateway's own page;
// header replaces the browser's headers (a cross-origin post).
func (b *pageBrowser) post(t testing.TB, path string, form url.Values, header http.Header) *response {
	t.Helper()
	if header == nil {
		header = http.Header{"Origin": {b.in.URL}, "Sec-Fetch-Site": {"same-origin"}, "Sec-Fetch-Dest": {"document"}}
	}
	header.Set("Accept", "text/html")
	return b.in.send(t, request{method: http.MethodPost, path: path, client: b.hc, body: form.Encode(),
		contentType: "application/x-www-form-urlencoded", header: header})
}

func (b *pageBrowser) signedIn() bool {
	return b.in.jarCookie(b.jar, b.in.cfg.Cookies.AccessName) != "" || b.in.jarCookie(b.jar, b.in.cfg.Cookies.RefreshName) != ""
}

// secretsOf records the session cookies of the jar as secrets.
func (b *pageBrowser) secretsOf() {
	b.in.d.secret(b.in.jarCookie(b.jar, b.in.cfg.Cookies.AccessName), b.in.jarCookie(b.jar, b.in.cfg.Cookies.RefreshName))
}

func wantLocation(t testing.TB, r *response, location string) {
	t.Helper()
	if r.status != http.StatusSeeOther || r.header.Get("Location") != location {
		t.Fatalf("got %d Location %q, want 303 %q; body %s", r.status, r.header.Get("Location"), location, r.body)
	}
}

// wantPageHeaders checks the headers every page carries (PAGES.md).
func wantPageHeaders(t testing.TB, r *response) {
	t.Helper()
	h := r.header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'", "style-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q allows scripts or inline code", csp)
	}
	for k, v := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY",
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := h.Get(k); got != v {
			t.Errorf("%s %q, want %q", k, got, v)
		}
	}
	if strings.Contains(strings.ToLower(string(r.body)), "<script") {
		t.Errorf("the page has a script")
	}
}

// TestPagesE2E: the hosted pages in a real gateway, on each backend.
func TestPagesE2E(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, nil)
		alice := gw.register(t, "alice")

		t.Run("every page renders", func(t *testing.T) {
			b := newPageBrowser(t, gw)
			for _, path := range []string{"/auth/login", "/auth/register", "/auth/password/forgot"} {
				r := b.get(t, path)
				r.wantStatus(t, http.StatusOK)
				parsePage(t, r)
				wantPageHeaders(t, r)
			}
			wantLocation(t, b.get(t, "/auth/account"), "/auth/login?rd=%2Fauth%2Faccount")
			wantLocation(t, b.post(t, "/auth/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}, nil), "/")
			b.secretsOf()
			r := b.get(t, "/auth/account")
			r.wantStatus(t, http.StatusOK)
			wantPageHeaders(t, r)
			if got := htmltest.Text(parsePage(t, r).id("account-email")); got != alice.Email {
				t.Errorf("account-email %q, want %q", got, alice.Email)
			}
		})

		t.Run("protected route round trip", func(t *testing.T) {
			b := newPageBrowser(t, gw)
			r := b.get(t, "/app/reports?year=2026")
			wantLocation(t, r, "/auth/login?rd="+url.QueryEscape("/app/reports?year=2026"))
			login := b.get(t, r.header.Get("Location"))
			login.wantStatus(t, http.StatusOK)
			doc := parsePage(t, login)
			rd := htmltest.Attr(doc.input("login-form", "rd"), "value")
			if rd != "/app/reports?year=2026" {
				t.Fatalf("hidden rd %q", rd)
			}
			// A wrong password first: the error, and no session.
			r = b.post(t, "/auth/login", url.Values{"email": {alice.Email}, "password": {"wrong-" + randomHex(t, 4)}, "rd": {rd}}, nil)
			r.wantStatus(t, http.StatusUnauthorized)
			if got := htmltest.Text(parsePage(t, r).id("error-summary")); !strings.Contains(got, "Email or password is incorrect.") {
				t.Errorf("error summary %q", got)
			}
			if b.signedIn() {
				t.Fatalf("a wrong password set cookies")
			}
			r = b.post(t, "/auth/login", url.Values{"email": {alice.Email}, "password": {alice.Password}, "rd": {rd}}, nil)
			wantLocation(t, r, "/app/reports?year=2026")
			for _, c := range r.cookies {
				if !c.HttpOnly {
					t.Errorf("cookie %s is not HttpOnly", c.Name)
				}
			}
			b.secretsOf()
			r = b.get(t, "/app/reports?year=2026")
			r.wantStatus(t, http.StatusOK)
			if got := gw.d.up.last(t, "/app/reports").Header.Get("X-Auth-User-Id"); got != alice.ID {
				t.Errorf("the upstream saw user %q, want %q", got, alice.ID)
			}
		})

		t.Run("cross-origin form posts are refused", func(t *testing.T) {
			victim := newPageBrowser(t, gw)
			wantLocation(t, victim.post(t, "/auth/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}, nil), "/")
			victim.secretsOf()
			attacker := []http.Header{
				{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
				{"Origin": {"https://evil.example"}},
			}
			for _, h := range attacker {
				for _, post := range []struct {
					path string
					form url.Values
				}{
					{"/auth/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}},
					{"/auth/register", url.Values{"email": {"mallory-" + randomHex(t, 4) + "@example.com"}, "password": {newPassword(t)}}},
					{"/auth/account", url.Values{"action": {"profile"}, "name": {"pwned"}, "email": {"mallory@evil.example"}}},
					{"/auth/account", url.Values{"action": {"logout-all"}}},
					{"/auth/password/forgot", url.Values{"email": {alice.Email}}},
				} {
					r := victim.post(t, post.path, post.form, h.Clone())
					r.wantProblem(t, http.StatusForbidden, "forbidden")
					if len(r.cookies) > 0 {
						t.Errorf("%s: a refused post set cookies", post.path)
					}
				}
			}
			r := victim.get(t, "/auth/account")
			r.wantStatus(t, http.StatusOK)
			if got := htmltest.Text(parsePage(t, r).id("account-email")); got != alice.Email {
				t.Errorf("the profile changed: %q", got)
			}
		})

		t.Run("account page", func(t *testing.T) {
			b := newPageBrowser(t, gw)
			other := newPageBrowser(t, gw)
			for _, br := range []*pageBrowser{b, other} {
				wantLocation(t, br.post(t, "/auth/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}, nil), "/")
				br.secretsOf()
			}
			doc := parsePage(t, b.get(t, "/auth/account"))
			var otherID string
			for _, row := range doc.find(nil, func(n *html.Node) bool { return n.Data == "tr" && htmltest.Attr(n, "data-session-id") != "" }) {
				if !strings.Contains(" "+htmltest.Attr(row, "class")+" ", " current ") {
					buttons := doc.find(row, func(n *html.Node) bool {
						return n.Data == "button" && strings.Contains(htmltest.Attr(n, "class"), "revoke")
					})
					if len(buttons) == 1 && otherID == "" {
						otherID = htmltest.Attr(row, "data-session-id")
					}
				}
			}
			if otherID == "" {
				t.Fatalf("no other session with a revoke button")
			}
			// Revoke: the other browser is signed out at once.
			wantLocation(t, b.post(t, "/auth/account", url.Values{"action": {"revoke"}, "session_id": {otherID}}, nil), "/auth/account?done=revoked")
			wantLocation(t, other.get(t, "/auth/account"), "/auth/login?rd=%2Fauth%2Faccount")

			// Profile.
			newEmail := "alice.l-" + randomHex(t, 4) + "@example.com"
			wantLocation(t, b.post(t, "/auth/account", url.Values{"action": {"profile"}, "name": {"Alice L"}, "email": {newEmail}}, nil), "/auth/account?done=profile")
			r := b.get(t, "/auth/account?done=profile")
			b.secretsOf() // the email change refreshed the session
			doc = parsePage(t, r)
			if got := htmltest.Text(doc.id("account-email")); got != newEmail {
				t.Errorf("account-email %q after the update", got)
			}
			if doc.id("notice") == nil {
				t.Errorf("no notice after the update")
			}
			alice.Email = newEmail

			// Password: wrong current one, then right.
			third := newPageBrowser(t, gw)
			wantLocation(t, third.post(t, "/auth/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}, nil), "/")
			third.secretsOf()
			wrong := "wrong-" + randomHex(t, 4)
			r = b.post(t, "/auth/account", url.Values{"action": {"password"}, "current_password": {wrong}, "new_password": {newPassword(t)}}, nil)
			r.wantStatus(t, http.StatusForbidden)
			if parsePage(t, r).id("current_password-error") == nil {
				t.Errorf("no error beside the current password")
			}
			next := newPassword(t)
			d.secret(next)
			wantLocation(t, b.post(t, "/auth/account", url.Values{"action": {"password"}, "current_password": {alice.Password}, "new_password": {next}}, nil), "/auth/account?done=password")
			alice.Password = next
			b.get(t, "/auth/account").wantStatus(t, http.StatusOK)
			wantLocation(t, third.get(t, "/auth/account"), "/auth/login?rd=%2Fauth%2Faccount")

			// Sign out everywhere.
			fourth := newPageBrowser(t, gw)
			wantLocation(t, fourth.post(t, "/auth/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}, nil), "/")
			fourth.secretsOf()
			wantLocation(t, b.post(t, "/auth/account", url.Values{"action": {"logout-all"}}, nil), "/auth/login?signed_out=1")
			if b.signedIn() {
				t.Errorf("cookies not cleared")
			}
			wantLocation(t, fourth.get(t, "/auth/account"), "/auth/login?rd=%2Fauth%2Faccount")
			wantLocation(t, fourth.get(t, "/app/x"), "/auth/login?rd=%2Fapp%2Fx")
		})
	})
}

// TestPagesResetE2E: forgot → mail → reset page → new password, through a
// real gateway and a real SMTP server, on each backend.
func TestPagesResetE2E(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		smtp := mailtest.Start(t)
		gw := d.start(t, func(c *config.Config) {
			c.Mail.SMTPURL, c.Mail.From = smtp.URL(), "gateway@example.com"
			c.Server.PublicURL = "https://gateway.example"
		})
		alice := gw.register(t, "alice")
		signedIn := newPageBrowser(t, gw)
		wantLocation(t, signedIn.post(t, "/auth/login", url.Values{"email": {alice.Email}, "password": {alice.Password}}, nil), "/")
		signedIn.secretsOf()

		b := newPageBrowser(t, gw)
		r := b.get(t, "/auth/password/forgot")
		r.wantStatus(t, http.StatusOK)
		wantPageHeaders(t, r)
		wantLocation(t, b.post(t, "/auth/password/forgot", url.Values{"email": {alice.Email}}, nil), "/auth/password/forgot?sent=1")
		if n := parsePage(t, b.get(t, "/auth/password/forgot?sent=1")).id("notice"); n == nil {
			t.Errorf("no notice after asking for a link")
		}
		link, err := url.Parse(smtp.Wait(10 * time.Second).ResetLink())
		if err != nil {
			t.Fatal(err)
		}
		token := link.Query().Get("token")
		d.secret(token)
		if link.Path != "/auth/password/reset" || token == "" {
			t.Fatalf("reset link %q", link)
		}

		r = b.get(t, "/auth/password/reset?token="+url.QueryEscape(token))
		r.wantStatus(t, http.StatusOK)
		wantPageHeaders(t, r)
		if got := htmltest.Attr(parsePage(t, r).input("reset-form", "token"), "value"); got != token {
			t.Fatalf("the form does not carry the token")
		}
		next := newPassword(t)
		d.secret(next)
		wantLocation(t, b.post(t, "/auth/password/reset", url.Values{"token": {token}, "new_password": {next}}, nil), "/auth/login?reset=1")
		if parsePage(t, b.get(t, "/auth/login?reset=1")).id("notice") == nil {
			t.Errorf("no notice on the login page after the reset")
		}
		// Every session ended; the new password works, the link does not
		// work twice.
		wantLocation(t, signedIn.get(t, "/auth/account"), "/auth/login?rd=%2Fauth%2Faccount")
		wantLocation(t, b.post(t, "/auth/login", url.Values{"email": {alice.Email}, "password": {next}}, nil), "/")
		b.secretsOf()
		r = b.get(t, "/auth/password/reset?token="+url.QueryEscape(token))
		r.wantStatus(t, http.StatusBadRequest)
		doc := parsePage(t, r)
		if doc.id("error-summary") == nil || doc.id("forgot-link") == nil {
			t.Errorf("a used link does not offer a new one")
		}
		// Cross-origin reset posts are refused.
		r = b.post(t, "/auth/password/reset", url.Values{"token": {token}, "new_password": {newPassword(t)}},
			http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}})
		r.wantProblem(t, http.StatusForbidden, "forbidden")
	})
}
