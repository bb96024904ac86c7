package main

// Password reset by mail (SPEC sections 3 `mail` and 4), end to end: real
// gateways, real SMTP (internal/mailtest, with AUTH), both deployments.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers/gorillamux"
	"go.uber.org/zap"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/internal/mailtest"
)

// resetPublicURL is where the mailed links point; the tests read the
// token from the link and post it themselves.
const resetPublicURL = "https://gw.example.test"

// withMail sends the gateway's mail to srv, authenticating with the
// credentials in srv.URL(), which are recorded as secrets.
func (d *deployment) withMail(srv *mailtest.Server) func(*config.Config) {
	if u, err := url.Parse(srv.URL()); err == nil && u.User != nil {
		pw, _ := u.User.Password()
		d.secret(pw)
	}
	return func(c *config.Config) {
		c.Server.PublicURL = resetPublicURL
		c.Mail.SMTPURL = srv.URL()
		c.Mail.From = "Gateway <gateway@example.com>"
	}
}

// forgot posts POST /auth/password/forgot {email}.
func (in *instance) forgot(t testing.TB, email string, h http.Header) *response {
	t.Helper()
	return in.send(t, request{method: http.MethodPost, path: "/auth/password/forgot", header: h,
		json: map[string]any{"email": email}})
}

// resetWith posts POST /auth/password/reset {token, new_password}.
func (in *instance) resetWith(t testing.TB, token, pw string) *response {
	t.Helper()
	return in.send(t, request{method: http.MethodPost, path: "/auth/password/reset",
		json: map[string]any{"token": token, "new_password": pw}})
}

// mailedToken waits for the next mail, checks that it is a reset mail to
// email with a link under resetPublicURL (sent with AUTH when srv requires
// it), records its token as a secret and returns it.
func (d *deployment) mailedToken(t testing.TB, srv *mailtest.Server, email string) string {
	t.Helper()
	m := srv.Wait(10 * time.Second)
	if len(m.EnvelopeTo) != 1 || m.EnvelopeTo[0] != email {
		t.Fatalf("mail to %q, want %s", m.EnvelopeTo, email)
	}
	if u, _ := url.Parse(srv.URL()); u.User != nil && m.AuthUser != u.User.Username() {
		t.Errorf("the gateway authenticated as %q, want %q", m.AuthUser, u.User.Username())
	}
	link := m.ResetLink()
	if !strings.HasPrefix(link, resetPublicURL+"/auth/password/reset?token=") {
		t.Fatalf("reset link %q, want one under %s", link, resetPublicURL)
	}
	if !strings.Contains(m.HTML, link) || !strings.Contains(m.Text, "30 minutes") {
		t.Errorf("mail parts: text %q html %q", m.Text, m.HTML)
	}
	tok := m.ResetToken()
	d.secret(tok)
	return tok
}

