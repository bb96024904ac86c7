package auth

import (
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Forms answers the form posts of the hosted pages (gateway/ui). The pages
// of login, registration and password reset post their forms to their own
// path, which is also the JSON API's: one URL per action, usable without
// JavaScript. A POST whose body is application/x-www-form-urlencoded goes to
// the page, anything else to the API. Both sit behind apiGuard, so a form
// posted from another origin is refused before either sees it.
type Forms interface {
	Login(c echo.Context) error
	Register(c echo.Context) error
	ForgotPassword(c echo.Context) error
	ResetPassword(c echo.Context) error
}

// formOr returns a handler that sends form posts to form (when the pages
// are served) and everything else to api.
func (h *Handlers) formOr(api echo.HandlerFunc, form func(Forms) echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if h.Forms != nil && isFormPost(c.Request()) {
			return form(h.Forms)(c)
		}
		return api(c)
	}
}

// isFormPost reports whether r carries an HTML form body.
func isFormPost(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// ClientOf describes the caller of r for sessions, rate limits and the
// audit log.
func ClientOf(r *http.Request) Client { return clientOf(r) }

// StartBrowserSession sets the session cookies of pair on w: what a login
// in cookie mode answers.
func (a *Authenticator) StartBrowserSession(w http.ResponseWriter, pair *Pair) {
	a.cookies.set(w, pair, a.now())
}

// EndBrowserSession clears the session cookies.
func (a *Authenticator) EndBrowserSession(w http.ResponseWriter) {
	a.cookies.clear(w)
}

// Guard is the /auth API's guard (no-store, cross-origin refusal) for the
// routes the hosted pages register themselves, such as the account page's
// form posts.
func (a *Authenticator) Guard(next echo.HandlerFunc) echo.HandlerFunc { return a.apiGuard(next) }
