package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/authgate/gateway/config"
)

// TestBadInput sends malformed and hostile requests to the account API:
// each gets its 4xx problem (status, code, application/problem+json), never
// a 500 or a hang.
func TestBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, nil)
		existing := gw.register(t, "grace")
		const jsonCT = "application/json"
		pw := newPassword(t)
		d.secret(pw)
		login := func(email, password string) string {
			return `{"email":` + quote(email) + `,"password":` + quote(password) + `}`
		}
		huge := strings.Repeat("p", 10_000)
		d.secret(huge)

		cases := []struct {
			name        string
			path        string
			contentType string
			body        string
			status      int
			code        string
			field       string // a field the errors map must name
		}{
			{"text/plain", "/auth/login", "text/plain", login("a@example.com", pw), 415, "unsupported_media_type", ""},
			// A form post to /auth/login or /auth/register is the hosted
			// page's submission (pages_e2e_test.go); on a JSON-only route
			// it is refused.
			{"form", "/auth/refresh", "application/x-www-form-urlencoded", "refresh_token=x", 415, "unsupported_media_type", ""},
			{"multipart", "/auth/register", "multipart/form-data; boundary=x", "--x--", 415, "unsupported_media_type", ""},
			{"no content type", "/auth/register", "", login("a@example.com", pw), 415, "unsupported_media_type", ""},
			{"JSON in latin1", "/auth/login", "application/json; charset=iso-8859-1", login("a@example.com", pw), 415, "unsupported_media_type", ""},
			{"refresh body as text/plain", "/auth/refresh", "text/plain", `{"refresh_token":"x"}`, 415, "unsupported_media_type", ""},
			{"malformed JSON", "/auth/login", jsonCT, `{"email":"a@example.com","password":`, 400, "bad_request", ""},
			{"empty body", "/auth/login", jsonCT, "", 400, "bad_request", ""},
			{"trailing object", "/auth/login", jsonCT, login("a@example.com", pw) + `{}`, 400, "bad_request", ""},
			{"trailing garbage", "/auth/login", jsonCT, login("a@example.com", pw) + `x`, 400, "bad_request", ""},
			{"duplicate key", "/auth/login", jsonCT, `{"email":"a@example.com","email":"b@example.com","password":"` + pw + `"}`, 400, "bad_request", ""},
			{"duplicate key by case", "/auth/login", jsonCT, `{"email":"a@example.com","EMAIL":"b@example.com","password":"` + pw + `"}`, 400, "bad_request", ""},
			{"duplicate key by escape", "/auth/register", jsonCT, `{"email":"a@example.com","\u0065mail":"b@example.com","password":"` + pw + `"}`, 400, "bad_request", ""},
			{"duplicate key by long s", "/auth/login", jsonCT, `{"email":"a@example.com","password":"x","pa\u017fsword":"y"}`, 400, "bad_request", ""},
			{"duplicate nested key", "/auth/login", jsonCT, `{"email":"a@example.com","password":"x","cookie":{"a":1,"A":2}}`, 400, "bad_request", ""},
			{"unknown field", "/auth/register", jsonCT, `{"email":"a@example.com","password":"` + pw + `","roles":["admin"]}`, 400, "bad_request", ""},
			{"array instead of object", "/auth/login", jsonCT, `[` + login("a@example.com", pw) + `]`, 400, "bad_request", ""},
			{"string instead of object", "/auth/login", jsonCT, `"hello"`, 400, "bad_request", ""},
			{"null instead of object", "/auth/login", jsonCT, `null`, 400, "bad_request", ""},
			{"wrong type: email number", "/auth/login", jsonCT, `{"email":1,"password":"` + pw + `"}`, 400, "bad_request", ""},
			{"wrong type: cookie string", "/auth/login", jsonCT, `{"email":"a@example.com","password":"` + pw + `","cookie":"yes"}`, 400, "bad_request", ""},
			{"refresh: wrong type", "/auth/refresh", jsonCT, `{"refresh_token":42}`, 400, "bad_request", ""},
			{"refresh: unknown field", "/auth/refresh", jsonCT, `{"refresh_token":"x","user":"y"}`, 400, "bad_request", ""},
			{"missing email", "/auth/login", jsonCT, `{"password":"` + pw + `"}`, 400, "validation_failed", "email"},
			{"missing password", "/auth/login", jsonCT, `{"email":"a@example.com"}`, 400, "validation_failed", "password"},
			{"register: missing both", "/auth/register", jsonCT, `{}`, 400, "validation_failed", "password"},
			{"1 MiB body", "/auth/login", jsonCT, `{"email":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "payload_too_large", ""},
			{"1 MiB refresh body", "/auth/refresh", jsonCT, `{"refresh_token":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "payload_too_large", ""},
			{"10,000-char password: login", "/auth/login", jsonCT, login(existing.Email, huge), 400, "validation_failed", "password"},
			{"10,000-char password: register", "/auth/register", jsonCT, login("huge@example.com", huge), 400, "validation_failed", "password"},
			{"email with a control character", "/auth/register", jsonCT, login("ctl\u0007char@example.com", pw), 400, "validation_failed", "email"},
			{"email with NUL", "/auth/register", jsonCT, login("nul\u0000byte@example.com", pw), 400, "validation_failed", "email"},
			{"email with a zero-width space", "/auth/register", jsonCT, login("zero\u200bwidth@example.com", pw), 400, "validation_failed", "email"},
			{"email with a right-to-left override", "/auth/register", jsonCT, login("rtl\u202eoverride@example.com", pw), 400, "validation_failed", "email"},
			{"email with a BOM", "/auth/register", jsonCT, login("\ufeffbom@example.com", pw), 400, "validation_failed", "email"},
			{"email without @", "/auth/register", jsonCT, login("nobody.example.com", pw), 400, "validation_failed", "email"},
			{"weak password: common", "/auth/register", jsonCT, login("henry@example.com", "qwerty123456"), 400, "weak_password", "password"},
			{"weak password: contains the email", "/auth/register", jsonCT, login("zebrakeeper@example.com", "my-Zebrakeeper-2024"), 400, "weak_password", "password"},
			{"weak password: repeated", "/auth/register", jsonCT, login("ivy@example.com", strings.Repeat("x", 16)), 400, "weak_password", "password"},
			{"password too short", "/auth/register", jsonCT, login("jack@example.com", "Sh0rt-pw"), 400, "validation_failed", "password"},
			{"duplicate registration", "/auth/register", jsonCT, login(existing.Email, pw), 409, "email_taken", "email"},
			{"duplicate registration, other spelling", "/auth/register", jsonCT, login("  "+strings.ToUpper(existing.Email)+" ", pw), 409, "email_taken", "email"},
			{"login: unknown email", "/auth/login", jsonCT, login("nobody-"+randomHex(t, 4)+"@example.com", pw), 401, "invalid_credentials", ""},
			{"login: wrong password", "/auth/login", jsonCT, login(existing.Email, pw), 401, "invalid_credentials", ""},
			{"login: invalid email", "/auth/login", jsonCT, login("not an email", pw), 401, "invalid_credentials", ""},
			{"refresh: unknown token", "/auth/refresh", jsonCT, `{"refresh_token":"` + strings.Repeat("A", 43) + `"}`, 401, "invalid_token", ""},
			{"refresh: no token at all", "/auth/refresh", "", "", 401, "unauthenticated", ""},
			{"logout: nothing to end", "/auth/logout", "", "", 401, "unauthenticated", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := gw.send(t, request{method: http.MethodPost, path: tc.path, body: tc.body, contentType: tc.contentType})
				p := r.wantProblem(t, tc.status, tc.code)
				if tc.field != "" && p.Errors[tc.field] == "" {
					t.Errorf("errors %v do not name the field %q", p.Errors, tc.field)
				}
				for field, msg := range p.Errors {
					// Messages are for people: no Go error text.
					if strings.HasPrefix(msg, "password:") || strings.HasPrefix(msg, "account:") || strings.Contains(msg, "json:") {
						t.Errorf("errors[%s] = %q reads like a Go error", field, msg)
					}
				}
			})
		}
	})
}

