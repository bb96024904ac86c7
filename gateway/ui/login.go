package ui

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/gateway/auth"
	"github.com/authgate/gateway/gateway/problem"
)

var (
	loginOrder  = []string{"email", "password"}
	loginLabels = map[string]string{"email": "Email address", "password": "Password"}
	regOrder    = []string{"name", "email", "password"}
	regLabels   = map[string]string{"name": "Name", "email": "Email address", "password": "Password"}
)

// Messages of the login and registration forms.
const (
	msgEnterEmail    = "Enter your email address."
	msgEnterPassword = "Enter your password."
	msgChoosePw      = "Choose a password."
	// msgBadLogin is the same for an unknown email and a wrong password,
	// like the API's answer: the page must not tell which addresses have
	// accounts.
	msgBadLogin = "Email or password is incorrect."
)

// Notices of the login page, chosen by a fixed query flag (never text
// taken from the URL).
const (
	noticeReset     = "Your password has been changed. Sign in with your new password."
	noticeSignedOut = "You have been signed out."
)

func (p *Pages) loginView(rd string) (*view, *form) {
	f := newForm(loginOrder, loginLabels)
	return &view{Title: "Sign in", RD: rd, Form: f}, f
}

// loginPage answers GET /auth/login: the form, or for a signed-in user a
// 303 to rd.
func (p *Pages) loginPage(c echo.Context) error {
	rd := SafeRedirect(c.QueryParam("rd"))
	if id, _ := p.identity(c); id != nil {
		return p.redirect(c, rd)
	}
	v, _ := p.loginView(rd)
	switch {
	case c.QueryParam("reset") == "1":
		v.Notice = noticeReset
	case c.QueryParam("signed_out") == "1":
		v.Notice = noticeSignedOut
	}
	return p.render(c, http.StatusOK, "login", v)
}

// Login implements auth.Forms: the login form's post. Success sets the
// session cookies and answers 303 to rd.
func (p *Pages) Login(c echo.Context) error {
	v, f := p.loginView("/")
	in, err := readForm(c)
	if err != nil {
		return p.render(c, p.fail(c, v, nil, err), "login", v)
	}
	v.RD = SafeRedirect(in["rd"])
	f.values["email"] = in["email"]
	f.require(in, map[string]string{"email": msgEnterEmail, "password": msgEnterPassword})
	if f.Invalid() {
		return p.render(c, http.StatusBadRequest, "login", v)
	}
	pair, err := p.svc.Login(c.Request().Context(), in["email"], in["password"], auth.ClientOf(c.Request()))
	if err != nil {
		if pr := problem.As(err); pr != nil && pr.Code == problem.InvalidCredentials {
			v.Summary = []summaryItem{{Field: "password", Text: msgBadLogin}}
			f.focus = "password"
			return p.render(c, pr.Status, "login", v)
		}
		return p.render(c, p.fail(c, v, f, err), "login", v)
	}
	p.browser.StartBrowserSession(c.Response(), pair)
	signedIn(c, pair)
	return p.redirect(c, v.RD)
}

func (p *Pages) registerView(rd string) (*view, *form) {
	f := newForm(regOrder, regLabels)
	if p.opts.PasswordMinLength > 0 {
		f.hints["password"] = fmt.Sprintf("At least %d characters.", p.opts.PasswordMinLength)
	}
	return &view{Title: "Create an account", RD: rd, Form: f}, f
}

// registerPage answers GET /auth/register. With registration disabled the
// page says so and shows no form.
func (p *Pages) registerPage(c echo.Context) error {
	v, _ := p.registerView(SafeRedirect(c.QueryParam("rd")))
	return p.render(c, http.StatusOK, "register", v)
}

// Register implements auth.Forms: the registration form's post. Success
// signs the new user in and answers 303 to rd.
func (p *Pages) Register(c echo.Context) error {
	v, f := p.registerView("/")
	if !p.opts.RegistrationEnabled {
		return p.render(c, http.StatusForbidden, "register", v)
	}
	in, err := readForm(c)
	if err != nil {
		return p.render(c, p.fail(c, v, nil, err), "register", v)
	}
	v.RD = SafeRedirect(in["rd"])
	f.values["name"], f.values["email"] = in["name"], in["email"]
	f.require(in, map[string]string{"email": msgEnterEmail, "password": msgChoosePw})
	if f.Invalid() {
		return p.render(c, http.StatusBadRequest, "register", v)
	}
	ctx, client := c.Request().Context(), auth.ClientOf(c.Request())
	if _, err := p.svc.Register(ctx, in["email"], in["password"], in["name"], client); err != nil {
		return p.render(c, p.fail(c, v, f, err), "register", v)
	}
	pair, err := p.svc.Login(ctx, in["email"], in["password"], client)
	if err != nil {
		// The account exists; signing in is the login page's job now
		// (a rate limit or an overload in between).
		target := pathLogin
		if v.RD != "/" {
			target += "?rd=" + url.QueryEscape(v.RD)
		}
		return p.redirect(c, target)
	}
	p.browser.StartBrowserSession(c.Response(), pair)
	signedIn(c, pair)
	return p.redirect(c, v.RD)
}
