package auth

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// corsMaxAge is how long a browser may cache a preflight answer (seconds).
const corsMaxAge = "600"

// CORS lets the listed origins (cors.allowed_origins) call the /auth API
// from their pages with credentials. Any other origin gets no CORS headers,
// so the browser keeps the answer from its scripts. The gateway runs it
// (gateway.Options.CORS) for its own endpoints only, before routing and
// before the policy check of /auth/admin: a preflight from a listed origin
// is answered here for every /auth path, and every answer to a listed
// origin, errors included, carries the headers. It answers nothing but
// preflights itself; proxied requests never pass through it.
//
// The same origins are trusted by the CSRF guard (NewAuthenticator's
// trustedOrigins): list an origin only if its pages may act for the user.
func CORS(allowedOrigins []string) echo.MiddlewareFunc {
	allowed := make(map[string]bool, len(allowedOrigins))
	for _, o := range allowedOrigins {
		allowed[strings.TrimSuffix(o, "/")] = true
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			origin := r.Header.Get("Origin")
			if origin == "" || !strings.HasPrefix(r.URL.Path, "/auth/") {
				return next(c)
			}
			h := c.Response().Header()
			// The answer differs by Origin: a shared cache must key on it.
			h.Add("Vary", "Origin")
			if !allowed[origin] {
				return next(c)
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
				h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
				h.Set("Access-Control-Max-Age", corsMaxAge)
				return c.NoContent(http.StatusNoContent)
			}
			h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate, X-Request-Id")
			return next(c)
		}
	}
}