// TestResetPasswordE2E: forgot → mail → reset on replica A; the old
// password is refused and the new one accepted; every session from before
// ends, on both replicas within the revocation bound, refresh included;
// the link works once.
func TestResetPasswordE2E(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		smtp := mailtest.Start(t, mailtest.WithAuth("gateway", "smtp-"+randomHex(t, 8)))
		a := d.start(t, d.withMail(smtp))
		b := d.start(t, d.withMail(smtp))

		u := a.register(t, "rita")
		onA, onB := a.login(t, u), b.login(t, u)
		a.get(t, "/api/reset/0", onA.Access).wantStatus(t, http.StatusOK)
		b.get(t, "/api/reset/0", onB.Access).wantStatus(t, http.StatusOK)
		// B has verified and cached both tokens now.
		b.get(t, "/api/reset/1", onA.Access).wantStatus(t, http.StatusOK)

		// Unknown and known addresses: the same answer, a mail for the
		// known one only.
		for _, email := range []string{"nobody-" + randomHex(t, 4) + "@example.com", strings.ToUpper(u.Email)} {
			r := a.forgot(t, email, nil)
			r.wantStatus(t, http.StatusAccepted)
			if len(r.body) != 0 {
				t.Errorf("forgot answered a body: %q", r.body)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("forgot Cache-Control %q", cc)
			}
		}
		tok := d.mailedToken(t, smtp, u.Email)

		newPW := newPassword(t)
		d.secret(newPW)
		a.resetWith(t, tok, newPW).wantStatus(t, http.StatusNoContent)

		a.send(t, request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": u.Email, "password": u.Password}}).
			wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
		old := u
		u.Password = newPW
		fresh := b.login(t, u)
		b.get(t, "/api/reset/2", fresh.Access).wantStatus(t, http.StatusOK)

		// Every old session: refused at once on A, within the bound on B.
		a.get(t, "/api/reset/3", onA.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
		a.get(t, "/api/reset/3", onB.Access).wantProblem(t, http.StatusUnauthorized, "invalid_token")
		for _, tk := range []tokens{onA, onB} {
			took := eventually(t, revocationDeadline, "B refuses an access token from before the reset", func() bool {
				return b.get(t, "/api/reset/poll", tk.Access).status == http.StatusUnauthorized
			})
			t.Logf("replica B refused an old access token %v after the reset on A", took)
			a.refresh(t, tk.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")
		}
		if d.up.received("/api/reset/3") {
			t.Error("an access token from before the reset reached the upstream")
		}
		// The session made after the reset lives on.
		a.get(t, "/api/reset/4", fresh.Access).wantStatus(t, http.StatusOK)

		// Once only; and not for the old password either.
		a.resetWith(t, tok, newPassword(t)).wantProblem(t, http.StatusBadRequest, "invalid_token")
		b.resetWith(t, tok, old.Password).wantProblem(t, http.StatusBadRequest, "invalid_token")
		b.login(t, u)

		// A link mailed before a password change is dead after it.
		a.forgot(t, u.Email, nil).wantStatus(t, http.StatusAccepted)
		stale := d.mailedToken(t, smtp, u.Email)
		changed := newPassword(t)
		d.secret(changed)
		a.send(t, request{method: http.MethodPost, path: "/auth/password", bearer: fresh.Access,
			json: map[string]any{"current_password": u.Password, "new_password": changed}}).wantStatus(t, http.StatusNoContent)
		b.resetWith(t, stale, newPassword(t)).wantProblem(t, http.StatusBadRequest, "invalid_token")

		// Tampered and malformed tokens.
		a.forgot(t, u.Email, nil).wantStatus(t, http.StatusAccepted)
		live := d.mailedToken(t, smtp, u.Email)
		flipped := "A"
		if live[5] == 'A' {
			flipped = "B"
		}
		for _, bad := range []string{live[:5] + flipped + live[6:], live[:len(live)-1], live + "x", "../../etc/passwd"} {
			a.resetWith(t, bad, newPassword(t)).wantProblem(t, http.StatusBadRequest, "invalid_token")
		}
		// A weak password leaves the token usable.
		r := a.resetWith(t, live, "short")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "new_password") {
			t.Errorf("weak password: %d %s, want 400 on new_password", r.status, r.body)
		}
		final := newPassword(t)
		d.secret(final)
		a.resetWith(t, live, final).wantStatus(t, http.StatusNoContent)

		audit := d.logs.FilterLoggerName("audit")
		if n := audit.FilterMessage("password_reset_done").FilterField(zap.String("result", "success")).
			FilterField(zap.String("user_id", u.ID)).Len(); n != 2 {
			t.Errorf("%d password_reset_done success lines for the user, want 2", n)
		}
		if n := audit.FilterMessage("password_reset_requested").FilterField(zap.String("result", "unknown_email")).Len(); n != 1 {
			t.Errorf("%d password_reset_requested unknown_email lines, want 1", n)
		}
		if n := smtp.Count(); n != 3 {
			t.Errorf("%d mails sent, want 3 (none for the unknown address)", n)
		}
	})
}

