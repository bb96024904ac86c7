package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/problem"
	"github.com/authgate/gateway/gateway/proxy"
)

// problemDoc is the part of an RFC 9457 answer the tests check.
type problemDoc struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
}

// checkProblem fails the test unless the response is a problem+json with
// the given status and code.
func checkProblem(t *testing.T, status int, contentType, body string, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status = %d, want %d (body %q)", status, wantStatus, body)
	}
	if contentType != problem.ContentType {
		t.Errorf("Content-Type = %q, want %q", contentType, problem.ContentType)
	}
	var doc problemDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, body)
	}
	if doc.Code != wantCode || doc.Status != wantStatus {
		t.Errorf("problem = {status %d, code %q}, want {%d, %q}", doc.Status, doc.Code, wantStatus, wantCode)
	}
}

// gatewayGet sends a GET through the gateway and returns status, content type and body.
func gatewayGet(t *testing.T, url string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// noRedirects is a client that returns redirects instead of following them.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

func TestUpstreamDownIs502(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens on that port any more

	gw := startGateway(t, &recorder{}, func(c *config.Config) { c.Upstreams[0].URL = deadURL })
	status, h, body := gatewayGet(t, gw.URL+"/api/items", nil)
	checkProblem(t, status, h.Get("Content-Type"), body, http.StatusBadGateway, problem.UpstreamUnavailable)
	if strings.Contains(body, deadURL) || strings.Contains(body, "refused") {
		t.Errorf("the problem leaks the upstream's address or error: %q", body)
	}
}

func TestSlowUpstreamIs504(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "too late")
	})
	gw := startGateway(t, upstream, func(c *config.Config) { c.Upstreams[0].Timeout = 200 * time.Millisecond })
	status, h, body := gatewayGet(t, gw.URL+"/slow", nil)
	checkProblem(t, status, h.Get("Content-Type"), body, http.StatusGatewayTimeout, problem.UpstreamTimeout)
}

// TestMalformedChunkedBodyIs400 sends request bodies whose chunked framing is
// broken. The fault is the client's: the answer is 400, not a 502 that
// blames the upstream.
func TestMalformedChunkedBodyIs400(t *testing.T) {
	tests := []struct {
		name string
		body string // after the header block
	}{
		{"chunk size not hex", "zz\r\nhello\r\n0\r\n\r\n"},
		{"bad size after a good chunk", "5\r\nhello\r\nxyz\r\nworld\r\n0\r\n\r\n"},
		{"chunk size overflows", "fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"},
		{"chunk longer than its size", "3\r\nhello\r\n0\r\n\r\n"},
		{"negative chunk size", "-5\r\nhello\r\n0\r\n\r\n"},
	}
	rec := &recorder{}
	gw := startGateway(t, rec, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := "POST /api/upload HTTP/1.1\r\nHost: " + gw.Addr + "\r\n" +
				"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + tt.body
			status, body := rawRequest(t, gw.Addr, req)
			var doc problemDoc
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatalf("status %d, body is not a problem document: %q", status, body)
			}
			if status != http.StatusBadRequest || doc.Code != problem.BadRequest {
				t.Errorf("got %d %q, want 400 %q", status, doc.Code, problem.BadRequest)
			}
		})
	}
}

