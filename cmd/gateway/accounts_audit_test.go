package main

import (
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// auditEntry is one line of the "audit" logger, flattened.
type auditEntry struct {
	event  string
	fields map[string]any
}

func (d *deployment) audit() []auditEntry {
	var out []auditEntry
	for _, e := range d.logs.Filter(func(e observer.LoggedEntry) bool { return e.LoggerName == "audit" }).All() {
		out = append(out, auditEntry{event: e.Message, fields: e.ContextMap()})
	}
	return out
}

// findAudit returns the first audit line whose fields include every pair of
// want.
func findAudit(lines []auditEntry, want map[string]any) (auditEntry, bool) {
	for _, l := range lines {
		match := true
		for k, v := range want {
			if l.fields[k] != v {
				match = false
				break
			}
		}
		if match {
			return l, true
		}
	}
	return auditEntry{}, false
}

// TestAuditLog: every account event of SPEC 8 leaves an audit line saying
// who, what, the result and why, and no log line of any logger contains a
// password or a token the test used.
func TestAuditLog(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		d := newDeployment(t, backend)
		gw := d.start(t, nil)

		u := gw.register(t, "quinn")
		gw.send(t, request{method: http.MethodPost, path: "/auth/register",
			json: map[string]any{"email": u.Email, "password": newPassword(t)}}).wantStatus(t, http.StatusConflict)
		wrong := "Wrong-" + u.Password
		d.secret(wrong)
		gw.send(t, request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": u.Email, "password": wrong}}).wantStatus(t, http.StatusUnauthorized)
		gw.send(t, request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": "nobody-" + randomHex(t, 4) + "@example.com", "password": wrong}}).wantStatus(t, http.StatusUnauthorized)

		tk := gw.login(t, u)
		sid := sidOf(t, tk.Access)
		r := gw.refresh(t, tk.Refresh)
		r.wantStatus(t, http.StatusOK)
		tk2 := d.tokensOf(t, r)
		r = gw.refresh(t, tk2.Refresh)
		r.wantStatus(t, http.StatusOK)
		// A token two generations old is reuse whatever the grace.
		gw.refresh(t, tk.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")

		tk3 := gw.login(t, u)
		next := newPassword(t)
		d.secret(next)
		gw.send(t, request{method: http.MethodPost, path: "/auth/password", bearer: tk3.Access,
			json: map[string]any{"current_password": wrong, "new_password": next}}).wantStatus(t, http.StatusForbidden)
		gw.send(t, request{method: http.MethodPost, path: "/auth/password", bearer: tk3.Access,
			json: map[string]any{"current_password": u.Password, "new_password": next}}).wantStatus(t, http.StatusNoContent)
		gw.send(t, request{method: http.MethodPost, path: "/auth/logout", bearer: tk3.Access}).wantStatus(t, http.StatusNoContent)
		// Proxied traffic with a token, so that the access log has seen it.
		gw.get(t, "/api/audit", tk3.Access).wantStatus(t, http.StatusUnauthorized)

		lines := d.audit()
		cases := []struct {
			name string
			want map[string]any
		}{
			{"register", map[string]any{"event": "register", "result": "success", "user_id": u.ID, "email": u.Email}},
			{"register refused", map[string]any{"event": "register", "result": "failure", "reason": "email_taken"}},
			{"login success", map[string]any{"event": "login", "result": "success", "user_id": u.ID, "session_id": sid, "ip": "127.0.0.1"}},
			{"login failure: bad password", map[string]any{"event": "login", "result": "failure", "reason": "bad_password", "user_id": u.ID}},
			{"login failure: unknown email", map[string]any{"event": "login", "result": "failure", "reason": "unknown_email"}},
			{"refresh", map[string]any{"event": "refresh", "result": "success", "user_id": u.ID, "session_id": sid}},
			{"reuse detected", map[string]any{"event": "refresh", "result": "reuse_detected"}},
			{"password change refused", map[string]any{"event": "password_change", "result": "failure", "reason": "bad_password", "user_id": u.ID}},
			{"password change", map[string]any{"event": "password_change", "result": "success", "user_id": u.ID, "session_id": sidOf(t, tk3.Access)}},
			{"logout", map[string]any{"event": "logout", "result": "success", "user_id": u.ID, "session_id": sidOf(t, tk3.Access)}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				l, ok := findAudit(lines, tc.want)
				if !ok {
					t.Fatalf("no audit line with %v among %d audit lines", tc.want, len(lines))
				}
				if l.event != tc.want["event"] {
					t.Errorf("audit message %q, want the event name %q", l.event, tc.want["event"])
				}
			})
		}
		for _, l := range lines {
			if l.fields["event"] == nil || l.fields["result"] == nil {
				t.Errorf("audit line %q lacks event or result: %v", l.event, l.fields)
			}
		}
		if e := d.logs.FilterLevelExact(zapcore.ErrorLevel).Len(); e != 0 {
			t.Errorf("%d error-level log lines during ordinary account traffic:\n%s", e, d.warnings())
		}

		// Nothing secret anywhere in the logs: checked here, and for every
		// test at its end (newDeployment).
		d.checkSecrets(t)
		if !strings.Contains(d.logText.String(), `"logger":"audit"`) {
			t.Error("the JSON log has no audit lines")
		}
	})
}
