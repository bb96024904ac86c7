package mailtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
)

// Message is one message as the server received it.
type Message struct {
	// EnvelopeFrom and EnvelopeTo are the SMTP MAIL FROM and RCPT TO.
	EnvelopeFrom string
	EnvelopeTo   []string
	// From, To and Subject come from the headers, decoded (RFC 2047).
	From    string
	To      []string
	Subject string
	Header  mail.Header
	// Text and HTML are the decoded text/plain and text/html parts; "" when
	// the message has none.
	Text string
	HTML string
	// TLS tells whether the message came over TLS (STARTTLS or SMTPS).
	TLS bool
	// AuthUser is the user the client authenticated as, "" when it did not.
	AuthUser string
	// Raw is the message as received.
	Raw []byte
}

// resetLink matches the password reset link in a message body.
var resetLink = regexp.MustCompile(`https?://[^\s"'<>]+/auth/password/reset\?token=[A-Za-z0-9_\-]+`)

// ResetLink returns the first password reset link in the text part (or the
// HTML part when there is no text part), "" when there is none.
func (m Message) ResetLink() string {
	if l := resetLink.FindString(m.Text); l != "" {
		return l
	}
	return resetLink.FindString(m.HTML)
}

// ResetToken returns the token query parameter of ResetLink, "" when there
// is no link.
func (m Message) ResetToken() string {
	l := m.ResetLink()
	if l == "" {
		return ""
	}
	u, err := url.Parse(l)
	if err != nil {
		return ""
	}
	return u.Query().Get("token")
}

var errNoBody = errors.New("message has neither a text nor an HTML part")

// parse reads a message and decodes its text and HTML parts, nested
// multiparts included (multipart/alternative inside multipart/mixed).
func parse(raw []byte) (Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, fmt.Errorf("read message: %w", err)
	}
	var dec mime.WordDecoder
	m := Message{Header: msg.Header, Raw: raw}
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Message{}, fmt.Errorf("subject: %w", err)
	}
	if from, err := msg.Header.AddressList("From"); err == nil && len(from) > 0 {
		m.From = from[0].Address
	}
	if to, err := msg.Header.AddressList("To"); err == nil {
		for _, a := range to {
			m.To = append(m.To, a.Address)
		}
	}
	if err := m.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return Message{}, err
	}
	if m.Text == "" && m.HTML == "" {
		return Message{}, errNoBody
	}
	return m, nil
}

// walk decodes one MIME entity into m, recursing into multiparts.
func (m *Message) walk(contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain; charset=us-ascii"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := m.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body) // ignores line breaks
	case "", "7bit", "8bit", "binary":
		r = body
	default:
		return fmt.Errorf("unknown transfer encoding %q", encoding)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%s part: %w", mediaType, err)
	}
	switch mediaType {
	case "text/plain":
		if m.Text == "" {
			m.Text = normalizeNewlines(string(b))
		}
	case "text/html":
		if m.HTML == "" {
			m.HTML = normalizeNewlines(string(b))
		}
	}
	return nil
}

func normalizeNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
