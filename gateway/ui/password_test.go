package ui

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
)

// TestForgotPage: the same notice whatever the email; a reset link arrives
// only for an account; a malformed address and a missing one are shown
// beside the field.
func TestForgotPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.user("alice")
	b := e.browser()

	for _, email := range []string{"alice@example.com", "nobody@example.com"} {
		b.post("/auth/password/forgot", url.Values{"email": {email}}).wantRedirect(t, "/auth/password/forgot?sent=1")
	}
	p := b.get("/auth/password/forgot?sent=1")
	p.wantStatus(t, http.StatusOK)
	checkPageHeaders(t, p)
	if n := p.doc.mustID(t, "notice"); !strings.Contains(text(n), "If an account exists") {
		t.Errorf("notice %q", text(n))
	}
	// Sent: the form gives way to the way back and a small "send again".
	if p.doc.byID("forgot-form") != nil {
		t.Errorf("the form is shown again after sending")
	}
	if attr(p.doc.mustID(t, "login-link"), "href") != "/auth/login" || attr(p.doc.mustID(t, "send-again-link"), "href") != "/auth/password/forgot" {
		t.Errorf("the sent page does not link back to sign in and to sending again")
	}
	if m := e.mail.Wait(10 * time.Second); m.ResetLink() == "" || m.To[0] != "alice@example.com" {
		t.Errorf("mail to %v with link %q", m.To, m.ResetLink())
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(e.mail.Messages()); n != 1 {
		t.Errorf("%d mails, want 1 (none for an unknown address)", n)
	}

	p = b.post("/auth/password/forgot", url.Values{"email": {"not an email"}})
	p.wantStatus(t, http.StatusBadRequest)
	if attr(p.doc.mustID(t, "email"), "aria-invalid") != "true" || p.doc.byID("email-error") == nil {
		t.Errorf("the email error is not beside its field")
	}
	if v := attr(p.doc.byID("email"), "value"); v != "not an email" {
		t.Errorf("entered email not kept: %q", v)
	}
	p = b.post("/auth/password/forgot", url.Values{"email": {""}})
	p.wantStatus(t, http.StatusBadRequest)
	p.doc.mustID(t, "email-error")
}

// TestForgotRateLimited: over the limit the page says how long to wait.
func TestForgotRateLimited(t *testing.T) {
	limits := config.Default().RateLimits
	limits.ForgotPerIP = config.Rate{Limit: 1, Window: time.Hour}
	e := newEnv(t, envOptions{limits: &limits})
	b := e.browser()
	b.post("/auth/password/forgot", url.Values{"email": {"a@example.com"}}).wantRedirect(t, "/auth/password/forgot?sent=1")
	p := b.post("/auth/password/forgot", url.Values{"email": {"a@example.com"}})
	p.wantStatus(t, http.StatusTooManyRequests)
	if sum := text(p.doc.mustID(t, "error-summary")); !strings.Contains(sum, "Too many attempts. Try again in ") {
		t.Errorf("summary %q", sum)
	}
}

// TestResetPage: the link's page shows the form; a weak password is shown
// beside its field; success ends every session and sends the browser to
// log in with the new password; a used, malformed or missing token offers
// a new link.
func TestResetPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.user("alice")
	signedIn := e.browser()
	signedIn.login("alice@example.com", testPassword)
	b := e.browser()
	token := e.resetToken(b, "alice@example.com")

	p := b.get("/auth/password/reset?token=" + url.QueryEscape(token))
	p.wantStatus(t, http.StatusOK)
	checkPageHeaders(t, p)
	checkLabels(t, p)
	form := p.doc.mustID(t, "reset-form")
	if attr(input(form, "token"), "value") != token || attr(input(form, "token"), "type") != "hidden" {
		t.Errorf("the token is not in the form")
	}
	if attr(input(form, "new_password"), "autocomplete") != "new-password" {
		t.Errorf("new_password autocomplete %q", attr(input(form, "new_password"), "autocomplete"))
	}

	p = b.post("/auth/password/reset", url.Values{"token": {token}, "new_password": {"short"}})
	p.wantStatus(t, http.StatusBadRequest)
	if attr(p.doc.mustID(t, "new_password"), "aria-invalid") != "true" || p.doc.byID("new_password-error") == nil {
		t.Errorf("the weak password is not shown beside its field")
	}
	if attr(input(p.doc.byID("reset-form"), "token"), "value") != token {
		t.Errorf("the token was not kept")
	}

	b.post("/auth/password/reset", url.Values{"token": {token}, "new_password": {"a-fresh-new-password"}}).wantRedirect(t, "/auth/login?reset=1")
	p = b.get("/auth/login?reset=1")
	if n := p.doc.mustID(t, "notice"); !strings.Contains(text(n), "password has been changed") {
		t.Errorf("notice %q", text(n))
	}
	signedIn.get("/auth/account").wantRedirect(t, "/auth/login?rd=%2Fauth%2Faccount")
	b.login("alice@example.com", "a-fresh-new-password")
	if _, err := e.svc.Login(context.Background(), "alice@example.com", testPassword, clientForTest()); err == nil {
		t.Errorf("the old password still works")
	}

	for name, path := range map[string]string{
		"used":      "/auth/password/reset?token=" + url.QueryEscape(token),
		"malformed": "/auth/password/reset?token=not-a-token",
		"missing":   "/auth/password/reset",
	} {
		t.Run(name, func(t *testing.T) {
			p := e.browser().get(path)
			p.wantStatus(t, http.StatusBadRequest)
			checkPageHeaders(t, p)
			sum := p.doc.mustID(t, "error-summary")
			if sum.Data != "p" || attr(sum, "role") != "alert" {
				t.Errorf("error summary <%s role=%q>", sum.Data, attr(sum, "role"))
			}
			if attr(p.doc.mustID(t, "forgot-link"), "href") != "/auth/password/forgot" {
				t.Errorf("no link to ask for a new one")
			}
			if p.doc.byID("reset-form") != nil {
				t.Errorf("the form is shown")
			}
			if h := p.doc.tag("h1"); len(h) != 1 || text(h[0]) != "This link can't be used" {
				t.Errorf("heading of a page without the form: %d h1, want %q", len(h), "This link can't be used")
			}
		})
	}
	p = e.browser().post("/auth/password/reset", url.Values{"token": {token}, "new_password": {"another-new-password"}})
	p.wantStatus(t, http.StatusBadRequest)
	p.doc.mustID(t, "forgot-link")
}
