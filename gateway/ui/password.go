package ui

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/gateway/auth"
	"github.com/authgate/gateway/gateway/problem"
)

var (
	forgotOrder  = []string{"email"}
	forgotLabels = map[string]string{"email": "Email address"}
	resetOrder   = []string{"new_password"}
	resetLabels  = map[string]string{"new_password": "New password"}
)

// noticeSent is shown whatever the email: the page must not tell which
// addresses have accounts.
const noticeSent = "If an account exists for that email address, we sent a link to choose a new password. " +
	"Check your inbox; the link expires soon."

func (p *Pages) forgotView() (*view, *form) {
	f := newForm(forgotOrder, forgotLabels)
	return &view{Title: "Reset your password", Form: f}, f
}

// forgotPage answers GET /auth/password/forgot (?sent=1 after a request).
func (p *Pages) forgotPage(c echo.Context) error {
	v, _ := p.forgotView()
	if c.QueryParam("sent") == "1" {
		// The notice replaces the form: asking again is a small link.
		v.Notice, v.Sent = noticeSent, true
	}
	return p.render(c, http.StatusOK, "forgot", v)
}

// ForgotPassword implements auth.Forms: the forgot form's post. Whether or
// not the address has an account, the answer is the same notice.
func (p *Pages) ForgotPassword(c echo.Context) error {
	v, f := p.forgotView()
	in, err := readForm(c)
	if err != nil {
		return p.render(c, p.fail(c, v, nil, err), "forgot", v)
	}
	f.values["email"] = in["email"]
	f.require(in, map[string]string{"email": msgEnterEmail})
	if f.Invalid() {
		return p.render(c, http.StatusBadRequest, "forgot", v)
	}
	if err := p.svc.ForgotPassword(c.Request().Context(), in["email"], auth.ClientOf(c.Request())); err != nil {
		return p.render(c, p.fail(c, v, f, err), "forgot", v)
	}
	return p.redirect(c, pathForgot+"?sent=1")
}

func (p *Pages) resetView(token string) (*view, *form) {
	f := newForm(resetOrder, resetLabels)
	if p.opts.PasswordMinLength > 0 {
		f.hints["new_password"] = fmt.Sprintf("At least %d characters.", p.opts.PasswordMinLength)
	}
	return &view{Title: "Choose a new password", Form: f, Token: token}, f
}

// titleBadLink heads the reset page when its link cannot be used: it has
// no form to choose a password with.
const titleBadLink = "This link can't be used"

// badLink turns v into the page of an unusable reset link.
func badLink(v *view) {
	v.TokenBad, v.Token, v.Title = true, "", titleBadLink
}

// badToken reports whether err says the reset token is unusable (unknown,
// expired, used): the page then offers to request a new link.
func badToken(err error) bool {
	pr := problem.As(err)
	if pr == nil || pr.Status >= http.StatusInternalServerError {
		return false
	}
	switch pr.Code {
	case problem.InvalidToken, problem.TokenExpired, problem.NotFound:
		return true
	}
	_, ok := pr.Errors["token"]
	return ok
}

// resetPage answers GET /auth/password/reset?token=…: the form when the
// token is usable, else a message with a link to request a new one. The
// page's URL holds the token: Referrer-Policy no-referrer keeps it from
// leaving through a link, and it is never logged.
func (p *Pages) resetPage(c echo.Context) error {
	token := c.QueryParam("token")
	v, _ := p.resetView(token)
	if token == "" {
		badLink(v)
		return p.render(c, http.StatusBadRequest, "reset", v)
	}
	if err := p.svc.CheckResetToken(c.Request().Context(), token); err != nil {
		if badToken(err) {
			badLink(v)
			return p.render(c, http.StatusBadRequest, "reset", v)
		}
		return p.render(c, p.fail(c, v, nil, err), "reset", v)
	}
	return p.render(c, http.StatusOK, "reset", v)
}

// ResetPassword implements auth.Forms: the reset form's post. Success ends
// every session (the service does; this browser's cookies are cleared) and
// answers 303 to the login page with its "password changed" notice.
func (p *Pages) ResetPassword(c echo.Context) error {
	v, f := p.resetView("")
	in, err := readForm(c)
	if err != nil {
		return p.render(c, p.fail(c, v, nil, err), "reset", v)
	}
	token := in["token"]
	if token == "" {
		badLink(v)
		return p.render(c, http.StatusBadRequest, "reset", v)
	}
	v.Token = token
	f.require(in, map[string]string{"new_password": "Enter a new password."})
	if f.Invalid() {
		return p.render(c, http.StatusBadRequest, "reset", v)
	}
	if err := p.svc.ResetPassword(c.Request().Context(), token, in["new_password"], auth.ClientOf(c.Request())); err != nil {
		if badToken(err) {
			badLink(v)
			return p.render(c, problem.As(err).Status, "reset", v)
		}
		return p.render(c, p.fail(c, v, f, err), "reset", v)
	}
	p.browser.EndBrowserSession(c.Response())
	return p.redirect(c, pathLogin+"?reset=1")
}
