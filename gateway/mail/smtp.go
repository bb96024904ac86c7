package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// DefaultTimeout bounds one SMTP exchange (connect, TLS, AUTH, the
// message) when SMTPConfig.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// SMTPConfig configures an SMTP mailer.
type SMTPConfig struct {
	// URL is smtp://[user:password@]host[:port] (port 587 by default) or
	// smtps://[user:password@]host[:port] (port 465 by default). User
	// information turns on AUTH (PLAIN or LOGIN, else the strongest the
	// server offers).
	URL string
	// From is the sender, "addr@example.com" or "Name <addr@example.com>".
	From string
	// Timeout bounds one send; zero means DefaultTimeout.
	Timeout time.Duration
	// TLSConfig, if set, is the TLS configuration (cloned; ServerName
	// defaults to the host). Nil means the system roots and TLS 1.2 or
	// later. Tests set RootCAs.
	TLSConfig *tls.Config
}

// SMTP sends mail through one SMTP server. Each Send opens its own
// connection: reset mail is rare, and no connection state is shared between
// concurrent sends.
type SMTP struct {
	host        string
	port        int
	implicitTLS bool
	// loopback servers may be spoken to in clear: the traffic never leaves
	// the machine (a local relay such as Postfix on 127.0.0.1:25).
	loopback bool
	user     string
	password string
	from     string
	timeout  time.Duration
	tls      *tls.Config
}

// NewSMTP checks c and returns a mailer. It does not connect. Errors never
// contain the URL (it may hold a password).
func NewSMTP(c SMTPConfig) (*SMTP, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, errors.New("mail: smtp_url is not a URL")
	}
	s := &SMTP{timeout: c.Timeout}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicitTLS = 465, true
	default:
		return nil, errors.New("mail: smtp_url must start with smtp:// or smtps://")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("mail: smtp_url must be scheme://[user:password@]host[:port], without a path or query")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("mail: smtp_url has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, errors.New("mail: smtp_url has an invalid port")
		}
		s.port = n
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
		if s.user == "" {
			return nil, errors.New("mail: smtp_url has a password but no user name")
		}
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, errors.New("mail: from is not a mail address")
	}
	s.from = from.String()
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if c.TLSConfig != nil {
		s.tls = c.TLSConfig.Clone()
	} else {
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = s.host
	}
	s.loopback = isLoopback(s.host)
	return s, nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// String describes the server without credentials, for logs.
func (s *SMTP) String() string {
	scheme := "smtp"
	if s.implicitTLS {
		scheme = "smtps"
	}
	return scheme + "://" + net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

// Send delivers m to the server, within the timeout and ctx's deadline
// (cancelling ctx without a deadline stops only the connection attempt).
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("mail: recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}

	// go-mail applies the context to dialing only, and its timeout to
	// every command after: the caller's deadline, when sooner, becomes
	// that timeout.
	timeout := s.timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if timeout <= 0 {
		return fmt.Errorf("mail: sending through %s: %w", s, context.DeadlineExceeded)
	}
	client, err := gomail.NewClient(s.host, s.options(timeout)...)
	if err != nil {
		return fmt.Errorf("mail: %s: %w", s, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: sending through %s: %w", s, err)
	}
	return nil
}

// options are the go-mail client options: TLS as the package doc says, AUTH
// when there are credentials, no logging.
func (s *SMTP) options(timeout time.Duration) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(s.tls.Clone()),
	}
	switch {
	case s.implicitTLS:
		opts = append(opts, gomail.WithSSL())
	case s.loopback:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default:
		// A relay that does not offer STARTTLS, or an attacker who strips
		// it from the EHLO answer, gets nothing: neither the password
		// nor a reset link.
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.user != "" {
		// PLAIN and LOGIN in clear are allowed only to a loopback server;
		// elsewhere TLS is mandatory, so go-mail's encrypted-only variants
		// always apply.
		plain, login := gomail.SMTPAuthPlain, gomail.SMTPAuthLogin
		if s.loopback {
			plain, login = gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc
		}
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(plain, login),
			gomail.WithUsername(s.user), gomail.WithPassword(s.password))
	}
	return opts
}