// TestResetRateLimitsE2E: forgot_per_account (counted for unknown addresses
// too) and forgot_per_ip answer 429 with Retry-After, from one address as
// the gateway sees it.
func TestResetRateLimitsE2E(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		smtp := mailtest.Start(t)
		gw := d.start(t, func(c *config.Config) {
			d.withMail(smtp)(c)
			c.Server.TrustedProxies = []string{"127.0.0.1"}
			c.RateLimits.ForgotPerAccount = config.Rate{Limit: 2, Window: time.Hour}
			c.RateLimits.ForgotPerIP = config.Rate{Limit: 3, Window: time.Hour}
		})
		u := gw.register(t, "sam")

		t.Run("per account", func(t *testing.T) {
			for _, email := range []string{u.Email, "ghost-" + randomHex(t, 4) + "@example.com"} {
				for i, ip := range []string{"203.0.113.1", "203.0.113.2"} {
					if r := gw.forgot(t, email, fromIP(ip)); r.status != http.StatusAccepted {
						t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
					}
				}
				// From a third address: the account's limit, not the IP's.
				gw.forgot(t, email, fromIP("203.0.113.3")).wantRateLimited(t, time.Hour)
			}
			if n := d.rateLimitedAudits("forgot_per_account"); n != 2 {
				t.Errorf("%d forgot_per_account refusals audited, want 2", n)
			}
		})
		t.Run("per ip", func(t *testing.T) {
			ip := fromIP("198.51.100.20")
			for i := range 3 {
				if r := gw.forgot(t, "p"+randomHex(t, 4)+"@example.com", ip); r.status != http.StatusAccepted {
					t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
				}
			}
			gw.forgot(t, "p"+randomHex(t, 4)+"@example.com", ip).wantRateLimited(t, time.Hour)
			gw.forgot(t, "p"+randomHex(t, 4)+"@example.com", fromIP("198.51.100.21")).wantStatus(t, http.StatusAccepted)
			if n := d.rateLimitedAudits("forgot_per_ip"); n != 1 {
				t.Errorf("%d forgot_per_ip refusals audited, want 1", n)
			}
		})
		// The user's first two requests were mailed, nothing else.
		d.mailedToken(t, smtp, u.Email)
		d.mailedToken(t, smtp, u.Email)
		time.Sleep(200 * time.Millisecond)
		if n := smtp.Count(); n != 2 {
			t.Errorf("%d mails, want 2", n)
		}
	})
}

// TestResetDevelopmentMailerE2E: without mail.smtp_url the link goes to the
// log, on the origin the request came to; that one log line is the only
// place the token appears (SPEC section 8), and it works.
func TestResetDevelopmentMailerE2E(t *testing.T) {
	d := newDeployment(t, backendSQLite)
	gw := d.start(t, func(c *config.Config) {
		c.Mail.SMTPURL, c.Server.PublicURL = "", ""
	})
	u := gw.register(t, "dev")
	gw.forgot(t, u.Email, nil).wantStatus(t, http.StatusAccepted)

	var text string
	eventually(t, 5*time.Second, "the logged mail", func() bool {
		for _, e := range d.logs.All() {
			if s, ok := e.ContextMap()["text"].(string); ok && e.ContextMap()["to"] == u.Email {
				text = s
				return true
			}
		}
		return false
	})
	m := mailtest.Message{Text: text}
	link := m.ResetLink()
	if !strings.HasPrefix(link, gw.URL+"/auth/password/reset?token=") {
		t.Fatalf("logged link %q, want one on %s", link, gw.URL)
	}
	tok := m.ResetToken()
	// Deliberately not d.secret(tok): logging it is this mailer's purpose.
	// But only its own line may hold it.
	holders := 0
	for _, e := range d.logs.All() {
		for _, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, tok) {
				holders++
			}
		}
	}
	if holders != 1 {
		t.Errorf("%d log fields hold the token, want 1 (the development mailer's)", holders)
	}
	pw := newPassword(t)
	d.secret(pw)
	gw.resetWith(t, tok, pw).wantStatus(t, http.StatusNoContent)
	u.Password = pw
	gw.login(t, u)

	// A Host the edge refuses never becomes a link: the Go server answers
	// 400 before the gateway sees it, so forge only a plausible one.
	r := gw.send(t, request{method: http.MethodPost, path: "/auth/password/forgot",
		header: http.Header{"X-Forwarded-Host": {"evil.example"}}, json: map[string]any{"email": u.Email}})
	r.wantStatus(t, http.StatusAccepted)
	time.Sleep(300 * time.Millisecond)
	for _, e := range d.logs.All() {
		if s, ok := e.ContextMap()["text"].(string); ok && strings.Contains(s, "evil.example") {
			t.Error("an untrusted peer's X-Forwarded-Host became the link's origin")
		}
	}
}

