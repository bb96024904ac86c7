// Package observe builds the gateway's loggers and request ids.
//
// Three named loggers share one core: the process logger, "access" (one line
// per request) and "audit" (account events). Nothing in this package logs a
// header value, a query string or a body, so secrets carried there cannot
// reach the logs through it.
package observe

import (
	"crypto/rand"
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/authgate/gateway/config"
)

// NewLogger returns the process logger for cfg, writing to standard error.
func NewLogger(cfg config.Log) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	var enc zapcore.Encoder
	if cfg.Format == "console" {
		encCfg.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), level)
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(os.Stderr))), nil
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
