package ui

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/gateway/auth"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/scope"
)

var (
	profileOrder   = []string{"name", "email"}
	profileLabels  = map[string]string{"name": "Name", "email": "Email address"}
	passwordOrder  = []string{"current_password", "new_password"}
	passwordLabels = map[string]string{"current_password": "Current password", "new_password": "New password"}
)

// accountNotices are what p#notice says after a change, keyed by the
// ?done= flag of the redirect (never text taken from the URL).
var accountNotices = map[string]string{
	"profile":  "Your profile has been updated.",
	"password": "Your password has been changed. Your other sessions have been signed out.",
	"revoked":  "The session has been signed out.",
}

// sessionRow is one row of table#sessions.
type sessionRow struct {
	ID, Device, IP        string
	CreatedAt, LastUsedAt time.Time
	Current               bool
}

// loginForAccount sends an anonymous browser to log in and come back.
func (p *Pages) loginForAccount(c echo.Context) error {
	return p.redirect(c, pathLogin+"?rd=%2Fauth%2Faccount")
}

// accountView loads what the account page shows for id: the user (its
// current name and email fill the profile form) and the sessions.
func (p *Pages) accountView(c echo.Context, id *scope.Identity) (*view, error) {
	ctx := c.Request().Context()
	u, err := p.svc.Me(ctx, id.UserID)
	if err != nil {
		return nil, err
	}
	list, err := p.svc.ListSessions(ctx, id.UserID)
	if err != nil {
		return nil, err
	}
	v := &view{Title: "Your account", Wide: true, Email: u.Email,
		Profile: newForm(profileOrder, profileLabels), Password: newForm(passwordOrder, passwordLabels)}
	v.Profile.values["name"], v.Profile.values["email"] = u.Name, u.Email
	if p.opts.PasswordMinLength > 0 {
		v.Password.hints["new_password"] = fmt.Sprintf("At least %d characters.", p.opts.PasswordMinLength)
	}
	for _, s := range list {
		v.Sessions = append(v.Sessions, sessionRow{ID: s.ID, Device: device(s.UserAgent), IP: s.IP,
			CreatedAt: s.CreatedAt, LastUsedAt: s.LastUsedAt, Current: s.ID == id.SessionID})
	}
	// The current session first, then the most recently used.
	sortSessions(v.Sessions)
	return v, nil
}

// accountPage answers GET /auth/account. A page that cannot be built (a
// store is down) is the service's problem answer: 503 with Retry-After.
func (p *Pages) accountPage(c echo.Context) error {
	id, err := p.identity(c)
	if err != nil {
		return err
	}
	if id == nil {
		return p.loginForAccount(c)
	}
	v, err := p.accountView(c, id)
	if err != nil {
		if pr := problem.As(err); pr != nil && pr.Status == http.StatusUnauthorized {
			// The account is gone.
			p.browser.EndBrowserSession(c.Response())
			return p.loginForAccount(c)
		}
		return err
	}
	v.Notice = accountNotices[c.QueryParam("done")]
	return p.render(c, http.StatusOK, "account", v)
}

