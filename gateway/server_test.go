package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/problem"
)

func TestProxyForwardsToUpstream(t *testing.T) {
	rec := &recorder{}
	gw := startGateway(t, rec, nil)

	resp, err := http.Get(gw.URL + "/api/items/42?x=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "upstream ok" {
		t.Fatalf("got %d %q, want 200 from the upstream", resp.StatusCode, body)
	}
	got := rec.last(t)
	if got.RequestURI != "/api/items/42?x=1" {
		t.Errorf("upstream saw %q, want /api/items/42?x=1", got.RequestURI)
	}
	if id := resp.Header.Get("X-Request-Id"); id == "" || got.Header.Get("X-Request-Id") != id {
		t.Errorf("request id: response %q, upstream %q; want the same non-empty id", id, got.Header.Get("X-Request-Id"))
	}
}

// TestOptionsAsteriskIsRefused: "OPTIONS * HTTP/1.1" is a non-origin-form
// target, refused with the same 400 problem as the others (SPEC 6) and
// written to the access log. net/http answers it itself (200, empty body)
// before any handler unless DisableGeneralOptionsHandler is set, which let
// it past the guard and the access log. The admin listener answers it with
// its mux's plain 400 rather than net/http's 200.
func TestOptionsAsteriskIsRefused(t *testing.T) {
	const req = "OPTIONS * HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n"
	send := func(t *testing.T, addr string) (*http.Response, string) {
		t.Helper()
		return rawResponse(t, addr, req)
	}

	t.Run("public", func(t *testing.T) {
		withLog, logs := accessLog(t)
		rec := &recorder{}
		gw := startGateway(t, rec, nil, withLog)
		resp, body := send(t, gw.Addr)
		checkProblem(t, resp.StatusCode, resp.Header.Get("Content-Type"), body, http.StatusBadRequest, problem.BadRequest)
		if status := accessStatus(t, logs, "*"); status != http.StatusBadRequest {
			t.Errorf("access line status %d, want 400", status)
		}
		if rec.count() != 0 {
			t.Errorf("OPTIONS * reached the upstream")
		}
	})

	t.Run("admin", func(t *testing.T) {
		cfg := config.Default()
		cfg.Server.Addr, cfg.Server.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
		srv, err := New(Options{Config: &cfg, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		admin, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, pub, admin) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
		if resp, body := send(t, admin.Addr().String()); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("admin listener: OPTIONS * answered %d %q, want 400", resp.StatusCode, body)
		}
	})
}

// TestHeadRoutes: every own GET route answers HEAD as GET does (its route
// middleware and path parameters included, no body); an explicit HEAD
// route is kept; a path without GET gets no HEAD.
func TestHeadRoutes(t *testing.T) {
	mark := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set("X-Route-Middleware", "ran")
			return next(c)
		}
	}
	gw := startGateway(t, &recorder{}, nil, func(o *Options) {
		o.Routes = func(e *echo.Echo) {
			e.GET("/auth/thing/:id", func(c echo.Context) error {
				c.Response().Header().Set("X-Id", c.Param("id"))
				return c.String(http.StatusOK, "thing "+c.Param("id"))
			}, mark)
			e.POST("/auth/post-only", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
		}
	})
	for _, tc := range []struct {
		method, path string
		status       int
		header       map[string]string
	}{
		{http.MethodHead, "/auth/thing/42", http.StatusOK, map[string]string{"X-Id": "42", "X-Route-Middleware": "ran", "Content-Type": "text/plain; charset=UTF-8"}},
		{http.MethodHead, "/healthz", http.StatusOK, map[string]string{"Content-Type": "application/json"}},
		{http.MethodHead, "/auth/post-only", http.StatusMethodNotAllowed, map[string]string{"Allow": "OPTIONS, POST"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, gw.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || len(body) != 0 {
				t.Fatalf("status %d, body %q; want %d and no body", resp.StatusCode, body, tc.status)
			}
			for name, v := range tc.header {
				if got := resp.Header.Get(name); got != v {
					t.Errorf("%s = %q, want %q", name, got, v)
				}
			}
		})
	}
}

// TestOwnEndpointsAreBounded: a request to the gateway's own endpoints
// runs under a deadline (Options.OwnTimeout), so a store that stops
// answering (a partitioned database holds the connection open, and the
// call waits on the request's context) gives an answer, not a hang. A
// proxied request is not bounded by it: the upstream has its own timeout,
// and streams last.
func TestOwnEndpointsAreBounded(t *testing.T) {
	deadlines := make(chan bool, 2)
	stuck := func(c echo.Context) error {
		_, ok := c.Request().Context().Deadline()
		deadlines <- ok
		<-c.Request().Context().Done() // a store call that never answers
		return problem.New(http.StatusServiceUnavailable, problem.Overloaded, "the store did not answer")
	}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := r.Context().Deadline()
		deadlines <- ok
	})
	gw := startGateway(t, upstream, nil, func(o *Options) {
		o.OwnTimeout = 100 * time.Millisecond
		o.Routes = func(e *echo.Echo) { e.GET("/auth/stuck", stuck) }
	})
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(gw.URL + "/auth/stuck")
	if err != nil {
		t.Fatalf("GET /auth/stuck: %v (the request hung)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /auth/stuck: %d, want 503", resp.StatusCode)
	}
	if !<-deadlines {
		t.Error("the own endpoint's context had no deadline")
	}

	resp, err = client.Get(gw.URL + "/api/proxied")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if <-deadlines {
		t.Error("a proxied request got the own endpoints' deadline")
	}
}
