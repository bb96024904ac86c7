package clientjs

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/authgate/gateway/gateway/problem"
)

func serve(t *testing.T, h *Handler, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	e := echo.New()
	// As the gateway renders errors: problem documents.
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if p := problem.As(err); p != nil {
			problem.Write(c.Response(), p)
			return
		}
		t.Errorf("not a problem: %v", err)
	}
	h.Register(e)
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// TestEmbedded: the served bytes are client.js as checked in, and the
// version is their hash.
func TestEmbedded(t *testing.T) {
	want, err := os.ReadFile("client.js")
	if err != nil {
		t.Fatal(err)
	}
	h := New()
	sum := sha256.Sum256(want)
	if v := hex.EncodeToString(sum[:])[:20]; h.Version() != v {
		t.Errorf("Version() = %q, want %q", h.Version(), v)
	}
	rec := serve(t, h, Path, nil)
	if rec.Body.String() != string(want) {
		t.Error("GET /auth/client.js does not serve client.js")
	}
}

func TestServe(t *testing.T) {
	h := newHandler([]byte("export const x = 1;\n"))
	other := newHandler([]byte("export const x = 2;\n"))
	if h.Version() == other.Version() {
		t.Fatal("different bytes, same version")
	}
	etag := `"` + h.Version() + `"`
	tests := []struct {
		name         string
		path         string
		ifNoneMatch  string
		wantStatus   int
		wantCache    string
		wantBody     bool
		wantETagSent bool
	}{
		{name: "current", path: Path, wantStatus: 200, wantCache: "no-cache", wantBody: true, wantETagSent: true},
		{name: "current revalidated", path: Path, ifNoneMatch: etag, wantStatus: 304, wantCache: "no-cache", wantETagSent: true},
		{name: "weak validator matches", path: Path, ifNoneMatch: `"x", W/` + etag, wantStatus: 304, wantCache: "no-cache", wantETagSent: true},
		{name: "any", path: Path, ifNoneMatch: "*", wantStatus: 304, wantCache: "no-cache", wantETagSent: true},
		{name: "stale copy", path: Path, ifNoneMatch: `"` + other.Version() + `"`, wantStatus: 200, wantCache: "no-cache", wantBody: true, wantETagSent: true},
		{name: "versioned", path: h.VersionedPath(), wantStatus: 200, wantCache: "public, max-age=31536000, immutable", wantBody: true, wantETagSent: true},
		{name: "versioned revalidated", path: h.VersionedPath(), ifNoneMatch: etag, wantStatus: 304, wantCache: "public, max-age=31536000, immutable", wantETagSent: true},
		{name: "another version", path: other.VersionedPath(), wantStatus: 404},
		{name: "version without .js", path: "/auth/client/" + h.Version(), wantStatus: 404},
		{name: "not a version", path: "/auth/client/..%2Fclient.js", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr http.Header
			if tt.ifNoneMatch != "" {
				hdr = http.Header{"If-None-Match": {tt.ifNoneMatch}}
			}
			rec := serve(t, h, tt.path, hdr)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantStatus == 404 {
				if rec.Body.String() == string(h.body) {
					t.Error("a 404 served the module")
				}
				return
			}
			if got := rec.Header().Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("Cache-Control %q, want %q", got, tt.wantCache)
			}
			if tt.wantETagSent && rec.Header().Get("ETag") != etag {
				t.Errorf("ETag %q, want %q", rec.Header().Get("ETag"), etag)
			}
			if tt.wantBody {
				if ct := rec.Header().Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				if rec.Body.String() != string(h.body) {
					t.Errorf("body %q", rec.Body.String())
				}
			} else if rec.Body.Len() != 0 {
				t.Errorf("a 304 with a body: %q", rec.Body.String())
			}
		})
	}
}
