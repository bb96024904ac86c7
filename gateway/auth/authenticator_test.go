package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/password"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/gateway/token"
)

type noSessions struct{ session.Store } // nil: any call panics

// gatedFeed replays nothing until release is closed (a feed that is
// unreachable at start-up), then reports that it caught up and waits.
type gatedFeed struct{ release chan struct{} }

func (f gatedFeed) Publish(context.Context, session.Event) error { return nil }

func (f gatedFeed) Run(ctx context.Context, _ time.Time, _ func(session.Event), caughtUp func()) error {
	select {
	case <-f.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	caughtUp()
	<-ctx.Done()
	return ctx.Err()
}

// TestAuthenticateBeforeReplay: until the revocation view has replayed the
// feed, a request whose access token (Bearer or cookie) the view would have
// to clear gets 503 overloaded with Retry-After, also when the token is in
// the verified-token cache, and the cookies are neither dropped nor
// refreshed; an anonymous request is left to the policy. Audit finding: a
// replica started while Redis was unreachable accepted a token logged out
// on another replica (it failed open). After the replay the same token is
// accepted as before.
func TestAuthenticateBeforeReplay(t *testing.T) {
	issuer, verifier := hmacTokens(t, 0)
	hasher, err := password.New(config.Passwords{MemoryKiB: 64, Iterations: 1, Parallelism: 1, MaxConcurrent: 1, MaxWait: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feed := gatedFeed{release: make(chan struct{})}
	view, err := session.StartView(ctx, feed, session.ViewOptions{AccessTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// No session store and no users: a refresh at the edge would panic,
	// and none may happen while the view cannot decide.
	svc, err := NewService(Deps{
		Users: noUsers{}, Sessions: noSessions{}, Feed: feed, View: view,
		Issuer: issuer, Verifier: verifier, Hasher: hasher,
		Audit: zap.NewNop(), Logger: zap.NewNop(),
	}, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	cookies := config.Default().Cookies
	cookies.Secure = false
	authn, err := NewAuthenticator(svc, cookies, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := issuer.IssueAccess(token.AccessClaims{Subject: "user-1", SessionID: "sess-1"})
	if err != nil {
		t.Fatal(err)
	}
	// In the verified-token cache, as after a request on this replica.
	if _, err := verifier.VerifyCached(tok); err != nil {
		t.Fatal(err)
	}

	requests := []struct {
		name    string
		bearer  string
		cookies map[string]string
	}{
		{name: "bearer", bearer: tok},
		{name: "access cookie", cookies: map[string]string{cookies.AccessName: tok}},
		{name: "access and refresh cookies", cookies: map[string]string{cookies.AccessName: tok, cookies.RefreshName: "opaque-refresh"}},
	}
	newRequest := func(bearer string, cks map[string]string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/api/x", nil)
		if bearer != "" {
			r.Header.Set("Authorization", "Bearer "+bearer)
		}
		for name, value := range cks {
			r.AddCookie(&http.Cookie{Name: name, Value: value})
		}
		return r
	}

	for _, tc := range requests {
		t.Run("not replayed/"+tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			id, err := authn.Authenticate(w, newRequest(tc.bearer, tc.cookies))
			if id != nil {
				t.Errorf("accepted as %+v before the view replayed the feed", id)
			}
			p := problem.As(err)
			if p == nil || p.Status != http.StatusServiceUnavailable || p.Code != problem.Overloaded || p.RetryAfter <= 0 {
				t.Fatalf("error %v (%+v), want 503 overloaded with Retry-After", err, p)
			}
			if !errors.Is(err, session.ErrNotReady) {
				t.Errorf("error %v does not wrap session.ErrNotReady", err)
			}
			if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("cookies changed while the view cannot decide: %q", sc)
			}
		})
	}
	t.Run("not replayed/anonymous", func(t *testing.T) {
		id, err := authn.Authenticate(httptest.NewRecorder(), newRequest("", nil))
		if id != nil || err != nil {
			t.Errorf("anonymous request: %+v, %v; want no identity and no error (the policy decides)", id, err)
		}
	})

	close(feed.release)
	for deadline := time.Now().Add(5 * time.Second); !view.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("view not ready after the feed caught up")
		}
	}
	for _, tc := range requests[:2] {
		t.Run("replayed/"+tc.name, func(t *testing.T) {
			id, err := authn.Authenticate(httptest.NewRecorder(), newRequest(tc.bearer, tc.cookies))
			if err != nil || id == nil || id.UserID != "user-1" || id.SessionID != "sess-1" {
				t.Errorf("after the replay: %+v, %v; want user-1 in sess-1", id, err)
			}
		})
	}
}
