package mailtest_test

import (
	"context"
	"crypto/tls"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/authgate/gateway/internal/mailtest"
)

// A multipart/alternative message, quoted-printable text and base64 HTML,
// as mailers send them.
const multipartMessage = "From: Gateway <noreply@example.test>\r\n" +
	"To: ada@example.test\r\n" +
	"Subject: =?UTF-8?q?R=C3=A9initialiser?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=XYZ\r\n" +
	"\r\n" +
	"--XYZ\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Open https://gw.example.test/auth/password/reset?token=3Dabc_DEF-123 within=\r\n" +
	" 30 minutes.\r\n" +
	"--XYZ\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+PGEgaHJlZj0iaHR0cHM6Ly9ndy5leGFtcGxlLnRlc3QvYXV0aC9wYXNzd29yZC9yZXNldD90\r\n" +
	"b2tlbj1hYmNfREVGLTEyMyI+UmVzZXQ8L2E+PC9wPg==\r\n" +
	"--XYZ--\r\n"

func TestPlainCapturesAndDecodes(t *testing.T) {
	srv := mailtest.Start(t)
	if err := smtp.SendMail(srv.Addr, nil, "bounce@example.test", []string{"ada@example.test"}, []byte(multipartMessage)); err != nil {
		t.Fatalf("send: %v", err)
	}
	m := srv.Wait(5 * time.Second)
	if m.EnvelopeFrom != "bounce@example.test" || len(m.EnvelopeTo) != 1 || m.EnvelopeTo[0] != "ada@example.test" {
		t.Errorf("envelope = %q → %q", m.EnvelopeFrom, m.EnvelopeTo)
	}
	if m.From != "noreply@example.test" || len(m.To) != 1 || m.To[0] != "ada@example.test" {
		t.Errorf("headers From %q To %q", m.From, m.To)
	}
	if m.Subject != "Réinitialiser" {
		t.Errorf("subject = %q", m.Subject)
	}
	if want := "Open https://gw.example.test/auth/password/reset?token=abc_DEF-123 within 30 minutes."; strings.TrimSpace(m.Text) != want {
		t.Errorf("text = %q, want %q", m.Text, want)
	}
	if !strings.Contains(m.HTML, `<a href="https://gw.example.test/auth/password/reset?token=abc_DEF-123">`) {
		t.Errorf("html = %q", m.HTML)
	}
	if got := m.ResetLink(); got != "https://gw.example.test/auth/password/reset?token=abc_DEF-123" {
		t.Errorf("ResetLink = %q", got)
	}
	if got := m.ResetToken(); got != "abc_DEF-123" {
		t.Errorf("ResetToken = %q", got)
	}
	if m.TLS || m.AuthUser != "" {
		t.Errorf("TLS %v AuthUser %q on a plain, anonymous exchange", m.TLS, m.AuthUser)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("Messages() has %d, want 1", n)
	}
	if got := srv.URL(); got != "smtp://"+srv.Addr {
		t.Errorf("URL = %q", got)
	}
}

func TestAuthRequiredAndChecked(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithAuth("mailer", "s3cret"))
	if got, want := srv.URL(), "smtp://mailer:s3cret@"+srv.Addr; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	to := []string{"ada@example.test"}
	if err := smtp.SendMail(srv.Addr, nil, "a@example.test", to, []byte(multipartMessage)); err == nil {
		t.Error("anonymous send accepted by a server that requires AUTH")
	}
	// net/smtp refuses PLAIN in clear except to localhost; the server is on
	// 127.0.0.1, so dial by that name.
	host := "localhost"
	port := srv.Addr[strings.LastIndex(srv.Addr, ":"):]
	if err := smtp.SendMail(host+port, smtp.PlainAuth("", "mailer", "wrong", host), "a@example.test", to, []byte(multipartMessage)); err == nil {
		t.Error("wrong password accepted")
	}
	if err := smtp.SendMail(host+port, smtp.PlainAuth("", "mailer", "s3cret", host), "a@example.test", to, []byte(multipartMessage)); err != nil {
		t.Fatalf("authenticated send: %v", err)
	}
	m := srv.Wait(5 * time.Second)
	if m.AuthUser != "mailer" {
		t.Errorf("AuthUser = %q", m.AuthUser)
	}
	if srv.Count() != 1 {
		t.Errorf("Count = %d, want 1 (refused sends must not be kept)", srv.Count())
	}
}

func TestSTARTTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithSTARTTLS())
	c, err := smtp.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	// An untrusting client must fail the handshake: the certificate is self-signed.
	if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1"}); err == nil {
		t.Fatal("handshake succeeded without trusting the self-signed certificate")
	}

	c2, err := smtp.Dial(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: srv.RootCAs()}); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	if err := c2.Mail("a@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c2.Rcpt("ada@example.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c2.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(multipartMessage)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if m := srv.Wait(5 * time.Second); !m.TLS {
		t.Error("message over STARTTLS not marked TLS")
	}
}

func TestWaitReturnsEachMessageOnce(t *testing.T) {
	srv := mailtest.Start(t)
	done := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond) // Wait must block until the message arrives
		done <- smtp.SendMail(srv.Addr, nil, "a@example.test", []string{"ada@example.test"}, []byte(multipartMessage))
	}()
	first := srv.Wait(5 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if first.ResetToken() == "" {
		t.Fatal("no token in the waited message")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := srv.WaitContext(ctx); err == nil {
		t.Error("WaitContext returned the same message twice")
	}
}

func TestUnparsableMessageRefused(t *testing.T) {
	srv := mailtest.Start(t)
	bad := "Subject: x\r\nContent-Type: multipart/alternative\r\n\r\nno boundary\r\n"
	if err := smtp.SendMail(srv.Addr, nil, "a@example.test", []string{"b@example.test"}, []byte(bad)); err == nil {
		t.Error("a message with no decodable body was accepted")
	}
	if srv.Count() != 0 {
		t.Errorf("Count = %d", srv.Count())
	}
}