// quote is s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestEmailSpellings: an address registered with mixed case and white space
// is one account, found by any spelling; a second registration under
// another spelling is refused.
func TestEmailSpellings(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, nil)
		local := "Hank.Mixed-" + randomHex(t, 3)
		canonical := strings.ToLower(local) + "@example.com"
		pw := newPassword(t)
		d.secret(pw)

		r := gw.send(t, request{method: http.MethodPost, path: "/auth/register",
			json: map[string]any{"email": "  " + local + "@Example.COM\t", "password": pw}})
		r.wantStatus(t, http.StatusCreated)
		user := r.object(t)["user"].(map[string]any)
		if user["email"] != canonical {
			t.Fatalf("registered email %v, want %q", user["email"], canonical)
		}
		id := user["id"]

		for _, spelling := range []string{
			canonical,
			strings.ToUpper(canonical),
			" " + local + "@example.com ",
			// Fullwidth letters: NFKC makes them ASCII.
			strings.Replace(canonical, "h", "\uff48", 1),
		} {
			t.Run(spelling, func(t *testing.T) {
				r := gw.send(t, request{method: http.MethodPost, path: "/auth/login",
					json: map[string]any{"email": spelling, "password": pw}})
				r.wantStatus(t, http.StatusOK)
				if tk := d.tokensOf(t, r); tk.User["id"] != id {
					t.Errorf("login as %q found user %v, want %v", spelling, tk.User["id"], id)
				}
				gw.send(t, request{method: http.MethodPost, path: "/auth/register",
					json: map[string]any{"email": spelling, "password": newPassword(t)}}).
					wantProblem(t, http.StatusConflict, "email_taken")
			})
		}
	})
}

// TestRegistrationDisabled: with registration.enabled false, sign-up is
// refused (403) and login still works for existing accounts.
func TestRegistrationDisabled(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, nil)
		u := gw.register(t, "kate")
		gw.stop()
		gw = d.start(t, func(c *config.Config) { c.Registration.Enabled = false })
		gw.send(t, request{method: http.MethodPost, path: "/auth/register",
			json: map[string]any{"email": "new-" + randomHex(t, 4) + "@example.com", "password": newPassword(t)}}).
			wantProblem(t, http.StatusForbidden, "forbidden")
		gw.login(t, u)
	})
}
