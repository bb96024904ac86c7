package auth

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/password"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/session"
	"github.com/authgate/gateway/gateway/token"
)

// reusingStore is a session store whose every rotation is a detected reuse
// of session revoked (nil: a store that does not say which session).
type reusingStore struct {
	session.Store // nil: any other call panics
	revoked       *session.Session
}

func (s reusingStore) Rotate(context.Context, string, time.Time) (*session.Session, string, error) {
	return s.revoked, "", session.ErrReused
}

// recordingFeed keeps what is published, or fails.
type recordingFeed struct {
	mu     sync.Mutex
	events []session.Event
	err    error
}

func (f *recordingFeed) Publish(_ context.Context, e session.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.events = append(f.events, e)
	return nil
}

func (f *recordingFeed) Run(ctx context.Context, _ time.Time, _ func(session.Event), _ func()) error {
	<-ctx.Done()
	return ctx.Err()
}

type noUsers struct{ Users } // nil: any call panics

// hmacTokens returns an issuer and a verifier of access tokens on one fixed
// HMAC key (accessTTL 0: the token package's default lifetime).
func hmacTokens(t *testing.T, accessTTL time.Duration) (*token.Issuer, *token.Verifier) {
	t.Helper()
	return clockedTokens(t, accessTTL, nil)
}

func newReuseService(t *testing.T, store session.Store, feed session.Feed) (*Service, *session.View, *observer.ObservedLogs) {
	t.Helper()
	issuer, verifier := hmacTokens(t, 0)
	hasher, err := password.New(config.Passwords{MemoryKiB: 64, Iterations: 1, Parallelism: 1, MaxConcurrent: 1, MaxWait: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	view, err := session.NewView(session.ViewOptions{AccessTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	svc, err := NewService(Deps{
		Users: noUsers{}, Sessions: store, Feed: feed, View: view,
		Issuer: issuer, Verifier: verifier, Hasher: hasher,
		Audit: zap.New(core).Named("audit"), Logger: zap.New(core).Named("auth"),
	}, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	return svc, view, logs
}

// TestRefreshReuseRevokesAccessTokens: a replayed refresh token ends the
// whole session, its access tokens included, here and (through the feed)
// on every replica, when the store names the session it revoked; the
// answer is a 401 either way, and a failing feed does not change it.
func TestRefreshReuseRevokesAccessTokens(t *testing.T) {
	named := &session.Session{ID: "sess-1", UserID: "user-1"}
	cases := []struct {
		name        string
		revoked     *session.Session
		feedErr     error
		wantRevoked bool
		wantEvents  int
	}{
		{"the store names the session", named, nil, true, 1},
		{"the store does not name it", nil, nil, false, 0},
		{"the feed is down", named, errors.New("redis: connection refused"), true, 0},
	}
	flows := map[string]func(*Service) error{
		"refresh": func(s *Service) error {
			_, err := s.Refresh(context.Background(), "stolen", Client{IP: "192.0.2.1"})
			return err
		},
		"logout by refresh token": func(s *Service) error {
			return s.LogoutRefresh(context.Background(), "stolen", false, Client{IP: "192.0.2.1"})
		},
	}
	for _, tc := range cases {
		for flow, run := range flows {
			t.Run(tc.name+"/"+flow, func(t *testing.T) {
				feed := &recordingFeed{err: tc.feedErr}
				svc, view, logs := newReuseService(t, reusingStore{revoked: tc.revoked}, feed)
				err := run(svc)
				if p := problem.As(err); p == nil || p.Status != http.StatusUnauthorized || p.Code != problem.InvalidToken {
					t.Fatalf("error %v, want 401 invalid_token", err)
				}
				revoked := errors.Is(view.Check("user-1", "sess-1", 0), session.ErrRevoked)
				if revoked != tc.wantRevoked {
					t.Errorf("this replica refuses the session's access tokens: %v, want %v", revoked, tc.wantRevoked)
				}
				if len(feed.events) != tc.wantEvents {
					t.Fatalf("published %d events, want %d", len(feed.events), tc.wantEvents)
				}
				if tc.wantEvents > 0 {
					if e := feed.events[0]; e.Kind != session.KindSessionRevoked || e.SessionID != "sess-1" || e.UserID != "user-1" {
						t.Errorf("published %+v", e)
					}
				}
				audit := logs.FilterLoggerName("audit").FilterMessage("refresh").FilterField(zap.String("result", "reuse_detected")).All()
				if len(audit) != 1 {
					t.Fatalf("%d reuse_detected audit lines, want 1", len(audit))
				}
				if sid := audit[0].ContextMap()["session_id"]; tc.revoked != nil && sid != "sess-1" {
					t.Errorf("audit line session_id %v, want sess-1", sid)
				}
			})
		}
	}
}
