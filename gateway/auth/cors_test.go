package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestCORS(t *testing.T) {
	e := echo.New()
	e.Use(CORS([]string{"https://app.example", "https://admin.example/"}))
	e.POST("/auth/login", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	e.GET("/other", func(c echo.Context) error { return c.NoContent(http.StatusOK) })

	tests := []struct {
		name, method, path, origin, requestMethod string
		wantStatus                                int
		wantAllowOrigin, wantCredentials          string
		wantMaxAge                                string
		wantVary                                  bool
	}{
		{name: "listed origin, actual request", method: "POST", path: "/auth/login", origin: "https://app.example",
			wantStatus: 200, wantAllowOrigin: "https://app.example", wantCredentials: "true", wantVary: true},
		{name: "listed with a trailing slash in the config", method: "POST", path: "/auth/login", origin: "https://admin.example",
			wantStatus: 200, wantAllowOrigin: "https://admin.example", wantCredentials: "true", wantVary: true},
		{name: "listed origin, preflight cached", method: "OPTIONS", path: "/auth/login", origin: "https://app.example", requestMethod: "POST",
			wantStatus: 204, wantAllowOrigin: "https://app.example", wantCredentials: "true", wantMaxAge: corsMaxAge, wantVary: true},
		{name: "unlisted origin gets no CORS headers", method: "POST", path: "/auth/login", origin: "https://evil.example",
			wantStatus: 200, wantVary: true},
		// Echo answers OPTIONS itself (204 with Allow); without
		// Access-Control-Allow-Origin the browser still refuses.
		{name: "unlisted origin preflight gets no CORS headers", method: "OPTIONS", path: "/auth/login", origin: "https://evil.example", requestMethod: "POST",
			wantStatus: 204, wantVary: true},
		{name: "a look-alike origin is not listed", method: "POST", path: "/auth/login", origin: "https://app.example.evil.example",
			wantStatus: 200, wantVary: true},
		{name: "the null origin is not listed", method: "POST", path: "/auth/login", origin: "null",
			wantStatus: 200, wantVary: true},
		{name: "same-origin request without Origin", method: "POST", path: "/auth/login",
			wantStatus: 200},
		{name: "outside /auth", method: "GET", path: "/other", origin: "https://app.example",
			wantStatus: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.requestMethod != "" {
				req.Header.Set("Access-Control-Request-Method", tc.requestMethod)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			h := rec.Header()
			if rec.Code != tc.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != tc.wantAllowOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.wantAllowOrigin)
			}
			if got := h.Get("Access-Control-Allow-Credentials"); got != tc.wantCredentials {
				t.Errorf("Access-Control-Allow-Credentials %q, want %q", got, tc.wantCredentials)
			}
			if got := h.Get("Access-Control-Max-Age"); got != tc.wantMaxAge {
				t.Errorf("Access-Control-Max-Age %q, want %q", got, tc.wantMaxAge)
			}
			if got := h.Values("Vary"); tc.wantVary != (len(got) > 0 && got[0] == "Origin") {
				t.Errorf("Vary %q, want Origin: %v", got, tc.wantVary)
			}
		})
	}
}
