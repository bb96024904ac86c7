package main

// Issue 9, end to end in a real browser: the React example
// (deploy/examples/react, built into dist/) served as the "web" upstream on
// "/" behind a real gateway with the repository's policy.csv, and a
// recording upstream standing in for the FastAPI backend on "/api". Headless
// Chromium goes through what a user does: open the app, get sent to the
// hosted login page, sign in, see the profile from /auth/me and what the
// backend received, get the admin link once an administrator grants the
// role, sign out, and be sent back to the login page.

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/internal/browsertest"
	"github.com/authgate/gateway/internal/testenv"
)

// reactDist is the built React example, from cmd/gateway.
var reactDist = filepath.Join("..", "..", "deploy", "examples", "react", "dist")

// spaServer serves the built files of a single-page app as a static web
// server would: a file when one exists, else index.html (the app's
// client-side routes).
func spaServer(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	root := os.DirFS(dir)
	files := http.FileServerFS(root)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if fi, err := fs.Stat(root, name); err != nil || fi.IsDir() {
			http.ServeFileFS(w, r, root, "index.html")
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// backendStandIn stands in for the FastAPI example (deploy/examples/fastapi)
// on /api: it records every request and answers GET /api/items as the
// example does, with the identity it read from the gateway's headers.
type backendStandIn struct{ rec recorder }

func (b *backendStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.rec.mu.Lock()
	b.rec.reqs = append(b.rec.reqs, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()})
	b.rec.mu.Unlock()
	var identity any // null: anonymous
	if id := r.Header.Get("X-Auth-User-Id"); id != "" {
		identity = backendIdentity{
			UserID:    id,
			Email:     r.Header.Get("X-Auth-User-Email"),
			Roles:     strings.Split(r.Header.Get("X-Auth-User-Roles"), ","),
			SessionID: r.Header.Get("X-Auth-Session-Id"),
			RequestID: r.Header.Get("X-Request-Id"),
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"items": []any{}, "identity": identity})
}

// backendIdentity is the identity the backend answers with.
type backendIdentity struct {
	UserID    string   `json:"user_id"`
	Email     string   `json:"email"`
	Roles     []string `json:"roles"`
	SessionID string   `json:"session_id"`
	RequestID string   `json:"request_id"`
}

func TestFrontendE2E(t *testing.T) {
	if _, err := os.Stat(filepath.Join(reactDist, "index.html")); err != nil {
		testenv.Unavailable(t, "the React example is not built ("+err.Error()+"): run `npm ci && npm run build` in deploy/examples/react")
	}
	b := browsertest.New(t)

	d := newDeployment(t, backendSQLite)
	web := spaServer(t, reactDist)
	api := &backendStandIn{}
	apiSrv := httptest.NewServer(api)
	t.Cleanup(apiSrv.Close)
	gw := d.start(t, func(c *config.Config) {
		// The seed's layout (README, "Put it in front of your app").
		c.Upstreams = []config.Upstream{
			{Name: "api", Prefix: "/api", URL: apiSrv.URL, Timeout: 10 * time.Second},
			{Name: "web", Prefix: "/", URL: web.URL, Timeout: 10 * time.Second},
		}
		withPolicy(repoPolicy(t))(c)
	})
	erin := gw.register(t, "erin")
	_, rootTk := gw.registerAs(t, "root", []string{"admin"})

	ctx := b.NewContext(t)
	onLoginPage := func(rd string) func(string) bool {
		return func(raw string) bool {
			u, err := url.Parse(raw)
			return err == nil && u.Path == "/auth/login" && u.Query().Get("rd") == rd
		}
	}

	// 1. The app's page is public, its ProtectedRoute is not: off to the
	// hosted login page, coming back to "/".
	browsertest.Navigate(t, ctx, gw.URL+"/")
	browsertest.WaitURL(t, ctx, "the login page with rd=/", onLoginPage("/"))
	browsertest.WaitVisible(t, ctx, "form#login-form")
	browsertest.Screenshot(t, ctx, "frontend-1-login")

	// 2. Sign in on the hosted page: back on the app, which shows the user
	// from /auth/me.
	browsertest.Fill(t, ctx, "#login-form input[name=email]", erin.Email)
	browsertest.Fill(t, ctx, "#login-form input[name=password]", erin.Password)
	browsertest.ClickNavigate(t, ctx, "#login-form button[type=submit]")
	browsertest.WaitURL(t, ctx, "the app's home page", func(raw string) bool {
		u, err := url.Parse(raw)
		return err == nil && u.Path == "/"
	})
	browsertest.WaitVisible(t, ctx, "#user-email")
	if got := browsertest.Text(t, ctx, "#user-email"); got != erin.Email {
		t.Fatalf("the profile shows %q, want %q", got, erin.Email)
	}
	if got := browsertest.Text(t, ctx, "#user-id"); got != erin.ID {
		t.Errorf("the profile shows user id %q, want %q", got, erin.ID)
	}
	if got := browsertest.Text(t, ctx, "#user-roles"); got != "user" {
		t.Errorf("the profile shows roles %q, want %q", got, "user")
	}
	// Tokens never touch JavaScript: the session cookies are HttpOnly.
	if dc := browsertest.DocumentCookie(t, ctx); strings.Contains(dc, "gw_") {
		t.Errorf("document.cookie shows the gateway's cookies: %q", dc)
	}
	for _, c := range browsertest.Cookies(t, ctx) {
		if strings.HasPrefix(c.Name, "gw_") {
			d.secret(c.Value)
			if !c.HTTPOnly {
				t.Errorf("cookie %s is not HttpOnly", c.Name)
			}
		}
	}
	browsertest.Screenshot(t, ctx, "frontend-2-signed-in")

	// 3. The backend call: the app shows what the backend answered, which
	// is what the gateway's identity headers told it.
	browsertest.WaitVisible(t, ctx, "#backend-response")
	if got := browsertest.Text(t, ctx, "#backend-status"); got != "200" {
		t.Fatalf("the backend call answered %s: %s", got, browsertest.Text(t, ctx, "#backend-response"))
	}
	var shown struct {
		Identity *backendIdentity `json:"identity"`
	}
	if err := json.Unmarshal([]byte(browsertest.Text(t, ctx, "#backend-response")), &shown); err != nil || shown.Identity == nil {
		t.Fatalf("the app shows no identity from the backend (%v): %s", err, browsertest.Text(t, ctx, "#backend-response"))
	}
	got := api.rec.last(t, "/api/items")
	for name, want := range map[string]string{
		"X-Auth-User-Id":    erin.ID,
		"X-Auth-User-Email": erin.Email,
		"X-Auth-User-Roles": "user",
	} {
		if v := got.Header.Get(name); v != want {
			t.Errorf("the backend received %s %q, want %q", name, v, want)
		}
	}
	if got.Header.Get("X-Auth-Session-Id") == "" || got.Header.Get("X-Auth-Assertion") == "" {
		t.Errorf("the backend received no session id or assertion: %v", got.Header)
	}
	if c := got.Header.Get("Cookie"); strings.Contains(c, "gw_") {
		t.Errorf("the gateway's cookies reached the backend: %q", c)
	}
	want := backendIdentity{UserID: erin.ID, Email: erin.Email, Roles: []string{"user"},
		SessionID: got.Header.Get("X-Auth-Session-Id"), RequestID: got.Header.Get("X-Request-Id")}
	if s := *shown.Identity; s.UserID != want.UserID || s.Email != want.Email || strings.Join(s.Roles, ",") != "user" ||
		s.SessionID != want.SessionID || s.RequestID != want.RequestID {
		t.Errorf("the app shows %+v, the backend received %+v", s, want)
	}

	// 4. Roles: no admin link for a plain user; an administrator grants the
	// role through the admin API, and on a reload the link is there.
	if browsertest.Exists(t, ctx, "#admin-link") {
		t.Fatal("a plain user sees the admin link")
	}
	r := gw.as(t, rootTk.Access, http.MethodPatch, "/auth/admin/users/"+erin.ID, map[string]any{"roles": []string{"user", "admin"}})
	r.wantStatus(t, http.StatusOK)
	granted := time.Now()
	for {
		browsertest.Navigate(t, ctx, gw.URL+"/")
		browsertest.WaitVisible(t, ctx, "#user-email")
		if browsertest.Exists(t, ctx, "#admin-link") {
			break
		}
		// Roles take effect within a second (SPEC section 5); a reload or
		// two is what a user needs.
		if time.Since(granted) > 5*time.Second {
			t.Fatalf("no admin link 5 s after the role was granted; roles shown: %q", browsertest.Text(t, ctx, "#user-roles"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the admin link appeared %v after the grant", time.Since(granted).Round(time.Millisecond))
	if got := browsertest.Text(t, ctx, "#user-roles"); got != "user, admin" {
		t.Errorf("the profile shows roles %q after the grant, want %q", got, "user, admin")
	}
	browsertest.Screenshot(t, ctx, "frontend-3-admin-link")
	// The admin page calls the admin API with the session cookie.
	browsertest.Click(t, ctx, "#admin-link")
	browsertest.WaitVisible(t, ctx, "#admin-users")
	if list := browsertest.Text(t, ctx, "#admin-users"); !strings.Contains(list, erin.Email) {
		t.Errorf("the admin page lists %q, without %s", list, erin.Email)
	}
	browsertest.Screenshot(t, ctx, "frontend-4-admin-page")

	// 5. Sign out: the protected page sends the browser to the login page,
	// and the session is over for the gateway too.
	browsertest.Navigate(t, ctx, gw.URL+"/")
	browsertest.WaitVisible(t, ctx, "#logout-button")
	browsertest.Click(t, ctx, "#logout-button")
	browsertest.WaitURL(t, ctx, "the login page with rd=/ after signing out", onLoginPage("/"))
	browsertest.WaitVisible(t, ctx, "form#login-form")
	for _, c := range browsertest.Cookies(t, ctx) {
		if strings.HasPrefix(c.Name, "gw_") {
			t.Errorf("cookie %s is still set after signing out", c.Name)
		}
	}
	browsertest.Screenshot(t, ctx, "frontend-5-signed-out")
	// Back to the app: sent to the login page again, without the app
	// calling the backend on the way.
	calls := api.rec.requestCount()
	browsertest.Navigate(t, ctx, gw.URL+"/")
	browsertest.WaitURL(t, ctx, "the login page with rd=/ on the next visit", onLoginPage("/"))
	browsertest.WaitVisible(t, ctx, "form#login-form")
	if n := api.rec.requestCount(); n != calls {
		t.Errorf("the signed-out app called the backend %d times", n-calls)
	}
}
