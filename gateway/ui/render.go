package ui

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/authgate/gateway/gateway/auth"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/scope"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the page templates; each is parsed with the layout and the
// partials into a set of its own.
var pageNames = []string{"login", "register", "account", "forgot", "reset"}

type templates map[string]*template.Template

func parseTemplates() (templates, error) {
	funcs := template.FuncMap{"field": newField, "when": formatTime}
	t := templates{}
	for _, name := range pageNames {
		tt, err := template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parsing %s: %w", name, err)
		}
		t[name] = tt
	}
	return t, nil
}

// contentSecurityPolicy allows the pages exactly what they use: the
// stylesheet of this origin and form posts to it. No script of any kind
// (the pages have none), no inline style, no framing, no <base>.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// setPageHeaders marks a page answer: never cached (it shows personal data
// and is the answer to credentials), never framed (clickjacking), no
// referrer (the reset page's URL holds the reset token).
func setPageHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// view is what a page template renders.
type view struct {
	Title string
	// Wide widens the card (the account page's table).
	Wide bool
	CSS  string
	// Notice says what just happened (p#notice).
	Notice string
	// Summary lists the errors (div#error-summary).
	Summary []summaryItem
	// Form is the page's form (the account page has Profile and Password).
	Form *form
	// RD is the validated rd (the hidden input, and the links' ?rd=).
	RD                  string
	RegistrationEnabled bool

	// Account page.
	Email    string
	Profile  *form
	Password *form
	Sessions []sessionRow
	// Forgot page: the link has been sent (the form gives way to links).
	Sent bool
	// Reset page.
	Token    string
	TokenBad bool
}

// summaryItem is one error of the summary; Field, when set, is the id of
// the input it links to.
type summaryItem struct {
	Field, Text string
}

// form holds what was entered into a form and what is wrong with it.
type form struct {
	values map[string]string
	errors map[string]string
	// order is the fields in page order: the summary follows it and the
	// first invalid one gets autofocus.
	order []string
	// labels name the fields in messages.
	labels map[string]string
	hints  map[string]string
	// focus overrides which field gets autofocus (a wrong password marks
	// no single field invalid).
	focus string
}

func newForm(order []string, labels map[string]string) *form {
	return &form{values: map[string]string{}, errors: map[string]string{}, order: order, labels: labels, hints: map[string]string{}}
}

// Invalid reports whether any field has an error.
func (f *form) Invalid() bool { return len(f.errors) > 0 || f.focus != "" }

// autofocus is the field to focus: the first invalid one.
func (f *form) autofocus() string {
	if f.focus != "" {
		return f.focus
	}
	for _, n := range f.order {
		if f.errors[n] != "" {
			return n
		}
	}
	return ""
}

// set records the error msg (a fragment such as "must contain an @") of
// field name, phrased with its label.
func (f *form) set(name, msg string) {
	label, ok := f.labels[name]
	if !ok {
		label = name
	}
	f.errors[name] = sentence(label + " " + msg)
}

// summary lists the field errors in page order.
func (f *form) summary() []summaryItem {
	var items []summaryItem
	for _, n := range f.order {
		if msg := f.errors[n]; msg != "" {
			items = append(items, summaryItem{Field: n, Text: msg})
		}
	}
	return items
}

// fieldView is one labelled input as the "field" template renders it.
type fieldView struct {
	Name, Label, Type, Autocomplete string
	Value, Error, Hint              string
	Autofocus                       bool
}

// Describedby is the ids of the hint and the error, for aria-describedby.
func (v fieldView) Describedby() string {
	var ids []string
	if v.Hint != "" {
		ids = append(ids, v.Name+"-hint")
	}
	if v.Error != "" {
		ids = append(ids, v.Name+"-error")
	}
	return strings.Join(ids, " ")
}

