package mail

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/internal/mailtest"
)

var testMessage = Message{
	To:      "ada@example.com",
	Subject: "Réinitialiser votre mot de passe",
	Text:    "Open https://gw.example.com/auth/password/reset?token=abc_DEF-123 within 30 minutes.\n",
	HTML:    `<p><a href="https://gw.example.com/auth/password/reset?token=abc_DEF-123">Reset</a> &amp; more</p>`,
}

func newTestSMTP(t *testing.T, srv *mailtest.Server, rawURL string) *SMTP {
	t.Helper()
	var tc *tls.Config
	if srv.RootCAs() != nil {
		tc = &tls.Config{RootCAs: srv.RootCAs(), MinVersion: tls.VersionTLS12}
	}
	s, err := NewSMTP(SMTPConfig{URL: rawURL, From: "Gateway <noreply@example.com>", Timeout: 5 * time.Second, TLSConfig: tc})
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return s
}

func checkDelivered(t *testing.T, got mailtest.Message) {
	t.Helper()
	if got.From != "noreply@example.com" || len(got.To) != 1 || got.To[0] != testMessage.To {
		t.Errorf("From %q To %q", got.From, got.To)
	}
	if len(got.EnvelopeTo) != 1 || got.EnvelopeTo[0] != testMessage.To {
		t.Errorf("RCPT TO %q", got.EnvelopeTo)
	}
	if got.Subject != testMessage.Subject {
		t.Errorf("Subject = %q", got.Subject)
	}
	if strings.TrimSpace(got.Text) != strings.TrimSpace(testMessage.Text) {
		t.Errorf("Text = %q", got.Text)
	}
	if strings.TrimSpace(got.HTML) != testMessage.HTML {
		t.Errorf("HTML = %q", got.HTML)
	}
	if got.ResetToken() != "abc_DEF-123" {
		t.Errorf("reset token = %q", got.ResetToken())
	}
	if got.Header.Get("Message-Id") == "" || got.Header.Get("Date") == "" {
		t.Errorf("missing Message-Id or Date: %v", got.Header)
	}
}

func TestSMTPPlainLoopback(t *testing.T) {
	srv := mailtest.Start(t)
	s := newTestSMTP(t, srv, srv.URL())
	if err := s.Send(context.Background(), testMessage); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Wait(5 * time.Second)
	checkDelivered(t, got)
	if got.TLS || got.AuthUser != "" {
		t.Errorf("TLS %v, AuthUser %q", got.TLS, got.AuthUser)
	}
}

func TestSMTPStartTLSUsedWhenOffered(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithSTARTTLS(), mailtest.WithAuth("mailer", "s3cret-pw"))
	s := newTestSMTP(t, srv, srv.URL())
	if err := s.Send(context.Background(), testMessage); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Wait(5 * time.Second)
	checkDelivered(t, got)
	if !got.TLS {
		t.Error("STARTTLS offered by a loopback server but not used")
	}
	if got.AuthUser != "mailer" {
		t.Errorf("AuthUser = %q", got.AuthUser)
	}
}

func TestSMTPStartTLSVerifiesTheCertificate(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithSTARTTLS())
	// The system roots do not trust the test certificate.
	s, err := NewSMTP(SMTPConfig{URL: srv.URL(), From: "noreply@example.com", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMessage); err == nil {
		t.Fatal("sent over STARTTLS with an untrusted certificate")
	}
	if srv.Count() != 0 {
		t.Errorf("server received %d messages", srv.Count())
	}
}

func TestSMTPAuth(t *testing.T) {
	const password = "pa:ss@w/rd%secret"
	srv := mailtest.Start(t, mailtest.WithAuth("mailer", password))

	t.Run("right password", func(t *testing.T) {
		s := newTestSMTP(t, srv, srv.URL()) // URL escapes the password
		if err := s.Send(context.Background(), testMessage); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := srv.Wait(5 * time.Second); got.AuthUser != "mailer" {
			t.Errorf("AuthUser = %q", got.AuthUser)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		s := newTestSMTP(t, srv, "smtp://mailer:wrong-secret-pw@"+srv.Addr)
		err := s.Send(context.Background(), testMessage)
		if err == nil {
			t.Fatal("sent with a wrong password")
		}
		if strings.Contains(err.Error(), "wrong-secret-pw") {
			t.Errorf("the error shows the password: %v", err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		s := newTestSMTP(t, srv, "smtp://"+srv.Addr)
		if err := s.Send(context.Background(), testMessage); err == nil {
			t.Fatal("sent without authenticating to a server that requires it")
		}
	})
	if n := srv.Count(); n != 1 {
		t.Errorf("server kept %d messages, want 1", n)
	}
}

// Away from loopback, STARTTLS is mandatory: a server (or a man in the
// middle stripping the capability) without it gets neither the password
// nor the message.
func TestSMTPStartTLSMandatoryAwayFromLoopback(t *testing.T) {
	t.Run("not offered", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.WithAuth("mailer", "s3cret-pw"))
		s := newTestSMTP(t, srv, srv.URL())
		s.loopback = false // as for a remote relay
		err := s.Send(context.Background(), testMessage)
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("Send = %v, want a STARTTLS error", err)
		}
		if srv.Count() != 0 {
			t.Error("the message went out in clear")
		}
	})
	t.Run("offered", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.WithSTARTTLS(), mailtest.WithAuth("mailer", "s3cret-pw"))
		s := newTestSMTP(t, srv, srv.URL())
		s.loopback = false
		if err := s.Send(context.Background(), testMessage); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := srv.Wait(5 * time.Second); !got.TLS || got.AuthUser != "mailer" {
			t.Errorf("TLS %v AuthUser %q", got.TLS, got.AuthUser)
		}
	})
}

func TestSMTPImplicitTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithImplicitTLS(), mailtest.WithAuth("mailer", "s3cret-pw"))
	if !strings.HasPrefix(srv.URL(), "smtps://") {
		t.Fatalf("URL = %q", srv.URL())
	}
	s := newTestSMTP(t, srv, srv.URL())
	s.loopback = false
	if err := s.Send(context.Background(), testMessage); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Wait(5 * time.Second)
	checkDelivered(t, got)
	if !got.TLS || got.AuthUser != "mailer" {
		t.Errorf("TLS %v AuthUser %q", got.TLS, got.AuthUser)
	}
}

func TestSMTPTimeout(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithDataDelay(3*time.Second))
	s, err := NewSMTP(SMTPConfig{URL: srv.URL(), From: "noreply@example.com", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Send(context.Background(), testMessage); err == nil {
		t.Fatal("a send outlived its timeout")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %v with a 300ms timeout", d)
	}

	// The caller's context bounds it too.
	s.timeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := s.Send(ctx, testMessage); err == nil {
		t.Fatal("a send outlived its context")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %v with a 300ms context", d)
	}
}

func TestSMTPDeadServer(t *testing.T) {
	srv := mailtest.Start(t)
	addr := srv.Addr
	s := newTestSMTP(t, srv, "smtp://"+addr)
	s.port = 1 // nothing listens there
	if err := s.Send(context.Background(), testMessage); err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
}

func TestNewSMTPRefuses(t *testing.T) {
	tests := []struct{ name, url, from string }{
		{"scheme", "http://u:hunter2@mail.example.com", "a@example.com"},
		{"no host", "smtp://u:hunter2@:25", "a@example.com"},
		{"bad port", "smtp://u:hunter2@mail.example.com:99999", "a@example.com"},
		{"path", "smtp://u:hunter2@mail.example.com/x", "a@example.com"},
		{"query", "smtp://u:hunter2@mail.example.com?tls=no", "a@example.com"},
		{"password without user", "smtp://:hunter2@mail.example.com", "a@example.com"},
		{"from", "smtp://u:hunter2@mail.example.com", "not an address"},
		{"garbage", "smtp://u:hunter2@mail.example.com:%zz", "a@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSMTP(SMTPConfig{URL: tt.url, From: tt.from})
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestNewSMTPDefaults(t *testing.T) {
	tests := []struct {
		url      string
		port     int
		implicit bool
		loopback bool
	}{
		{"smtp://mail.example.com", 587, false, false},
		{"smtps://u:p@mail.example.com", 465, true, false},
		{"smtp://127.0.0.1:2525", 2525, false, true},
		{"smtp://localhost:25", 25, false, true},
		{"smtp://[::1]:25", 25, false, true},
	}
	for _, tt := range tests {
		s, err := NewSMTP(SMTPConfig{URL: tt.url, From: "a@example.com"})
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if s.port != tt.port || s.implicitTLS != tt.implicit || s.loopback != tt.loopback || s.timeout != DefaultTimeout {
			t.Errorf("%s: port %d implicit %v loopback %v timeout %v", tt.url, s.port, s.implicitTLS, s.loopback, s.timeout)
		}
		if strings.Contains(s.String(), "@") {
			t.Errorf("String() = %q shows user info", s.String())
		}
	}
}

func TestNewChoosesTheMailer(t *testing.T) {
	m, err := New(config.Mail{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*Log); !ok {
		t.Errorf("empty smtp_url: %T, want *Log", m)
	}
	m, err = New(config.Mail{SMTPURL: "smtp://mail.example.com", From: "a@example.com"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*SMTP); !ok {
		t.Errorf("smtp_url set: %T, want *SMTP", m)
	}
}

func TestLogMailerWritesTheMessage(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	if err := NewLog(zap.New(core)).Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d log entries, want 1", len(entries))
	}
	f := entries[0].ContextMap()
	if f["to"] != testMessage.To || f["text"] != testMessage.Text || entries[0].Level != zap.WarnLevel {
		t.Errorf("entry %v %v", entries[0].Level, f)
	}
}
