package main

// Issue 6, API documentation: gateway/auth/openapi.json describes every
// endpoint the gateway answers itself. The document is validated as an
// OpenAPI 3.1 document, then a scripted session through a real gateway
// checks EVERY request and response of the session against it with
// kin-openapi's openapi3filter, so that the document cannot drift from the
// handlers: a new field, status, content type or endpoint the document
// does not describe fails this test.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/auth"
)

// loadOpenAPI parses and validates the embedded document.
func loadOpenAPI(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(auth.OpenAPI)
	if err != nil {
		t.Fatalf("loading openapi.json: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi.json is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// TestOpenAPIDocument: the document is valid and describes every route
// the gateway registers under /auth, plus JWKS and the health endpoints.
func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	want := map[string][]string{
		"/auth/register":                  {"POST"},
		"/auth/login":                     {"POST"},
		"/auth/refresh":                   {"POST"},
		"/auth/logout":                    {"POST"},
		"/auth/me":                        {"GET", "PATCH"},
		"/auth/password":                  {"POST"},
		"/auth/sessions":                  {"GET"},
		"/auth/sessions/{id}":             {"DELETE"},
		"/auth/openapi.json":              {"GET"},
		"/auth/admin/users":               {"GET", "POST"},
		"/auth/admin/users/{id}":          {"GET", "PATCH"},
		"/auth/admin/users/{id}/sessions": {"GET", "DELETE"},
		"/.well-known/jwks.json":          {"GET"},
		"/healthz":                        {"GET", "HEAD"},
		"/readyz":                         {"GET", "HEAD"},
	}
	for path, methods := range want {
		item := doc.Paths.Value(path)
		if item == nil {
			t.Errorf("%s is not documented", path)
			continue
		}
		for _, m := range methods {
			if item.GetOperation(m) == nil {
				t.Errorf("%s %s is not documented", m, path)
			}
		}
	}
	// The routes the application actually registers: none undocumented.
	d := newDeployment(t, backendSQLite)
	gw := d.start(t, nil)
	e, ok := gw.app.server.Handler().(*echo.Echo)
	if !ok {
		t.Fatalf("the server's handler is a %T, not an *echo.Echo", gw.app.server.Handler())
	}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound || (!strings.HasPrefix(r.Path, "/auth") && r.Path != "/.well-known/jwks.json" &&
			r.Path != "/healthz" && r.Path != "/readyz") {
			continue
		}
		path := echoToOpenAPIPath(r.Path)
		item := doc.Paths.Value(path)
		method := r.Method
		if method == http.MethodHead && item != nil && item.GetOperation(method) == nil {
			// Every GET also answers HEAD (gateway.headRoutes), as the
			// document's description says.
			method = http.MethodGet
		}
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("route %s %s is served but not documented", r.Method, r.Path)
		}
	}
	codes := doc.Components.Schemas["ProblemCode"].Value.Enum
	for _, c := range []string{"invalid_credentials", "invalid_token", "token_expired", "unauthenticated", "forbidden",
		"rate_limited", "validation_failed", "email_taken", "weak_password", "account_disabled", "not_found",
		"bad_request", "payload_too_large", "unsupported_media_type", "upstream_unavailable", "upstream_timeout", "overloaded"} {
		found := false
		for _, e := range codes {
			found = found || e == c
		}
		if !found {
			t.Errorf("problem code %q missing from the ProblemCode enum", c)
		}
	}
}

// echoToOpenAPIPath turns /users/:id into /users/{id}.
func echoToOpenAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// apiChecker validates exchanges with a gateway against the document.
type apiChecker struct {
	t      *testing.T
	in     *instance
	router routers.Router
	n      int
}