// TestResetOpenAPIConformance: the two endpoints as the document describes
// them, requests and answers validated.
func TestResetOpenAPIConformance(t *testing.T) {
	doc := loadOpenAPI(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	d := newDeployment(t, backendSQLite)
	smtp := mailtest.Start(t)
	gw := d.start(t, func(c *config.Config) {
		d.withMail(smtp)(c)
		c.RateLimits.ForgotPerAccount = config.Rate{Limit: 2, Window: time.Hour}
	})
	api := &apiChecker{t: t, in: gw, router: router}
	u := gw.register(t, "olive")
	post := func(path string, body any) request { return request{method: http.MethodPost, path: path, json: body} }

	api.do(post("/auth/password/forgot", map[string]any{"email": u.Email}), false).wantStatus(t, http.StatusAccepted)
	tok := d.mailedToken(t, smtp, u.Email)
	api.do(post("/auth/password/forgot", map[string]any{"email": "not an address"}), false).
		wantProblem(t, http.StatusBadRequest, "validation_failed")
	api.do(post("/auth/password/forgot", map[string]any{"email": u.Email, "extra": 1}), true).
		wantProblem(t, http.StatusBadRequest, "bad_request")
	api.do(post("/auth/password/forgot", map[string]any{}), true).wantProblem(t, http.StatusBadRequest, "validation_failed")
	api.do(request{method: http.MethodPost, path: "/auth/password/forgot", body: `{"email":"a@example.com","email":"b@example.com"}`,
		contentType: "application/json"}, false).wantProblem(t, http.StatusBadRequest, "bad_request")
	api.do(request{method: http.MethodPost, path: "/auth/password/forgot", body: `{"email":"a@example.com"}`,
		contentType: "text/plain"}, true).wantProblem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	api.do(post("/auth/password/forgot", map[string]any{"email": u.Email}), false).wantStatus(t, http.StatusAccepted)
	api.do(post("/auth/password/forgot", map[string]any{"email": u.Email}), false).wantRateLimited(t, time.Hour)
	d.mailedToken(t, smtp, u.Email)

	api.do(post("/auth/password/reset", map[string]any{"token": "nope", "new_password": newPassword(t)}), false).
		wantProblem(t, http.StatusBadRequest, "invalid_token")
	api.do(post("/auth/password/reset", map[string]any{"token": tok}), true).wantProblem(t, http.StatusBadRequest, "validation_failed")
	api.do(post("/auth/password/reset", map[string]any{"token": tok, "new_password": "password"}), false).
		wantStatus(t, http.StatusBadRequest)
	pw := newPassword(t)
	d.secret(pw)
	api.do(post("/auth/password/reset", map[string]any{"token": tok, "new_password": pw}), false).wantStatus(t, http.StatusNoContent)
	api.do(post("/auth/password/reset", map[string]any{"token": tok, "new_password": pw}), false).
		wantProblem(t, http.StatusBadRequest, "invalid_token")

	// Neither the malformed address nor the refused request was mailed.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := smtp.WaitContext(ctx); err == nil {
		t.Error("a mail beyond the two expected")
	}
}
