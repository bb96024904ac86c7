package problem

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestChallenge checks that every 401 carries a Bearer challenge (RFC 9110
// section 15.5.2), with error="invalid_token" only for a refused token
// (RFC 6750 section 3.1), and that no other status gets one.
func TestChallenge(t *testing.T) {
	tests := []struct {
		name   string
		p      *Problem
		preset string // WWW-Authenticate set before writing
		want   string
	}{
		{name: "no credentials", p: New(http.StatusUnauthorized, Unauthenticated, "authentication required"), want: ChallengeBearer},
		{name: "wrong password", p: New(http.StatusUnauthorized, InvalidCredentials, "email or password is incorrect"), want: ChallengeBearer},
		{name: "invalid token", p: New(http.StatusUnauthorized, InvalidToken, "the refresh token is invalid"), want: ChallengeInvalidToken},
		{name: "expired token", p: New(http.StatusUnauthorized, TokenExpired, "the access token has expired"), want: ChallengeInvalidToken},
		{name: "a value set by the caller is kept", p: New(http.StatusUnauthorized, Unauthenticated, "x"),
			preset: `Bearer realm="gateway", scope="admin"`, want: `Bearer realm="gateway", scope="admin"`},
		{name: "403 gets none", p: New(http.StatusForbidden, Forbidden, "no"), want: ""},
		{name: "400 with a token code gets none", p: New(http.StatusBadRequest, InvalidToken, "bad reset token"), want: ""},
	}
	for _, tt := range tests {
		for _, head := range []bool{false, true} {
			name := tt.name
			if head {
				name += "/HEAD"
			}
			t.Run(name, func(t *testing.T) {
				rec := httptest.NewRecorder()
				if tt.preset != "" {
					rec.Header().Set("WWW-Authenticate", tt.preset)
				}
				if head {
					WriteHead(rec, tt.p)
				} else {
					Write(rec, tt.p)
				}
				if rec.Code != tt.p.Status {
					t.Errorf("status %d, want %d", rec.Code, tt.p.Status)
				}
				if got := rec.Header().Values("WWW-Authenticate"); tt.want == "" && len(got) != 0 ||
					tt.want != "" && (len(got) != 1 || got[0] != tt.want) {
					t.Errorf("WWW-Authenticate %q, want [%q]", got, tt.want)
				}
				if head && rec.Body.Len() != 0 {
					t.Errorf("HEAD answer has a body: %q", rec.Body)
				}
			})
		}
	}
}

// TestWriteHeadHeaders checks that a HEAD answer has the header fields of
// the GET one.
func TestWriteHeadHeaders(t *testing.T) {
	p := New(http.StatusTooManyRequests, RateLimited, "slow down")
	p.RetryAfter = 1500 * time.Millisecond
	get, head := httptest.NewRecorder(), httptest.NewRecorder()
	Write(get, p)
	WriteHead(head, p)
	for _, name := range []string{"Content-Type", "Cache-Control", "X-Content-Type-Options", "Retry-After"} {
		if g, h := get.Header().Get(name), head.Header().Get(name); g != h || g == "" {
			t.Errorf("%s: GET %q, HEAD %q", name, g, h)
		}
	}
	if got := head.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2 (rounded up)", got)
	}
}