// accountPost answers the account page's forms (POST /auth/account, behind
// the guard): field "action" says which.
func (p *Pages) accountPost(c echo.Context) error {
	id, err := p.identity(c)
	if err != nil {
		return err
	}
	if id == nil {
		return p.loginForAccount(c)
	}
	in, err := readForm(c)
	if err != nil {
		return p.accountError(c, id, nil, nil, err)
	}
	ctx := c.Request().Context()
	switch in["action"] {
	case "profile":
		name, email := in["name"], in["email"]
		if strings.TrimSpace(email) == "" {
			f := newForm(profileOrder, profileLabels)
			f.values["name"], f.values["email"] = name, email
			f.errors["email"] = msgEnterEmail
			return p.accountError(c, id, f, nil, nil)
		}
		if _, err := p.svc.UpdateMe(ctx, id.UserID, id.Email, &name, &email); err != nil {
			f := newForm(profileOrder, profileLabels)
			f.values["name"], f.values["email"] = name, email
			return p.accountError(c, id, f, nil, err)
		}
		return p.redirect(c, pathAccount+"?done=profile")
	case "password":
		f := newForm(passwordOrder, passwordLabels)
		f.require(in, map[string]string{"current_password": "Enter your current password.", "new_password": "Enter a new password."}) // #nosec G101 -- form messages, not credentials
		if f.Invalid() {
			return p.accountError(c, id, nil, f, nil)
		}
		if err := p.svc.ChangePassword(ctx, id.UserID, id.SessionID, in["current_password"], in["new_password"], auth.ClientOf(c.Request())); err != nil {
			return p.accountError(c, id, nil, f, err)
		}
		return p.redirect(c, pathAccount+"?done=password")
	case "revoke":
		sid := in["session_id"]
		if sid == id.SessionID {
			// Ending the session in use is signing out.
			return p.signOut(c, id, false)
		}
		if err := p.svc.RevokeSession(ctx, id.UserID, sid); err != nil {
			if pr := problem.As(err); pr != nil && pr.Code == problem.NotFound {
				err = problem.New(http.StatusNotFound, problem.NotFound, "that session has already ended")
			}
			return p.accountError(c, id, nil, nil, err)
		}
		return p.redirect(c, pathAccount+"?done=revoked")
	case "logout":
		return p.signOut(c, id, false)
	case "logout-all":
		return p.signOut(c, id, true)
	default:
		return p.accountError(c, id, nil, nil, problem.New(http.StatusBadRequest, problem.BadRequest, "unknown action"))
	}
}

// signOut ends the current session (all: every session of the user),
// clears the cookies and sends the browser to the login page, which
// confirms it (?signed_out=1).
func (p *Pages) signOut(c echo.Context, id *scope.Identity, all bool) error {
	ctx := c.Request().Context()
	var err error
	if all {
		err = p.svc.LogoutAll(ctx, id.UserID)
	} else {
		err = p.svc.Logout(ctx, id.UserID, id.SessionID)
	}
	if err != nil {
		return p.accountError(c, id, nil, nil, err)
	}
	// A transparent refresh in identity() may have set fresh cookies:
	// they belong to the session that just ended.
	c.Response().Header().Del("Set-Cookie")
	p.browser.EndBrowserSession(c.Response())
	return p.redirect(c, pathLogin+"?signed_out=1")
}

// accountError re-renders the account page with err (and the entered
// values of the form that failed: profile or password).
func (p *Pages) accountError(c echo.Context, id *scope.Identity, profile, password *form, err error) error {
	v, lerr := p.accountView(c, id)
	if lerr != nil {
		return lerr
	}
	if profile != nil {
		v.Profile = profile
	}
	if password != nil {
		password.hints = v.Password.hints
		v.Password = password
	}
	status := http.StatusBadRequest
	if err != nil {
		f := profile
		if f == nil {
			f = password
		}
		status = p.fail(c, v, f, err)
	} else {
		v.Summary = append(profileSummary(profile), profileSummary(password)...)
	}
	return p.render(c, status, "account", v)
}

func profileSummary(f *form) []summaryItem {
	if f == nil {
		return nil
	}
	return f.summary()
}

// device names a session's browser and system from its User-Agent, for
// people ("Firefox on Linux"); an agent it cannot read is shown shortened.
func device(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	}
	const max = 60
	if len(ua) > max {
		// Cut on a rune boundary.
		cut := max
		for cut > 0 && !utf8.RuneStart(ua[cut]) {
			cut--
		}
		return ua[:cut] + "…"
	}
	return ua
}

// sortSessions puts the current session first, then the most recently
// used.
func sortSessions(rows []sessionRow) {
	slices.SortStableFunc(rows, func(a, b sessionRow) int {
		switch {
		case a.Current != b.Current:
			if a.Current {
				return -1
			}
			return 1
		default:
			return b.LastUsedAt.Compare(a.LastUsedAt)
		}
	})
}
