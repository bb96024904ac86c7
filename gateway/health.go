package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// ReadinessCheck is one dependency /readyz reports on (database, Redis,
// policy, keys).
type ReadinessCheck interface {
	Name() string
	// Check returns nil when the dependency can serve. The error text is
	// shown in /readyz, so it must not contain secrets.
	Check(ctx context.Context) error
}

// Warner is implemented by a ReadinessCheck that can be ready yet worth a
// look (a policy reload that was refused while the old policy serves).
type Warner interface {
	// Warning returns "" when there is nothing to say.
	Warning() string
}

// readinessTimeout bounds one /readyz evaluation, so that a hanging
// dependency makes the probe fail rather than hang.
const readinessTimeout = 2 * time.Second

type healthReport struct {
	Status   string            `json:"status"`
	Checks   map[string]string `json:"checks"`
	Warnings map[string]string `json:"warnings,omitempty"`
}

// healthz answers 200 whenever the process serves requests.
func (s *Server) healthz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, healthReport{Status: "ok", Checks: map[string]string{}})
}

// readyz answers 200 when every dependency is usable, else 503 naming the
// failing checks.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readinessTimeout)
	defer cancel()
	rep := healthReport{Status: "ok", Checks: make(map[string]string, len(s.checks))}
	status := http.StatusOK
	for _, chk := range s.checks {
		if err := chk.Check(ctx); err != nil {
			rep.Checks[chk.Name()] = err.Error()
			rep.Status = "unavailable"
			status = http.StatusServiceUnavailable
		} else {
			rep.Checks[chk.Name()] = "ok"
		}
		if w, ok := chk.(Warner); ok {
			if msg := w.Warning(); msg != "" {
				if rep.Warnings == nil {
					rep.Warnings = map[string]string{}
				}
				rep.Warnings[chk.Name()] = msg
			}
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, rep)
}
