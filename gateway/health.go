package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
)

// ReadinessCheck is one dependency /readyz reports on (database, Redis,
// policy, keys).
type ReadinessCheck interface {
	Name() string
	// Check returns nil when the dependency can serve. /readyz, which
	// anyone can ask, says only that the check failed; the error text is
	// written to the log for operators (see readinessLog), so it should
	// say why, and must not contain secrets.
	Check(ctx context.Context) error
}

// Warner is implemented by a ReadinessCheck that can be ready yet worth a
// look (a policy reload that was refused while the old policy serves).
type Warner interface {
	// Warning returns "" when there is nothing to say. The text is shown
	// in the public /readyz: it says what is wrong in general terms, never
	// a file name, line or content; the details belong in the log.
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
// failing checks. A check is "ok" or "failed", nothing more: the errors of
// database and Redis drivers name the user, database and address, which
// are for operators, not for whoever probes the public listener. They go
// to the log (s.ready).
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readinessTimeout)
	defer cancel()
	rep := healthReport{Status: "ok", Checks: make(map[string]string, len(s.checks))}
	status := http.StatusOK
	for _, chk := range s.checks {
		err := chk.Check(ctx)
		s.ready.record(chk.Name(), err)
		if err != nil {
			rep.Checks[chk.Name()] = "failed"
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

// readinessLogEvery is how often a check that keeps failing is logged
// again, with its error of the moment (the cause may change).
const readinessLogEvery = time.Minute

// readinessLog writes why readiness checks fail, which /readyz does not
// show. Probes ask every few seconds on every replica, so a failure is
// logged at warn level when it starts and then at most every
// readinessLogEvery while it lasts, and the recovery once.
type readinessLog struct {
	log *zap.Logger
	mu  sync.Mutex
	// failing maps the name of each failing check to when its failure
	// was last logged.
	failing map[string]time.Time
}

func newReadinessLog(log *zap.Logger) *readinessLog {
	return &readinessLog{log: log, failing: map[string]time.Time{}}
}

// record notes the result of one run of the check name.
func (l *readinessLog) record(name string, err error) {
	now := time.Now()
	l.mu.Lock()
	last, wasFailing := l.failing[name]
	due := err != nil && (!wasFailing || now.Sub(last) >= readinessLogEvery)
	switch {
	case err == nil:
		delete(l.failing, name)
	case due:
		l.failing[name] = now
	}
	l.mu.Unlock()
	switch {
	case due:
		l.log.Warn("readiness check failed", zap.String("check", name), zap.Error(err))
	case err == nil && wasFailing:
		l.log.Info("readiness check passes again", zap.String("check", name))
	}
}