// newField is the template function "field": f's state of input name.
// Passwords are never filled back in.
func newField(f *form, name, label, typ, autocomplete string) fieldView {
	v := fieldView{Name: name, Label: label, Type: typ, Autocomplete: autocomplete,
		Error: f.errors[name], Hint: f.hints[name], Autofocus: f.autofocus() == name}
	if typ != "password" {
		v.Value = f.values[name]
	}
	return v
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// render writes page name with status.
func (p *Pages) render(c echo.Context, status int, name string, v *view) error {
	v.CSS = p.css.path
	v.RegistrationEnabled = p.opts.RegistrationEnabled
	if v.Form != nil && len(v.Summary) == 0 {
		v.Summary = v.Form.summary()
	}
	var buf bytes.Buffer
	if err := p.tmpl[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		return problem.Wrap(http.StatusInternalServerError, problem.Internal, "internal error", fmt.Errorf("ui: rendering %s: %w", name, err))
	}
	h := c.Response().Header()
	setPageHeaders(h)
	// A 401 page (a wrong password) needs a challenge like every 401 (RFC
	// 9110 section 15.5.2), the one problem answers get; browsers show no
	// prompt for Bearer.
	problem.SetChallenge(h, &problem.Problem{Status: status})
	return c.HTMLBlob(status, buf.Bytes())
}

// redirect answers 303 to target (a path of this origin).
func (p *Pages) redirect(c echo.Context, target string) error {
	setPageHeaders(c.Response().Header())
	return c.Redirect(http.StatusSeeOther, target)
}

// fail puts err on the page: field errors beside their fields, the rest
// in the summary. It returns the status to answer with: the problem's own
// (4xx for what the user can fix), 500 for a technical failure, which is
// logged and shown as a generic message.
func (p *Pages) fail(c echo.Context, v *view, f *form, err error) int {
	pr := problem.As(err)
	if pr == nil {
		p.log.Error("page request failed", zap.String("path", c.Request().URL.Path), zap.Error(err))
		v.Summary = append(v.Summary, summaryItem{Text: "Something went wrong on our side. Please try again."})
		return http.StatusInternalServerError
	}
	if pr.Status >= http.StatusInternalServerError {
		p.log.Warn("page request failed", zap.String("path", c.Request().URL.Path), zap.Error(err))
	}
	wait := ""
	if pr.RetryAfter > 0 {
		secs := int64((pr.RetryAfter + time.Second - 1) / time.Second)
		c.Response().Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		unit := "seconds"
		if secs == 1 {
			unit = "second"
		}
		wait = fmt.Sprintf(" Try again in %d %s.", secs, unit)
	}
	switch {
	case pr.Code == problem.RateLimited:
		v.Summary = append(v.Summary, summaryItem{Text: "Too many attempts." + wait})
		return pr.Status
	case pr.Code == problem.Overloaded:
		if wait == "" {
			wait = " Try again shortly."
		}
		v.Summary = append(v.Summary, summaryItem{Text: "The service is busy." + wait})
		return pr.Status
	}
	known := false
	if f != nil {
		for name, msg := range pr.Errors {
			if _, ok := f.labels[name]; ok {
				f.set(name, msg)
				known = true
			}
		}
	}
	if known {
		v.Summary = append(v.Summary, f.summary()...)
	} else {
		v.Summary = append(v.Summary, summaryItem{Text: sentence(pr.Detail)})
	}
	return pr.Status
}

// readForm parses the urlencoded body of a form post (at most
// auth.MaxBodyBytes) and checks that every value is text.
func readForm(c echo.Context) (map[string]string, error) {
	r := c.Request()
	r.Body = http.MaxBytesReader(nil, r.Body, auth.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, problem.New(http.StatusRequestEntityTooLarge, problem.PayloadTooLarge, "the form is too large")
		}
		return nil, problem.Wrap(http.StatusBadRequest, problem.BadRequest, "the form could not be read", err)
	}
	out := map[string]string{}
	for k, vs := range r.PostForm {
		if len(vs) == 0 {
			continue
		}
		if !utf8.ValidString(vs[0]) || strings.ContainsRune(vs[0], 0) {
			return nil, problem.New(http.StatusBadRequest, problem.BadRequest, "the form contains characters that are not text")
		}
		out[k] = vs[0]
	}
	return out, nil
}

// require marks the fields that are empty in the input in with their
// "missing" message.
func (f *form) require(in, missing map[string]string) {
	for _, n := range f.order {
		if msg, ok := missing[n]; ok && strings.TrimSpace(in[n]) == "" {
			f.errors[n] = msg
		}
	}
}

// identity is the signed-in user of the request, or nil. A session the
// authenticator refuses (expired, revoked) is anonymous here: the page
// offers a login. Only a technical failure is an error.
func (p *Pages) identity(c echo.Context) (*scope.Identity, error) {
	id, err := p.browser.Authenticate(c.Response(), c.Request())
	if err != nil {
		if pr := problem.As(err); pr != nil && pr.Status < http.StatusInternalServerError {
			return nil, nil
		}
		return nil, err
	}
	if id != nil {
		if sc := scope.Of(c.Request()); sc != nil {
			sc.Identity = id
		}
	}
	return id, nil
}

// signedIn records a fresh login in the request's scope (access log).
func signedIn(c echo.Context, pair *auth.Pair) {
	if sc := scope.Of(c.Request()); sc != nil {
		sc.Identity = &scope.Identity{UserID: pair.User.ID, Email: pair.User.Email, Roles: pair.User.Roles, SessionID: pair.Session.ID}
	}
}