// authenticate is the security check of the validator: a bearer scheme
// needs an Authorization: Bearer header, the cookie scheme its cookie. The
// gateway checks the credentials themselves.
func authenticate(_ context.Context, ai *openapi3filter.AuthenticationInput) error {
	r, s := ai.RequestValidationInput.Request, ai.SecurityScheme
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
			return nil
		}
		return errors.New("no bearer token")
	case s.Type == "apiKey" && s.In == "cookie":
		if _, err := r.Cookie(s.Name); err == nil {
			return nil
		}
		return errors.New("no " + s.Name + " cookie")
	}
	return errors.New("unknown security scheme " + ai.SecuritySchemeName)
}

// do sends r, validates the request (it must conform unless badRequest:
// then it must not, since the test sends something the document forbids)
// and always validates the response, status included.
func (c *apiChecker) do(r request, badRequest bool) *response {
	t := c.t
	t.Helper()
	c.n++
	var body []byte
	ct := r.contentType
	switch {
	case r.json != nil:
		var err error
		if body, err = json.Marshal(r.json); err != nil {
			t.Fatal(err)
		}
		ct = "application/json"
	case r.body != "":
		body = []byte(r.body)
	}
	req, err := http.NewRequest(r.method, c.in.URL+r.path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	for _, ck := range r.cookies {
		req.AddCookie(ck)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: no operation in the document: %v", r.method, r.path, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: authenticate, MultiError: true}
	reqIn := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), reqIn)
	switch {
	case reqErr != nil && !badRequest:
		t.Errorf("%s %s: the request does not conform to the document: %v", r.method, r.path, reqErr)
	case reqErr == nil && badRequest:
		t.Errorf("%s %s: the document accepts a request the test meant to be invalid", r.method, r.path)
	}

	res := c.in.send(t, r)

	resIn := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqIn,
		Status:                 res.status,
		Header:                 res.header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	resIn.SetBodyBytes(res.body)
	if err := openapi3filter.ValidateResponse(context.Background(), resIn); err != nil {
		t.Errorf("%s %s → %d: the response does not conform to the document: %v\nbody: %s", r.method, r.path, res.status, err, res.body)
	}
	return res
}

