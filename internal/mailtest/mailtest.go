// Package mailtest runs a real SMTP server in the test process and keeps what
// it receives, so that tests of the gateway's mail go through a real SMTP
// exchange (EHLO, optional STARTTLS and AUTH, MAIL, RCPT, DATA) instead of a
// fake Mailer.
//
// The server listens on 127.0.0.1 on a port of its own and stops at the
// test's cleanup. Messages are parsed as they arrive: the text and HTML
// parts are decoded (quoted-printable, base64) so that tests can assert on
// what a reader would see, and ResetLink finds the password reset link.
//
//	srv := mailtest.Start(t, mailtest.WithAuth("user", "secret"), mailtest.WithSTARTTLS())
//	cfg.Mail.SMTPURL = srv.URL()
//	…
//	msg := srv.Wait(5 * time.Second)
//	link := msg.ResetLink()
package mailtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Option changes how Start configures the server.
type Option func(*options)

type options struct {
	user, password string
	startTLS       bool
	implicitTLS    bool
	dataDelay      time.Duration
}

// WithAuth makes the server offer AUTH PLAIN and refuse MAIL until a client
// has authenticated with exactly user and password. AUTH is offered on a
// plain connection too (the gateway only sends credentials in clear to a
// loopback server, which this is).
func WithAuth(user, password string) Option {
	return func(o *options) { o.user, o.password = user, password }
}

// WithSTARTTLS makes the server offer STARTTLS with a self-signed
// certificate for 127.0.0.1 and localhost; Server.RootCAs trusts it.
func WithSTARTTLS() Option {
	return func(o *options) { o.startTLS = true }
}

// WithImplicitTLS makes the server speak TLS from the first byte (SMTPS,
// RFC 8314) with the self-signed certificate of WithSTARTTLS; URL then
// starts with smtps://.
func WithImplicitTLS() Option {
	return func(o *options) { o.implicitTLS = true }
}

// WithDataDelay makes the server wait d before accepting each message's
// data, to stand for a slow relay.
func WithDataDelay(d time.Duration) Option {
	return func(o *options) { o.dataDelay = d }
}

// Server is a running SMTP server. Its methods are safe for concurrent use.
type Server struct {
	// Addr is the host:port the server listens on.
	Addr string

	t    testing.TB
	opts options
	srv  *smtp.Server
	cas  *x509.CertPool

	mu       sync.Mutex
	messages []Message
	next     int           // index of the first message Wait has not returned
	arrived  chan struct{} // closed and replaced when a message arrives
}

// Start starts a server for t; it is stopped at t's cleanup.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, arrived: make(chan struct{})}
	for _, o := range opts {
		o(&s.opts)
	}

	srv := smtp.NewServer(backend{s})
	srv.Domain = "mailtest.localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 10
	// AUTH on a plain connection: the client under test decides whether that
	// is acceptable (it is only for loopback), so the server must allow it
	// for the client's policy to be what the test observes.
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	var tlsConfig *tls.Config
	if s.opts.startTLS || s.opts.implicitTLS {
		cert, pool := selfSigned(t)
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.cas = pool
	}
	if s.opts.startTLS {
		srv.TLSConfig = tlsConfig
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	if s.opts.implicitTLS {
		l = tls.NewListener(l, tlsConfig)
	}
	s.Addr = l.Addr().String()
	s.srv = srv
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		// go-smtp's Close closes only the listeners that Serve has
		// registered: a test that ends before the goroutine above got
		// that far would leave Serve in Accept for good. Closing l too
		// ends it either way.
		_ = srv.Close()
		_ = l.Close()
		<-done
	})
	return s
}

// URL returns an smtp:// (smtps:// with WithImplicitTLS) URL for the server, with the credentials given to
// WithAuth, for use as mail.smtp_url.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr}
	if s.opts.implicitTLS {
		u.Scheme = "smtps"
	}
	if s.opts.user != "" {
		u.User = url.UserPassword(s.opts.user, s.opts.password)
	}
	return u.String()
}

// RootCAs returns a pool trusting the server's certificate, or nil when
// neither WithSTARTTLS nor WithImplicitTLS was given.
func (s *Server) RootCAs() *x509.CertPool { return s.cas }

// Messages returns every message received so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Wait returns the oldest message that Wait has not returned yet, waiting
// up to timeout for one to arrive; it fails the test when none does. Call it
// from the test's goroutine.
func (s *Server) Wait(timeout time.Duration) Message {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := s.WaitContext(ctx)
	if err != nil {
		s.t.Fatalf("mailtest: no message within %v (%d received in all)", timeout, len(s.Messages()))
	}
	return m
}

// WaitContext is Wait bounded by ctx; it returns ctx's error when no
// message arrives in time.
func (s *Server) WaitContext(ctx context.Context) (Message, error) {
	for {
		s.mu.Lock()
		if s.next < len(s.messages) {
			m := s.messages[s.next]
			s.next++
			s.mu.Unlock()
			return m, nil
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// Count returns how many messages have been received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.messages)
}

func (s *Server) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

// session is one SMTP connection. It implements smtp.AuthSession; when no
// credentials were configured it offers no mechanism.
type session struct {
	s      *Server
	conn   *smtp.Conn
	authed string // the authenticated user, "" when none
	from   string
	to     []string
}

func (se *session) AuthMechanisms() []string {
	if se.s.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	if se.s.opts.user == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, password string) error {
		if user != se.s.opts.user || password != se.s.opts.password {
			return smtp.ErrAuthFailed
		}
		se.authed = user
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.user != "" && se.authed == "" {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if se.s.opts.dataDelay > 0 {
		time.Sleep(se.s.opts.dataDelay)
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "mailtest: " + err.Error()}
	}
	m.EnvelopeFrom = se.from
	m.EnvelopeTo = append([]string(nil), se.to...)
	_, m.TLS = se.conn.TLSConnectionState()
	m.AuthUser = se.authed
	se.s.add(m)
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost, valid for a
// day, and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("mailtest: key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("mailtest: serial: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
