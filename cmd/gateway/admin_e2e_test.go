package main

// Issue 4, end to end: the /auth/admin API (SPEC 4) behind the default
// policy.csv, on both storage backends and across replicas.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// adminUserDoc is a user as the admin API shows it.
type adminUserDoc struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Roles     []string  `json:"roles"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// adminUser decodes a bare user answer (GET, PATCH), or one wrapped in
// {"user": …} (POST) when wrapped is true.
func adminUser(t testing.TB, r *response, wrapped bool) adminUserDoc {
	t.Helper()
	var doc struct {
		User *adminUserDoc `json:"user"`
	}
	var u adminUserDoc
	var err error
	if wrapped {
		if err = json.Unmarshal(r.body, &doc); err == nil && doc.User == nil {
			err = fmt.Errorf("no user member")
		}
		if doc.User != nil {
			u = *doc.User
		}
	} else {
		err = json.Unmarshal(r.body, &u)
	}
	if err != nil || u.ID == "" {
		t.Fatalf("not a user document (%v): %s", err, r.body)
	}
	if strings.Contains(strings.ToLower(string(r.body)), "password") || strings.Contains(string(r.body), "$argon2") {
		t.Errorf("a user document shows password material: %s", r.body)
	}
	return u
}

// userPage is a GET /auth/admin/users answer.
type userPage struct {
	Users      []adminUserDoc `json:"users"`
	NextCursor *string        `json:"next_cursor"`
}

func listPage(t testing.TB, r *response) userPage {
	t.Helper()
	r.wantStatus(t, http.StatusOK)
	var p userPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("user list: %v: %s", err, r.body)
	}
	if p.Users == nil || p.NextCursor == nil {
		t.Fatalf("user list without users or next_cursor: %s", r.body)
	}
	if strings.Contains(strings.ToLower(string(r.body)), "password") {
		t.Errorf("the user list shows password material: %s", r.body)
	}
	return p
}

// as sends an admin API request with a bearer token ("" for anonymous).
func (in *instance) as(t testing.TB, bearer, method, path string, body any) *response {
	t.Helper()
	return in.send(t, request{method: method, path: path, bearer: bearer, json: body})
}

// TestAdminAPI: SPEC 4's user administration through the running gateway
// with the default policy: only admins reach it (anonymous 401, any other
// user 403, on every endpoint, before any effect), and each endpoint does
// what it says, answering bad input with 4xx problems and never 500.
func TestAdminAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, withPolicy(repoPolicy(t)))
		admin, adminTk := gw.registerAs(t, "root", []string{"admin"})
		const users = "/auth/admin/users"

		t.Run("non-admins refused", func(t *testing.T) {
			victim, victimTk := gw.registerAs(t, "vic", nil)
			_, editorTk := gw.registerAs(t, "ed", []string{"editor"})
			_, caseTk := gw.registerAs(t, "case", []string{"Admin", "ADMIN"})
			_, contrTk := gw.registerAs(t, "contr", []string{"contractor"})
			newEmail := "ghost-" + randomHex(t, 4) + "@example.com"
			endpoints := []struct {
				name, method, path string
				body               any
			}{
				{"list", http.MethodGet, users, nil},
				{"search", http.MethodGet, users + "?q=" + victim.Email, nil},
				{"create an admin", http.MethodPost, users, map[string]any{"email": newEmail, "roles": []string{"admin"}}},
				{"get", http.MethodGet, users + "/" + victim.ID, nil},
				{"make oneself admin", http.MethodPatch, users + "/" + victim.ID, map[string]any{"roles": []string{"admin"}}},
				{"disable the admin", http.MethodPatch, users + "/" + admin.ID, map[string]any{"disabled": true}},
				{"list sessions", http.MethodGet, users + "/" + admin.ID + "/sessions", nil},
				{"end sessions", http.MethodDelete, users + "/" + admin.ID + "/sessions", nil},
				{"get a malformed id", http.MethodGet, users + "/not-a-user", nil},
				{"the prefix itself", http.MethodGet, "/auth/admin", nil},
			}
			callers := []struct {
				name   string
				bearer string
				want   int
				code   string
			}{
				{"anonymous", "", http.StatusUnauthorized, "unauthenticated"},
				{"user", victimTk.Access, http.StatusForbidden, "forbidden"},
				{"editor (inherits user)", editorTk.Access, http.StatusForbidden, "forbidden"},
				{"role names differing in case", caseTk.Access, http.StatusForbidden, "forbidden"},
				{"contractor", contrTk.Access, http.StatusForbidden, "forbidden"},
			}
			for _, c := range callers {
				for _, ep := range endpoints {
					t.Run(c.name+"/"+ep.name, func(t *testing.T) {
						r := gw.as(t, c.bearer, ep.method, ep.path, ep.body)
						r.wantProblem(t, c.want, c.code)
						if c.want == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
							t.Errorf("401 with WWW-Authenticate %q, want a Bearer challenge", r.header.Get("WWW-Authenticate"))
						}
					})
				}
			}
			// An anonymous browser is sent to log in.
			r := gw.send(t, request{method: http.MethodGet, path: users, header: http.Header{"Accept": {"text/html"}}})
			r.wantStatus(t, http.StatusSeeOther)
			if loc := r.header.Get("Location"); loc != "/auth/login?rd=%2Fauth%2Fadmin%2Fusers" {
				t.Errorf("Location %q, want the login page with rd", loc)
			}

			// None of it had an effect.
			if p := listPage(t, gw.as(t, adminTk.Access, http.MethodGet, users+"?q="+newEmail, nil)); len(p.Users) != 0 {
				t.Errorf("a refused create created %v", p.Users)
			}
			if u := adminUser(t, gw.as(t, adminTk.Access, http.MethodGet, users+"/"+victim.ID, nil), false); !slices.Equal(u.Roles, []string{"user"}) {
				t.Errorf("a refused PATCH changed the roles to %v", u.Roles)
			}
			if u := adminUser(t, gw.as(t, adminTk.Access, http.MethodGet, users+"/"+admin.ID, nil), false); u.Disabled {
				t.Error("a refused PATCH disabled the admin")
			}
			gw.get(t, "/api/items", adminTk.Access).wantStatus(t, http.StatusOK)
			gw.get(t, "/api/items", victimTk.Access).wantStatus(t, http.StatusOK)
		})

		t.Run("list", func(t *testing.T) {
			prefix := "lst-" + randomHex(t, 4) + "-"
			var want []string
			for i := range 5 {
				email := fmt.Sprintf("%s%d@example.com", prefix, i)
				gw.as(t, adminTk.Access, http.MethodPost, users, map[string]any{"email": email}).wantStatus(t, http.StatusCreated)
				want = append(want, email)
			}
			// A neighbour that the prefix must not match.
			gw.as(t, adminTk.Access, http.MethodPost, users,
				map[string]any{"email": strings.TrimSuffix(prefix, "-") + "x@example.com"}).wantStatus(t, http.StatusCreated)

			var got []string
			cursor, pages := "", 0
			for {
				path := users + "?limit=2&q=" + prefix
				if cursor != "" {
					path += "&cursor=" + cursor
				}
				p := listPage(t, gw.as(t, adminTk.Access, http.MethodGet, path, nil))
				pages++
				if len(p.Users) > 2 {
					t.Fatalf("page %d has %d users, limit 2", pages, len(p.Users))
				}
				for _, u := range p.Users {
					got = append(got, u.Email)
					if u.ID == "" || u.CreatedAt.IsZero() || u.UpdatedAt.IsZero() || !slices.Equal(u.Roles, []string{"user"}) {
						t.Errorf("listed user %+v: want id, timestamps and the default roles", u)
					}
				}
				cursor = *p.NextCursor
				if cursor == "" {
					break
				}
				if pages > 5 {
					t.Fatal("pagination does not end")
				}
			}
			if !slices.Equal(got, want) || pages != 3 {
				t.Errorf("paged through %v in %d pages, want %v in 3", got, pages, want)
			}

			// The prefix is compared as emails are: case-insensitively.
			if p := listPage(t, gw.as(t, adminTk.Access, http.MethodGet, users+"?q="+strings.ToUpper(prefix), nil)); len(p.Users) != 5 || *p.NextCursor != "" {
				t.Errorf("upper-case prefix: %d users, next %q; want 5 and none", len(p.Users), *p.NextCursor)
			}
			if p := listPage(t, gw.as(t, adminTk.Access, http.MethodGet, users+"?q=nobody-"+randomHex(t, 4), nil)); len(p.Users) != 0 || *p.NextCursor != "" {
				t.Errorf("no match: %d users, next %q", len(p.Users), *p.NextCursor)
			}
			// Without q: everyone, the admin included.
			if p := listPage(t, gw.as(t, adminTk.Access, http.MethodGet, users+"?limit=500", nil)); !slices.ContainsFunc(p.Users, func(u adminUserDoc) bool { return u.ID == admin.ID }) {
				t.Error("the unfiltered list lacks the admin")
			}

			bad := []struct{ name, query, field string }{
				{"limit zero", "limit=0", "limit"},
				{"limit negative", "limit=-1", "limit"},
				{"limit too large", "limit=501", "limit"},
				{"limit not a number", "limit=ten", "limit"},
				{"cursor not base64", "cursor=%21%21", "cursor"},
				{"cursor forged", "cursor=" + b64url.EncodeToString([]byte("a@example.com\x00not-a-uuid")), "cursor"},
			}
			for _, tc := range bad {
				t.Run(tc.name, func(t *testing.T) {
					p := gw.as(t, adminTk.Access, http.MethodGet, users+"?"+tc.query, nil).wantProblem(t, http.StatusBadRequest, "validation_failed")
					if p.Errors[tc.field] == "" {
						t.Errorf("errors %v do not name %s", p.Errors, tc.field)
					}
				})
			}
		})

		t.Run("create", func(t *testing.T) {
			email := "made-" + randomHex(t, 4) + "@Example.COM"
			pw := newPassword(t)
			d.secret(pw)
			r := gw.as(t, adminTk.Access, http.MethodPost, users, map[string]any{"email": "  " + email, "password": pw, "name": "Made"})
			r.wantStatus(t, http.StatusCreated)
			made := adminUser(t, r, true)
			if made.Email != strings.ToLower(email) || made.Name != "Made" || !slices.Equal(made.Roles, []string{"user"}) || made.Disabled {
				t.Errorf("created %+v: want the normalised email, the name and the default roles", made)
			}
			tk := gw.login(t, testUser{ID: made.ID, Email: email, Password: pw})
			gw.get(t, "/api/items", tk.Access).wantStatus(t, http.StatusOK)

			// Without a password: roles as given; nobody can log in until a
			// password reset.
			email2 := "nopw-" + randomHex(t, 4) + "@example.com"
			r = gw.as(t, adminTk.Access, http.MethodPost, users, map[string]any{"email": email2, "roles": []string{"editor", "billing:read"}})
			r.wantStatus(t, http.StatusCreated)
			if u := adminUser(t, r, true); !slices.Equal(u.Roles, []string{"editor", "billing:read"}) {
				t.Errorf("created with roles %v, want [editor billing:read]", u.Roles)
			}
			for _, guess := range []string{"x", pw} {
				gw.send(t, request{method: http.MethodPost, path: "/auth/login", json: map[string]any{"email": email2, "password": guess}}).
					wantStatus(t, http.StatusUnauthorized)
			}

			bad := []struct {
				name   string
				body   map[string]any
				status int
				code   string
			}{
				{"weak password: repeated", map[string]any{"email": "w1-" + randomHex(t, 4) + "@example.com", "password": strings.Repeat("a", 16)}, 400, "weak_password"},
				{"weak password: has the email", map[string]any{"email": "walter@example.com", "password": "walter-and-more-1"}, 400, "weak_password"},
				{"short password", map[string]any{"email": "w2-" + randomHex(t, 4) + "@example.com", "password": "short"}, 400, "validation_failed"},
				{"duplicate email", map[string]any{"email": made.Email}, 409, "email_taken"},
				{"duplicate email, other case", map[string]any{"email": strings.ToUpper(made.Email)}, 409, "email_taken"},
				{"invalid email", map[string]any{"email": "not-an-email"}, 400, "validation_failed"},
				{"missing email", map[string]any{"name": "x"}, 400, "validation_failed"},
				{"bad role name", map[string]any{"email": "r-" + randomHex(t, 4) + "@example.com", "roles": []string{"has space"}}, 400, "validation_failed"},
				{"empty role name", map[string]any{"email": "r-" + randomHex(t, 4) + "@example.com", "roles": []string{""}}, 400, "validation_failed"},
				{"unknown field", map[string]any{"email": "u-" + randomHex(t, 4) + "@example.com", "disabled": true}, 400, "bad_request"},
				{"name too long", map[string]any{"email": "n-" + randomHex(t, 4) + "@example.com", "name": strings.Repeat("n", 201)}, 400, "validation_failed"},
			}
			for _, tc := range bad {
				t.Run(tc.name, func(t *testing.T) {
					if pw, ok := tc.body["password"].(string); ok && len(pw) >= 12 {
						d.secret(pw)
					}
					gw.as(t, adminTk.Access, http.MethodPost, users, tc.body).wantProblem(t, tc.status, tc.code)
					if e, ok := tc.body["email"].(string); ok && tc.status != http.StatusConflict {
						if p := listPage(t, gw.as(t, adminTk.Access, http.MethodGet, users+"?q="+e, nil)); len(p.Users) != 0 {
							t.Errorf("a refused create created %s", e)
						}
					}
				})
			}
			gw.send(t, request{method: http.MethodPost, path: users, bearer: adminTk.Access, body: "email=a@example.com",
				contentType: "application/x-www-form-urlencoded"}).wantProblem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
			gw.send(t, request{method: http.MethodPost, path: users, bearer: adminTk.Access, body: `{"email":`,
				contentType: "application/json"}).wantProblem(t, http.StatusBadRequest, "bad_request")
		})

		t.Run("get", func(t *testing.T) {
			u := adminUser(t, gw.as(t, adminTk.Access, http.MethodGet, users+"/"+admin.ID, nil), false)
			if u.ID != admin.ID || u.Email != admin.Email || !slices.Equal(u.Roles, []string{"admin"}) {
				t.Errorf("GET the admin: %+v", u)
			}
			// Ids that name nobody or are not ids at all: 404 or 400,
			// never a 500 (PostgreSQL would refuse a malformed uuid).
			ids := []struct {
				name, id string
				want     int
			}{
				{"unknown uuid", "7f0c4c54-7d0e-4a8e-9a39-1b4c8a0e2d11", 404},
				{"nil uuid", "00000000-0000-0000-0000-000000000000", 404},
				{"not a uuid", "bob", 404},
				{"number", "12345", 404},
				{"sql", "1'%20OR%20'1'='1", 404},
				{"long", strings.Repeat("f", 300), 404},
				{"uuid with junk", admin.ID + "x", 404},
				{"encoded slash", "a%2Fb", 400},
				{"encoded percent", "a%25b", 400},
				{"dot segment", "..", 400},
			}
			for _, tc := range ids {
				t.Run(tc.name, func(t *testing.T) {
					for _, ep := range []struct{ method, suffix string }{
						{http.MethodGet, ""}, {http.MethodPatch, ""}, {http.MethodGet, "/sessions"}, {http.MethodDelete, "/sessions"},
					} {
						var body any
						if ep.method == http.MethodPatch {
							body = map[string]any{"name": "x"}
						}
						r := gw.as(t, adminTk.Access, ep.method, users+"/"+tc.id+ep.suffix, body)
						code := "not_found"
						if tc.want == http.StatusBadRequest {
							code = "bad_request"
						}
						r.wantProblem(t, tc.want, code)
					}
				})
			}
			// An empty id ("/users/" is not the collection).
			gw.as(t, adminTk.Access, http.MethodGet, users+"/", nil).wantProblem(t, http.StatusNotFound, "not_found")
			gw.as(t, adminTk.Access, http.MethodPatch, users+"/", map[string]any{"name": "x"}).wantProblem(t, http.StatusNotFound, "not_found")
		})

		t.Run("patch", func(t *testing.T) {
			u, tk := gw.registerAs(t, "pat", nil)
			path := users + "/" + u.ID
			patch := func(body any) *response { return gw.as(t, adminTk.Access, http.MethodPatch, path, body) }
			current := func() adminUserDoc { return adminUser(t, gw.as(t, adminTk.Access, http.MethodGet, path, nil), false) }

			before := current()
			got := adminUser(t, patch(map[string]any{"name": "Patricia"}), false)
			if got.Name != "Patricia" || !slices.Equal(got.Roles, []string{"user"}) {
				t.Errorf("after the name patch: %+v", got)
			}
			if !got.UpdatedAt.After(before.UpdatedAt) {
				t.Errorf("updated_at %v did not advance from %v", got.UpdatedAt, before.UpdatedAt)
			}
			got = adminUser(t, patch(map[string]any{"roles": []string{"user", "editor"}}), false)
			if !slices.Equal(got.Roles, []string{"user", "editor"}) {
				t.Errorf("after the roles patch: %v", got.Roles)
			}
			// The user's token carries the old roles: refused, and a
			// refresh brings the new ones.
			gw.get(t, "/api/items/1", tk.Access).wantProblem(t, http.StatusUnauthorized, "token_expired")
			r := gw.refresh(t, tk.Refresh)
			r.wantStatus(t, http.StatusOK)
			fresh := d.tokensOf(t, r)
			gw.send(t, request{method: http.MethodPut, path: "/api/items/1", bearer: fresh.Access}).wantStatus(t, http.StatusOK)

			// Invalid patches change nothing, not even their valid fields.
			bad := []struct {
				name   string
				body   any
				status int
				code   string
				field  string
			}{
				{"bad role name", map[string]any{"roles": []string{"user", "bad role"}, "name": "Changed"}, 400, "validation_failed", "roles"},
				{"role name too long", map[string]any{"roles": []string{strings.Repeat("r", 65)}, "disabled": true}, 400, "validation_failed", "roles"},
				{"name too long", map[string]any{"name": strings.Repeat("n", 201), "roles": []string{"admin"}}, 400, "validation_failed", "name"},
				{"unknown field", map[string]any{"email": "other@example.com"}, 400, "bad_request", ""},
				{"roles not a list", map[string]any{"roles": "admin"}, 400, "bad_request", ""},
				{"disabled not a bool", map[string]any{"disabled": "yes"}, 400, "bad_request", ""},
				{"duplicate key", json.RawMessage(`{"name":"a","name":"b"}`), 400, "bad_request", ""},
			}
			for _, tc := range bad {
				t.Run(tc.name, func(t *testing.T) {
					pre := current()
					p := patch(tc.body).wantProblem(t, tc.status, tc.code)
					if tc.field != "" && p.Errors[tc.field] == "" {
						t.Errorf("errors %v do not name %s", p.Errors, tc.field)
					}
					if post := current(); post.Name != pre.Name || !slices.Equal(post.Roles, pre.Roles) || post.Disabled != pre.Disabled {
						t.Errorf("a refused patch changed the user: %+v -> %+v", pre, post)
					}
				})
			}
			gw.send(t, request{method: http.MethodPatch, path: path, bearer: adminTk.Access, body: "name=x",
				contentType: "text/plain"}).wantProblem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
			if got := adminUser(t, patch(map[string]any{}), false); got.Name != "Patricia" {
				t.Errorf("an empty patch changed the user: %+v", got)
			}

			// Disable, then enable.
			if got := adminUser(t, patch(map[string]any{"disabled": true}), false); !got.Disabled {
				t.Fatalf("after disabling: %+v", got)
			}
			eventually(t, revocationDeadline, "the disabled user's token is refused", func() bool {
				return gw.get(t, "/api/items/1", fresh.Access).status == http.StatusUnauthorized
			})
			gw.send(t, request{method: http.MethodPost, path: "/auth/login", json: map[string]any{"email": u.Email, "password": u.Password}}).
				wantProblem(t, http.StatusForbidden, "account_disabled")
			if got := adminUser(t, patch(map[string]any{"disabled": false}), false); got.Disabled {
				t.Fatalf("after enabling: %+v", got)
			}
			gw.get(t, "/api/items/1", gw.login(t, u).Access).wantStatus(t, http.StatusOK)
		})

		t.Run("sessions", func(t *testing.T) {
			u, tk1 := gw.registerAs(t, "ses", nil)
			tk2 := gw.login(t, u)
			_, other := gw.registerAs(t, "bystander", nil)
			path := users + "/" + u.ID + "/sessions"
			list := sessionList(t, gw.as(t, adminTk.Access, http.MethodGet, path, nil))
			var ids []string
			for _, s := range list {
				ids = append(ids, s.ID)
				if s.Current {
					t.Errorf("session %s is marked current in the admin's view", s.ID)
				}
			}
			slices.Sort(ids)
			want := []string{sidOf(t, tk1.Access), sidOf(t, tk2.Access)}
			slices.Sort(want)
			if !slices.Equal(ids, want) {
				t.Fatalf("sessions %v, want %v", ids, want)
			}

			gw.as(t, adminTk.Access, http.MethodDelete, path, nil).wantStatus(t, http.StatusNoContent)
			took := eventually(t, revocationDeadline, "the user's access tokens are refused", func() bool {
				return gw.get(t, "/api/items", tk1.Access).status == http.StatusUnauthorized &&
					gw.get(t, "/api/items", tk2.Access).status == http.StatusUnauthorized
			})
			t.Logf("access tokens refused %v after the admin ended the sessions", took)
			gw.get(t, "/api/items", tk1.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			gw.refresh(t, tk2.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			if l := sessionList(t, gw.as(t, adminTk.Access, http.MethodGet, path, nil)); len(l) != 0 {
				t.Errorf("%d sessions left after ending them all", len(l))
			}
			// Only that user's sessions.
			gw.get(t, "/api/items", other.Access).wantStatus(t, http.StatusOK)
			gw.get(t, "/api/items", adminTk.Access).wantStatus(t, http.StatusOK)
			// The user can log in again.
			gw.get(t, "/api/items", gw.login(t, u).Access).wantStatus(t, http.StatusOK)
		})

		t.Run("cross-site", func(t *testing.T) {
			browser, jar := gw.browser(t)
			gw.send(t, request{method: http.MethodPost, path: "/auth/login", client: browser,
				json: map[string]any{"email": admin.Email, "password": admin.Password, "cookie": true}}).wantStatus(t, http.StatusOK)
			d.secret(gw.jarCookie(jar, "gw_access"), gw.jarCookie(jar, "gw_refresh"))
			target, targetTk := gw.registerAs(t, "csrf", nil)

			email := "csrf-" + randomHex(t, 4) + "@example.com"
			cases := []struct {
				name   string
				method string
				path   string
				body   any
				header http.Header
				want   int
			}{
				{"create cross-site", http.MethodPost, users, map[string]any{"email": email, "roles": []string{"admin"}},
					http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
				{"create same-site", http.MethodPost, users, map[string]any{"email": email},
					http.Header{"Sec-Fetch-Site": {"same-site"}}, http.StatusForbidden},
				{"patch foreign Origin", http.MethodPatch, users + "/" + target.ID, map[string]any{"roles": []string{"admin"}},
					http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
				{"end sessions cross-site", http.MethodDelete, users + "/" + target.ID + "/sessions", nil,
					http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
				{"list cross-site (safe)", http.MethodGet, users, nil,
					http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusOK},
				{"patch same-origin", http.MethodPatch, users + "/" + target.ID, map[string]any{"name": "Same Origin"},
					http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {gw.URL}}, http.StatusOK},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					r := gw.send(t, request{method: tc.method, path: tc.path, json: tc.body, header: tc.header, client: browser})
					if tc.want == http.StatusForbidden {
						r.wantProblem(t, http.StatusForbidden, "forbidden")
						return
					}
					r.wantStatus(t, tc.want)
				})
			}
			if p := listPage(t, gw.as(t, adminTk.Access, http.MethodGet, users+"?q="+email, nil)); len(p.Users) != 0 {
				t.Errorf("a cross-site create created %v", p.Users)
			}
			got := adminUser(t, gw.as(t, adminTk.Access, http.MethodGet, users+"/"+target.ID, nil), false)
			if !slices.Equal(got.Roles, []string{"user"}) || got.Name != "Same Origin" {
				t.Errorf("target after the cross-site attempts: %+v", got)
			}
			gw.get(t, "/api/items", targetTk.Access).wantStatus(t, http.StatusOK)
		})

		t.Run("audit", func(t *testing.T) {
			r := gw.as(t, adminTk.Access, http.MethodPost, users, map[string]any{"email": "aud-" + randomHex(t, 4) + "@example.com"})
			r.wantStatus(t, http.StatusCreated)
			made := adminUser(t, r, true)
			path := users + "/" + made.ID
			gw.as(t, adminTk.Access, http.MethodPatch, path, map[string]any{"roles": []string{"editor"}}).wantStatus(t, http.StatusOK)
			gw.as(t, adminTk.Access, http.MethodPatch, path, map[string]any{"name": "Audited"}).wantStatus(t, http.StatusOK)
			gw.as(t, adminTk.Access, http.MethodPatch, path, map[string]any{"disabled": true}).wantStatus(t, http.StatusOK)
			gw.as(t, adminTk.Access, http.MethodDelete, path+"/sessions", nil).wantStatus(t, http.StatusNoContent)

			lines := d.audit()
			cases := []struct {
				name string
				want map[string]any
			}{
				{"create", map[string]any{"event": "admin_create_user", "result": "success", "actor_id": admin.ID, "user_id": made.ID}},
				{"role change", map[string]any{"event": "role_change", "result": "success", "actor_id": admin.ID, "user_id": made.ID}},
				{"name change", map[string]any{"event": "admin_update_user", "result": "success", "actor_id": admin.ID, "user_id": made.ID}},
				{"disable", map[string]any{"event": "user_disable", "result": "success", "actor_id": admin.ID, "user_id": made.ID, "disabled": true}},
				{"end sessions", map[string]any{"event": "admin_revoke_sessions", "result": "success", "actor_id": admin.ID, "user_id": made.ID}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					l, ok := findAudit(lines, tc.want)
					if !ok {
						t.Fatalf("no audit line with %v", tc.want)
					}
					if l.event != tc.want["event"] {
						t.Errorf("audit message %q, want %q", l.event, tc.want["event"])
					}
				})
			}
			if l, ok := findAudit(lines, map[string]any{"event": "role_change", "user_id": made.ID}); ok {
				if got := anyStrings(l.fields["roles"]); !slices.Equal(got, []string{"editor"}) {
					t.Errorf("role_change roles %v, want [editor]", got)
				}
			}
			for _, l := range lines {
				if id, ok := l.fields["actor_id"]; ok && id == "" {
					t.Errorf("admin audit line %q without an actor: %v", l.event, l.fields)
				}
			}
		})
	})
}

// TestAdminReplicas: two gateways sharing storage (as TestReplicas). An
// admin's role change or disabling through PATCH on replica A is seen by
// user U on replica B within SPEC 5's 1 s: B refuses U's old token as
// expired, U's refresh on B carries the new roles, a cookie-mode U on B is
// refreshed at the edge and the upstream sees the new roles; after
// disabling, B refuses U altogether. The backends run one after the other,
// so that the timing is not the other's load.
func TestAdminReplicas(t *testing.T) {
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) {
			d := newDeployment(t, backend)
			file := repoPolicy(t)
			a := d.start(t, withPolicy(file))
			b := d.start(t, withPolicy(file))
			_, adminTk := a.registerAs(t, "chief", []string{"admin"})
			u, tk := b.registerAs(t, "ulla", nil)
			path := "/auth/admin/users/" + u.ID

			b.get(t, "/api/items/1", tk.Access).wantStatus(t, http.StatusOK)
			if got := d.up.last(t, "/api/items/1").Header.Get("X-Auth-User-Roles"); got != "user" {
				t.Fatalf("roles before the change %q, want user", got)
			}
			b.send(t, request{method: http.MethodPut, path: "/api/items/1", bearer: tk.Access}).wantProblem(t, http.StatusForbidden, "forbidden")
			browser, jar := b.browser(t)
			b.send(t, request{method: http.MethodPost, path: "/auth/login", client: browser,
				json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}}).wantStatus(t, http.StatusOK)
			d.secret(b.jarCookie(jar, "gw_access"), b.jarCookie(jar, "gw_refresh"))
			b.send(t, request{method: http.MethodGet, path: "/api/items/browser/0", client: browser}).wantStatus(t, http.StatusOK)

			// Roles: PATCH on A.
			got := adminUser(t, a.as(t, adminTk.Access, http.MethodPatch, path, map[string]any{"roles": []string{"user", "editor"}}), false)
			if !slices.Equal(got.Roles, []string{"user", "editor"}) {
				t.Fatalf("PATCH answered roles %v", got.Roles)
			}
			took := eventually(t, revocationDeadline, "B refuses the token with the old roles", func() bool {
				return b.get(t, "/api/items/poll", tk.Access).status == http.StatusUnauthorized
			})
			t.Logf("replica B refused the stale token %v after the PATCH on A", took)
			b.get(t, "/api/items/2", tk.Access).wantProblem(t, http.StatusUnauthorized, "token_expired")

			r := b.refresh(t, tk.Refresh)
			r.wantStatus(t, http.StatusOK)
			fresh := d.tokensOf(t, r)
			if roles := anyStrings(fresh.User["roles"]); !slices.Equal(roles, []string{"user", "editor"}) {
				t.Errorf("the refresh on B answered roles %v, want [user editor]", roles)
			}
			if roles := anyStrings(jwtPart(t, fresh.Access, 1)["roles"]); !slices.Equal(roles, []string{"user", "editor"}) {
				t.Errorf("the refreshed token carries roles %v", roles)
			}
			b.send(t, request{method: http.MethodPut, path: "/api/items/3", bearer: fresh.Access}).wantStatus(t, http.StatusOK)
			if got := d.up.last(t, "/api/items/3").Header.Get("X-Auth-User-Roles"); got != "user,editor" {
				t.Errorf("upstream roles after the refresh %q, want user,editor", got)
			}

			// The browser on B: refreshed at the edge, new roles upstream,
			// and the editor's right in force.
			r = b.send(t, request{method: http.MethodGet, path: "/api/items/browser/1", client: browser})
			r.wantStatus(t, http.StatusOK)
			if r.cookie("gw_access") == nil {
				t.Error("the stale access cookie was not refreshed at the edge")
			}
			d.secret(b.jarCookie(jar, "gw_access"), b.jarCookie(jar, "gw_refresh"))
			if got := d.up.last(t, "/api/items/browser/1").Header.Get("X-Auth-User-Roles"); got != "user,editor" {
				t.Errorf("browser roles upstream %q, want user,editor", got)
			}
			b.send(t, request{method: http.MethodDelete, path: "/api/items/4", client: browser}).wantStatus(t, http.StatusOK)

			// Disabling: PATCH on A; U is refused on B.
			a.as(t, adminTk.Access, http.MethodPatch, path, map[string]any{"disabled": true}).wantStatus(t, http.StatusOK)
			took = eventually(t, revocationDeadline, "B refuses the disabled user", func() bool {
				return b.get(t, "/api/items/poll", fresh.Access).status == http.StatusUnauthorized
			})
			t.Logf("replica B refused the disabled user %v after the PATCH on A", took)
			b.refresh(t, fresh.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")
			// The disable's events (each session's end, then the stamp)
			// reach B one after the other: the first may have ended fresh's
			// session there before the browser's end arrives, a moment
			// later. Both must arrive within the deadline.
			var last *response
			eventually(t, revocationDeadline, "B refuses the disabled user's browser", func() bool {
				last = b.send(t, request{method: http.MethodGet, path: "/api/items/browser/2", client: browser})
				return last.status != http.StatusOK
			})
			last.wantProblem(t, http.StatusUnauthorized, "unauthenticated")
			b.send(t, request{method: http.MethodPost, path: "/auth/login", json: map[string]any{"email": u.Email, "password": u.Password}}).
				wantProblem(t, http.StatusForbidden, "account_disabled")
		})
	}
}