// TestOpenAPIConformance: a scripted session through a real gateway, every
// request and response validated against the document.
func TestOpenAPIConformance(t *testing.T) {
	doc := loadOpenAPI(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	d := newDeployment(t, backendSQLite)
	// Secure cookies, so that their names carry the __Host- prefix the
	// document's cookie security scheme names (the client sends them by
	// hand: over plain HTTP a jar would not).
	gw := d.start(t, func(c *config.Config) {
		withPolicy(repoPolicy(t))(c)
		c.Cookies.Secure = true
		c.Cookies.Domain = ""
	})
	api := &apiChecker{t: t, in: gw, router: router}
	access, refresh := "__Host-"+gw.cfg.Cookies.AccessName, "__Host-"+gw.cfg.Cookies.RefreshName
	post := func(path string, body any) request { return request{method: http.MethodPost, path: path, json: body} }

	// Meta endpoints.
	api.do(request{method: http.MethodGet, path: "/healthz"}, false).wantStatus(t, http.StatusOK)
	api.do(request{method: http.MethodHead, path: "/healthz"}, false).wantStatus(t, http.StatusOK)
	api.do(request{method: http.MethodGet, path: "/readyz"}, false).wantStatus(t, http.StatusOK)
	api.do(request{method: http.MethodGet, path: "/.well-known/jwks.json"}, false).wantStatus(t, http.StatusOK)
	served := api.do(request{method: http.MethodGet, path: "/auth/openapi.json"}, false)
	served.wantStatus(t, http.StatusOK)
	if !bytes.Equal(served.body, auth.OpenAPI) {
		t.Errorf("GET /auth/openapi.json does not serve the embedded document")
	}
	if ct := served.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /auth/openapi.json Content-Type %q, want application/json", ct)
	}
	if cc := served.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") || strings.Contains(cc, "no-store") {
		t.Errorf("GET /auth/openapi.json Cache-Control %q, want cacheable", cc)
	}
	if sdoc, err := openapi3.NewLoader().LoadFromData(served.body); err != nil {
		t.Errorf("the served document does not load: %v", err)
	} else if err := sdoc.Validate(context.Background()); err != nil {
		t.Errorf("the served document is invalid: %v", err)
	}

	// Registration, good and bad.
	alice := testUser{Email: "alice-" + randomHex(t, 4) + "@example.com", Password: newPassword(t)}
	d.secret(alice.Password)
	r := api.do(post("/auth/register", map[string]any{"email": alice.Email, "password": alice.Password, "name": "Alice"}), false)
	r.wantStatus(t, http.StatusCreated)
	alice.ID = r.object(t)["user"].(map[string]any)["id"].(string)
	api.do(post("/auth/register", map[string]any{"email": alice.Email, "password": alice.Password}), false).
		wantProblem(t, http.StatusConflict, "email_taken")
	api.do(post("/auth/register", map[string]any{"email": "x-" + randomHex(t, 4) + "@example.com"}), true).
		wantProblem(t, http.StatusBadRequest, "validation_failed")
	api.do(post("/auth/register", map[string]any{"email": "not an email", "password": newPassword(t)}), false).
		wantProblem(t, http.StatusBadRequest, "validation_failed")
	api.do(post("/auth/register", map[string]any{"email": "x@example.com", "password": "x", "admin": true}), true).
		wantProblem(t, http.StatusBadRequest, "bad_request")
	api.do(request{method: http.MethodPost, path: "/auth/register", body: `{"email":"x@example.com","password":"y"}`, contentType: "text/plain"}, true).
		wantProblem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	api.do(post("/auth/register", map[string]any{"email": "big@example.com", "password": newPassword(t), "name": strings.Repeat("n", auth.MaxBodyBytes)}), false).
		wantProblem(t, http.StatusRequestEntityTooLarge, "payload_too_large")
	api.do(post("/auth/register", map[string]any{"email": "w-" + randomHex(t, 4) + "@example.com", "password": "password123"}), false).
		wantStatus(t, http.StatusBadRequest)

	// Login, bearer mode.
	r = api.do(post("/auth/login", map[string]any{"email": alice.Email, "password": alice.Password}), false)
	r.wantStatus(t, http.StatusOK)
	tk := d.tokensOf(t, r)
	api.do(post("/auth/login", map[string]any{"email": alice.Email, "password": "wrong-" + randomHex(t, 4)}), false).
		wantProblem(t, http.StatusUnauthorized, "invalid_credentials")

	// Me.
	api.do(request{method: http.MethodGet, path: "/auth/me", bearer: tk.Access}, false).wantStatus(t, http.StatusOK)
	api.do(request{method: http.MethodGet, path: "/auth/me"}, true).wantProblem(t, http.StatusUnauthorized, "unauthenticated")
	api.do(request{method: http.MethodGet, path: "/auth/me", bearer: "not.a.jwt"}, false).wantProblem(t, http.StatusUnauthorized, "invalid_token")
	api.do(request{method: http.MethodPatch, path: "/auth/me", bearer: tk.Access, json: map[string]any{"name": "Alice B"}}, false).
		wantStatus(t, http.StatusOK)
	api.do(request{method: http.MethodPatch, path: "/auth/me", bearer: tk.Access, json: map[string]any{"name": nil, "email": nil}}, false).
		wantStatus(t, http.StatusOK)

	// Login, cookie mode; the cookies authenticate and refresh.
	r = api.do(post("/auth/login", map[string]any{"email": alice.Email, "password": alice.Password, "cookie": true}), false)
	r.wantStatus(t, http.StatusOK)
	ca, cr := r.cookie(access), r.cookie(refresh)
	if ca == nil || cr == nil || !ca.HttpOnly || !ca.Secure {
		t.Fatalf("cookie login did not set HttpOnly Secure %s and %s: %v", access, refresh, r.header.Values("Set-Cookie"))
	}
	d.secret(ca.Value, cr.Value)
	if m := r.object(t); m["access_token"] != nil || m["refresh_token"] != nil {
		t.Errorf("cookie login answered tokens in the body: %s", r.body)
	}
	jar := func() []*http.Cookie {
		return []*http.Cookie{{Name: access, Value: ca.Value}, {Name: refresh, Value: cr.Value}}
	}
	api.do(request{method: http.MethodGet, path: "/auth/me", cookies: jar()}, false).wantStatus(t, http.StatusOK)
	r = api.do(request{method: http.MethodPost, path: "/auth/refresh", cookies: jar()}, false)
	r.wantStatus(t, http.StatusOK)
	if ca, cr = r.cookie(access), r.cookie(refresh); ca == nil || cr == nil {
		t.Fatalf("cookie refresh set no cookies: %v", r.header.Values("Set-Cookie"))
	}
	d.secret(ca.Value, cr.Value)

	// A cookie request a browser sent from another origin is refused.
	api.do(request{method: http.MethodPost, path: "/auth/refresh", cookies: jar(),
		header: http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}}, false).
		wantProblem(t, http.StatusForbidden, "forbidden")

	// Refresh, bearer mode, and without any token.
	r = api.do(post("/auth/refresh", map[string]any{"refresh_token": tk.Refresh}), false)
	r.wantStatus(t, http.StatusOK)
	tk = d.tokensOf(t, r)
	api.do(request{method: http.MethodPost, path: "/auth/refresh"}, false).wantProblem(t, http.StatusUnauthorized, "unauthenticated")
	api.do(post("/auth/refresh", map[string]any{"refresh_token": "bogus"}), false).wantProblem(t, http.StatusUnauthorized, "invalid_token")

	// Sessions: list, end the cookie session, an unknown one.
	r = api.do(request{method: http.MethodGet, path: "/auth/sessions", bearer: tk.Access}, false)
	r.wantStatus(t, http.StatusOK)
	var list struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Sessions) < 2 {
		t.Fatalf("sessions: %v %s", err, r.body)
	}
	for _, s := range list.Sessions {
		if !s.Current {
			api.do(request{method: http.MethodDelete, path: "/auth/sessions/" + s.ID, bearer: tk.Access}, false).wantStatus(t, http.StatusNoContent)
			break
		}
	}
	api.do(request{method: http.MethodDelete, path: "/auth/sessions/no-such-session", bearer: tk.Access}, false).
		wantProblem(t, http.StatusNotFound, "not_found")

	// Password change: a wrong current password, a missing field, success.
	api.do(request{method: http.MethodPost, path: "/auth/password", bearer: tk.Access,
		json: map[string]any{"current_password": "wrong-" + randomHex(t, 4), "new_password": newPassword(t)}}, false).
		wantProblem(t, http.StatusForbidden, "invalid_credentials")
	api.do(request{method: http.MethodPost, path: "/auth/password", bearer: tk.Access,
		json: map[string]any{"current_password": alice.Password}}, true).wantProblem(t, http.StatusBadRequest, "validation_failed")
	newPw := newPassword(t)
	d.secret(newPw)
	api.do(request{method: http.MethodPost, path: "/auth/password", bearer: tk.Access,
		json: map[string]any{"current_password": alice.Password, "new_password": newPw}}, false).wantStatus(t, http.StatusNoContent)
	alice.Password = newPw

	// Logout: by refresh token, by bearer, everywhere.
	r = api.do(post("/auth/login", map[string]any{"email": alice.Email, "password": alice.Password}), false)
	other := d.tokensOf(t, r)
	api.do(post("/auth/logout", map[string]any{"refresh_token": other.Refresh}), false).wantStatus(t, http.StatusNoContent)
	api.do(request{method: http.MethodPost, path: "/auth/logout", bearer: tk.Access}, false).wantStatus(t, http.StatusNoContent)
	api.do(request{method: http.MethodPost, path: "/auth/logout", bearer: tk.Access}, false).wantProblem(t, http.StatusUnauthorized, "invalid_token")
	r = api.do(post("/auth/login", map[string]any{"email": alice.Email, "password": alice.Password}), false)
	tk = d.tokensOf(t, r)
	api.do(request{method: http.MethodPost, path: "/auth/logout?all=true", bearer: tk.Access}, false).wantStatus(t, http.StatusNoContent)
	api.do(request{method: http.MethodPost, path: "/auth/logout"}, false).wantProblem(t, http.StatusUnauthorized, "unauthenticated")

	// Admin API, as an admin of the default policy.
	root := testUser{Email: "root-" + randomHex(t, 4) + "@example.com", Password: newPassword(t)}
	d.secret(root.Password)
	r = api.do(post("/auth/register", map[string]any{"email": root.Email, "password": root.Password}), false)
	r.wantStatus(t, http.StatusCreated)
	root.ID = r.object(t)["user"].(map[string]any)["id"].(string)
	if _, err := gw.app.auth.SetRoles(context.Background(), "test-setup", root.ID, []string{"admin"}); err != nil {
		t.Fatalf("SetRoles: %v", err)
	}
	r = api.do(post("/auth/login", map[string]any{"email": root.Email, "password": root.Password}), false)
	r.wantStatus(t, http.StatusOK)
	adm := d.tokensOf(t, r)
	r = api.do(post("/auth/login", map[string]any{"email": alice.Email, "password": alice.Password}), false)
	tk = d.tokensOf(t, r)

	const users = "/auth/admin/users"
	r = api.do(request{method: http.MethodGet, path: users + "?limit=1", bearer: adm.Access}, false)
	r.wantStatus(t, http.StatusOK)
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	_ = json.Unmarshal(r.body, &page)
	if page.NextCursor == "" {
		t.Fatalf("no next_cursor with limit=1: %s", r.body)
	}
	api.do(request{method: http.MethodGet, path: users + "?limit=1&cursor=" + page.NextCursor, bearer: adm.Access}, false).wantStatus(t, http.StatusOK)
	api.do(request{method: http.MethodGet, path: users + "?q=alice", bearer: adm.Access}, false).wantStatus(t, http.StatusOK)
	api.do(request{method: http.MethodGet, path: users + "?limit=0", bearer: adm.Access}, true).wantProblem(t, http.StatusBadRequest, "validation_failed")
	api.do(request{method: http.MethodGet, path: users + "?cursor=garbage", bearer: adm.Access}, false).wantProblem(t, http.StatusBadRequest, "validation_failed")
	api.do(request{method: http.MethodGet, path: users, bearer: tk.Access}, false).wantProblem(t, http.StatusForbidden, "forbidden")
	api.do(request{method: http.MethodGet, path: users}, true).wantProblem(t, http.StatusUnauthorized, "unauthenticated")

	bobEmail := "bob-" + randomHex(t, 4) + "@example.com"
	r = api.do(request{method: http.MethodPost, path: users, bearer: adm.Access,
		json: map[string]any{"email": bobEmail, "name": "Bob", "roles": []string{"editor"}}}, false)
	r.wantStatus(t, http.StatusCreated)
	bobID := r.object(t)["user"].(map[string]any)["id"].(string)
	api.do(request{method: http.MethodPost, path: users, bearer: adm.Access,
		json: map[string]any{"email": "carol-" + randomHex(t, 4) + "@example.com", "password": newPassword(t), "roles": nil}}, false).
		wantStatus(t, http.StatusCreated)
	api.do(request{method: http.MethodPost, path: users, bearer: adm.Access, json: map[string]any{"email": bobEmail}}, false).
		wantProblem(t, http.StatusConflict, "email_taken")
	api.do(request{method: http.MethodPost, path: users, bearer: adm.Access, json: map[string]any{"name": "nobody"}}, true).
		wantProblem(t, http.StatusBadRequest, "validation_failed")
	api.do(request{method: http.MethodGet, path: users + "/" + bobID, bearer: adm.Access}, false).wantStatus(t, http.StatusOK)
	api.do(request{method: http.MethodGet, path: users + "/no-such-user", bearer: adm.Access}, false).wantProblem(t, http.StatusNotFound, "not_found")
	api.do(request{method: http.MethodPatch, path: users + "/" + bobID, bearer: adm.Access,
		json: map[string]any{"roles": []string{"user"}, "name": "Robert", "disabled": true}}, false).wantStatus(t, http.StatusOK)
	api.do(request{method: http.MethodPatch, path: users + "/" + bobID, bearer: adm.Access,
		json: map[string]any{"disabled": false, "roles": nil, "name": nil}}, false).wantStatus(t, http.StatusOK)
	api.do(request{method: http.MethodPatch, path: users + "/" + bobID, bearer: adm.Access,
		json: map[string]any{"disabled": "yes"}}, true).wantProblem(t, http.StatusBadRequest, "bad_request")
	api.do(request{method: http.MethodGet, path: users + "/" + alice.ID + "/sessions", bearer: adm.Access}, false).wantStatus(t, http.StatusOK)
	api.do(request{method: http.MethodDelete, path: users + "/" + alice.ID + "/sessions", bearer: adm.Access}, false).wantStatus(t, http.StatusNoContent)
	api.do(request{method: http.MethodGet, path: "/auth/me", bearer: tk.Access}, false).wantProblem(t, http.StatusUnauthorized, "invalid_token")

	// A disabled account cannot log in.
	api.do(request{method: http.MethodPatch, path: users + "/" + alice.ID, bearer: adm.Access, json: map[string]any{"disabled": true}}, false).
		wantStatus(t, http.StatusOK)
	api.do(post("/auth/login", map[string]any{"email": alice.Email, "password": alice.Password}), false).
		wantProblem(t, http.StatusForbidden, "account_disabled")

	if api.n < 60 {
		t.Errorf("only %d exchanges validated", api.n)
	}
	t.Logf("%d exchanges validated against openapi.json", api.n)
}