// TestClientCancelReleasesEverything cancels a request while the upstream
// is still thinking: the upstream's request context must be cancelled (so
// it stops working for nobody), and once the gateway is shut down no
// goroutine of the request may remain.
func TestClientCancelReleasesEverything(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	t.Run("cancel", func(t *testing.T) {
		arrived := make(chan struct{})
		upstreamCancelled := make(chan error, 1)
		upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			select {
			case <-r.Context().Done():
				upstreamCancelled <- r.Context().Err()
			case <-time.After(10 * time.Second):
				upstreamCancelled <- errors.New("upstream request never cancelled")
				_, _ = io.WriteString(w, "too late")
			}
		})
		withLog, logs := accessLog(t)
		gw := startGateway(t, upstream, nil, withLog)

		transport := &http.Transport{}
		t.Cleanup(transport.CloseIdleConnections)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/api/slow", nil)
		clientErr := make(chan error, 1)
		go func() {
			resp, err := (&http.Client{Transport: transport}).Do(req)
			if err == nil {
				resp.Body.Close()
				err = errors.New("request completed: " + resp.Status)
			}
			clientErr <- err
		}()

		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("request never reached the upstream")
		}
		cancel()
		if err := <-clientErr; !errors.Is(err, context.Canceled) {
			t.Errorf("client: %v, want context.Canceled", err)
		}
		select {
		case err := <-upstreamCancelled:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("upstream request context: %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the upstream's request context was not cancelled after the client went away")
		}
		if status := accessStatus(t, logs, "/api/slow"); status != proxy.StatusClientClosedRequest {
			t.Errorf("access log status = %d, want %d (client closed request)", status, proxy.StatusClientClosedRequest)
		}
		// Cleanup shuts the gateway and the upstream down before the leak
		// check of the parent test runs.
	})
}

// accessLog captures the gateway's access lines (and shows warnings in the
// test output as testLogger does).
func accessLog(t *testing.T) (func(*Options), *observer.ObservedLogs) {
	core, logs := observer.New(zap.InfoLevel)
	return func(o *Options) {
		o.Logger = zap.New(zapcore.NewTee(testLogger(t).Core(), core))
	}, logs
}

// accessStatus waits for the access line of path and returns its status.
func accessStatus(t *testing.T, logs *observer.ObservedLogs, path string) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range logs.FilterLoggerName("access").FilterField(zap.String("path", path)).All() {
			return e.ContextMap()["status"].(int64)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no access line for %s", path)
	return 0
}

// TestAbortedUploadIs499 drops the connection in the middle of a request
// body. Nobody is left to answer: the access log says 499 (client closed),
// not 400, and no upstream failure is reported.
func TestAbortedUploadIs499(t *testing.T) {
	withLog, logs := accessLog(t)
	bodyStarted := make(chan struct{})
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1)
		if _, err := io.ReadFull(r.Body, buf); err == nil {
			close(bodyStarted)
		}
		_, _ = io.Copy(io.Discard, r.Body)
	})
	gw := startGateway(t, upstream, nil, withLog)

	conn, err := net.DialTimeout("tcp", gw.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.WriteString(conn, "POST /api/upload HTTP/1.1\r\nHost: "+gw.Addr+"\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\npartial body")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-bodyStarted:
	case <-time.After(10 * time.Second):
		t.Fatal("the body never reached the upstream")
	}
	conn.Close()

	if status := accessStatus(t, logs, "/api/upload"); status != proxy.StatusClientClosedRequest {
		t.Errorf("access log status = %d, want %d", status, proxy.StatusClientClosedRequest)
	}
	if n := logs.FilterMessage("upstream request failed").Len(); n != 0 {
		t.Errorf("a client that went away was reported as %d upstream failure(s)", n)
	}
}

// TestUpstreamDyingMidBodyAbortsTheClient checks that a response the upstream
// breaks off after its headers is broken off for the client too: the client
// must see an error, never a short body that looks complete.
func TestUpstreamDyingMidBodyAbortsTheClient(t *testing.T) {
	tests := []struct {
		name          string
		contentLength string // "" = chunked
	}{
		{"with Content-Length", "1000000"},
		{"chunked", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.contentLength != "" {
					w.Header().Set("Content-Length", tt.contentLength)
				}
				_, _ = w.Write([]byte(strings.Repeat("x", 1000)))
				_ = http.NewResponseController(w).Flush()
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close() // the upstream process dies
				}
			})
			gw := startGateway(t, upstream, nil)
			resp, err := http.Get(gw.URL + "/download")
			if err != nil {
				// The gateway had not sent the head yet: it dropped the
				// connection, which is as good as a broken body.
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want the upstream's 200", resp.StatusCode)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if err == nil {
				t.Fatalf("read %d bytes and a clean end; want an error for a truncated body", n)
			}
		})
	}
}
