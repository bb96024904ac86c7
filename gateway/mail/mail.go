// Package mail sends the gateway's mail (password reset links): over SMTP
// when mail.smtp_url is set, else to the log, for development.
//
// Guarantees:
//   - The SMTP password never reaches a log line or an error: errors name
//     the host and what failed, never the URL.
//   - Credentials never cross the network in clear: smtp:// requires
//     STARTTLS (RFC 3207) unless the server is on a loopback address, where
//     it is used when offered; smtps:// is implicit TLS (RFC 8314).
//     Certificates are verified against the system roots.
//   - Every send is bounded (Timeout, and the caller's context).
package mail

import (
	"context"
	"strings"

	"go.uber.org/zap"

	"github.com/authgate/gateway/config"
)

// Message is one mail to one recipient. Text is required; HTML, when set,
// is sent as an alternative to it (multipart/alternative), so that a reader
// that shows no HTML still gets everything.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Mailer sends messages. Send returns once the message has been handed to
// the mail server (or written, for the development mailer); an error means
// it was not, for a technical reason. Implementations are safe for
// concurrent use.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// New returns the mailer cfg describes: SMTP when SMTPURL is set, else the
// development mailer writing to log. cfg must have passed config
// validation.
func New(cfg config.Mail, log *zap.Logger) (Mailer, error) {
	if strings.TrimSpace(cfg.SMTPURL) == "" {
		return NewLog(log), nil
	}
	return NewSMTP(SMTPConfig{URL: cfg.SMTPURL, From: cfg.From})
}

// Log is the development mailer: it writes each message, link included, to
// the log instead of sending it. That is its purpose (SPEC section 8: the
// development mailer's link is the one secret a log may hold), so it must
// never run where mail.smtp_url should have been set: it says so on every
// message, at warn level.
type Log struct {
	log *zap.Logger
}

// NewLog returns a development mailer writing to log.
func NewLog(log *zap.Logger) *Log {
	if log == nil {
		log = zap.NewNop()
	}
	return &Log{log: log}
}

// Send writes m to the log.
func (l *Log) Send(_ context.Context, m Message) error {
	l.log.Warn("mail not sent: mail.smtp_url is empty, so it is written here (development only)",
		zap.String("to", m.To), zap.String("subject", m.Subject), zap.String("text", m.Text))
	return nil
}
