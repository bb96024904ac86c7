// Package observe builds the gateway's loggers, request ids and Prometheus
// metrics.
//
// Three named loggers share one format: the process logger, "access" (one
// line per request, buffered) and "audit" (account events). Nothing in this
// package logs a header value, a query string or a body, so secrets carried
// there cannot reach the logs through it. Metrics live in their own
// registry, and their label values are bounded: route classes, methods,
// statuses, upstream names, event names; never a path, a user id or an
// email.
package observe

import (
	"crypto/rand"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/authgate/gateway/config"
)

// NewLogger returns the process logger for cfg, writing to standard error.
func NewLogger(cfg config.Log) (*zap.Logger, error) {
	enc, level, err := Encoder(cfg)
	if err != nil {
		return nil, err
	}
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), level)
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(os.Stderr))), nil
}

// NewAccessLogger returns the "access" logger: the same format on standard
// error, but buffered (256 KiB, flushed every second), because one write
// system call per request costs a proxy 8-15% of its CPU (measured with
// cmd/loadtest). stop flushes and must be called before exit.
func NewAccessLogger(cfg config.Log) (log *zap.Logger, stop func() error, err error) {
	enc, level, err := Encoder(cfg)
	if err != nil {
		return nil, nil, err
	}
	ws := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(os.Stderr), Size: 256 << 10, FlushInterval: time.Second}
	core := zapcore.NewCore(enc, ws, level)
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(os.Stderr))).Named("access"), ws.Stop, nil
}

// Encoder returns the encoder and level of cfg, shared by every logger of
// the process and of the command line.
func Encoder(cfg config.Log) (zapcore.Encoder, zapcore.Level, error) {
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, 0, fmt.Errorf("log.level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	if cfg.Format == "console" {
		encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		return zapcore.NewConsoleEncoder(encCfg), level, nil
	}
	return zapcore.NewJSONEncoder(encCfg), level, nil
}

// NewRequestID returns a fresh, unguessable request id (26 characters).
func NewRequestID() string { return rand.Text() }

// ValidRequestID reports whether an id received from a trusted proxy is safe
// to log and forward: 1 to 128 characters of letters, digits and "-_.:".
func ValidRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