// TestOpenAPIValidatorStrict: the validator the conformance test relies on
// does refuse answers the document does not describe, so that a passing
// conformance test means something.
func TestOpenAPIValidatorStrict(t *testing.T) {
	doc := loadOpenAPI(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://gw.test/auth/me", nil)
	req.Header.Set("Authorization", "Bearer x")
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	reqIn := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: authenticate}}
	if err := openapi3filter.ValidateRequest(context.Background(), reqIn); err != nil {
		t.Fatalf("a valid request refused: %v", err)
	}
	user := `{"id":"u1","email":"a@example.com","name":"A","roles":[],"created_at":"2026-01-02T03:04:05Z"}`
	problemBody := `{"type":"about:blank","title":"Unauthorized","status":401,"code":"unauthenticated"}`
	cases := []struct {
		name, ct, body string
		status         int
		ok             bool
	}{
		{"valid user", "application/json", user, 200, true},
		{"valid problem", "application/problem+json", problemBody, 401, true},
		{"extra field", "application/json", strings.Replace(user, `"id"`, `"password_hash":"x","id"`, 1), 200, false},
		{"missing field", "application/json", strings.Replace(user, `"name":"A",`, "", 1), 200, false},
		{"wrong type", "application/json", strings.Replace(user, `"roles":[]`, `"roles":"admin"`, 1), 200, false},
		{"bad timestamp", "application/json", strings.Replace(user, "2026-01-02T03:04:05Z", "yesterday", 1), 200, false},
		{"unknown code", "application/problem+json", strings.Replace(problemBody, "unauthenticated", "nope", 1), 401, false},
		{"problem as JSON", "application/json", problemBody, 401, false},
		{"undocumented success status", "application/json", user, 201, false},
	}
	for _, c := range cases {
		in := &openapi3filter.ResponseValidationInput{RequestValidationInput: reqIn, Status: c.status,
			Header: http.Header{"Content-Type": {c.ct}}, Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		in.SetBodyBytes([]byte(c.body))
		err := openapi3filter.ValidateResponse(context.Background(), in)
		if (err == nil) != c.ok {
			t.Errorf("%s: validation error %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
