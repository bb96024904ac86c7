package main

import (
	"net/http"
	"testing"

	"github.com/authgate/gateway/config"
)

// tokens.forward_access_token (SPEC section 6): the upstream receives an
// Authorization header only as the verified gateway token that
// authenticated the request, never the client's own header, and only when
// the option is on.
func TestForwardAccessToken(t *testing.T) {
	d := newDeployment(t, "sqlite+sql")
	off := d.start(t, nil)
	on := d.start(t, func(c *config.Config) { c.Tokens.ForwardAccessToken = true })
	u := off.register(t, "fwd")
	tk := off.login(t, u)

	t.Run("off: no Authorization reaches the upstream", func(t *testing.T) {
		off.get(t, "/api/off", tk.Access).wantStatus(t, http.StatusOK)
		if got := d.up.last(t, "/api/off").Header.Values("Authorization"); len(got) != 0 {
			t.Errorf("upstream received Authorization %q with forward_access_token off", got)
		}
	})
	t.Run("on: the verified bearer token is forwarded", func(t *testing.T) {
		on.get(t, "/api/on", tk.Access).wantStatus(t, http.StatusOK)
		if got := d.up.last(t, "/api/on").Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer "+tk.Access {
			t.Errorf("upstream received Authorization %q, want exactly the verified token", got)
		}
	})
	t.Run("on: the cookie's token is forwarded as a bearer token", func(t *testing.T) {
		browser, _ := on.browser(t)
		r := on.send(t, request{method: http.MethodPost, path: "/auth/login", client: browser,
			json: map[string]any{"email": u.Email, "password": u.Password, "cookie": true}})
		r.wantStatus(t, http.StatusOK)
		access := r.cookie("gw_access")
		if access == nil {
			t.Fatalf("no access cookie among %v", r.cookies)
		}
		d.secret(access.Value)
		on.send(t, request{method: http.MethodGet, path: "/api/cookie", client: browser}).wantStatus(t, http.StatusOK)
		if got := d.up.last(t, "/api/cookie").Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer "+access.Value {
			t.Errorf("upstream received Authorization %q, want the access cookie's token", got)
		}
	})
	t.Run("on: an anonymous request forwards nothing", func(t *testing.T) {
		// The client's own header is refused (not a gateway token), so
		// nothing can be smuggled through to the upstream.
		r := on.send(t, request{method: http.MethodGet, path: "/api/anon", header: http.Header{"Authorization": {"Basic YWRtaW46YWRtaW4="}}})
		r.wantStatus(t, http.StatusUnauthorized)
		if d.up.received("/api/anon") {
			t.Error("a request with a foreign Authorization header reached the upstream")
		}
	})
}
