// Package problem renders the gateway's error answers as RFC 9457
// application/problem+json documents with a stable machine-readable code.
//
// A Problem separates what the client is told (Title, Detail, Errors) from what
// the operator needs (Err, logged but never sent), so that internal causes and
// secrets cannot leak into responses.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Stable codes. Clients branch on these; they are part of the public contract.
const ( // #nosec G101 -- error codes such as "invalid_credentials", not credentials
	InvalidCredentials   = "invalid_credentials"
	InvalidToken         = "invalid_token"
	TokenExpired         = "token_expired"
	Unauthenticated      = "unauthenticated"
	Forbidden            = "forbidden"
	RateLimited          = "rate_limited"
	ValidationFailed     = "validation_failed"
	EmailTaken           = "email_taken"
	WeakPassword         = "weak_password"
	AccountDisabled      = "account_disabled"
	NotFound             = "not_found"
	BadRequest           = "bad_request"
	PayloadTooLarge      = "payload_too_large"
	UnsupportedMedia     = "unsupported_media_type"
	UpstreamUnavailable  = "upstream_unavailable"
	UpstreamTimeout      = "upstream_timeout"
	Overloaded           = "overloaded"
	MethodNotAllowed     = "method_not_allowed"
	HeaderFieldsTooLarge = "header_fields_too_large"
	Internal             = "internal_error"
)

// ContentType is the media type of every problem response.
const ContentType = "application/problem+json"

// Problem is an error that knows how to answer the client.
type Problem struct {
	Status int
	Code   string
	// Detail is a human explanation safe to show the client.
	Detail string
	// Errors maps request fields to what is wrong with them.
	Errors map[string]string
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
	// Err is the internal cause: logged, never sent.
	Err error
}

// New returns a problem with the given status, code and client-safe detail.
func New(status int, code, detail string) *Problem {
	return &Problem{Status: status, Code: code, Detail: detail}
}

// Wrap returns a problem that also records an internal cause for the log.
func Wrap(status int, code, detail string, cause error) *Problem {
	return &Problem{Status: status, Code: code, Detail: detail, Err: cause}
}

func (p *Problem) Error() string {
	if p.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", p.Status, p.Code, p.Detail, p.Err)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail)
}

func (p *Problem) Unwrap() error { return p.Err }

// As returns the *Problem in err's chain, or nil.
func As(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return nil
}

// document is the RFC 9457 body.
type document struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail,omitempty"`
	Code   string            `json:"code"`
	Errors map[string]string `json:"errors,omitempty"`
}

// Bearer challenges (RFC 6750 section 3): the gateway accepts Bearer access
// tokens (or its cookies, which carry the same tokens) and nothing else.
const (
	// ChallengeBearer asks for credentials where none were presented, or
	// where what was presented is not a token (a wrong password): RFC 6750
	// section 3.1 says such an answer should carry no error code.
	ChallengeBearer = `Bearer realm="gateway"` // #nosec G101 -- a WWW-Authenticate value, not a credential
	// ChallengeInvalidToken says that the token presented is expired,
	// revoked, malformed or otherwise invalid: the client may get a new
	// one and retry (RFC 6750 section 3.1).
	ChallengeInvalidToken = `Bearer realm="gateway", error="invalid_token"` // #nosec G101 -- a WWW-Authenticate value, not a credential
)

// SetChallenge gives the answer p its WWW-Authenticate header when p is a
// 401: RFC 9110 section 15.5.2 requires a challenge on every 401, and
// clients (fetch wrappers, OAuth libraries) branch on it. A token refused
// as invalid or expired gets error="invalid_token"; any other 401 the bare
// challenge. A value already set is kept: the code that set it knew the
// request better.
func SetChallenge(h http.Header, p *Problem) {
	if p.Status != http.StatusUnauthorized || h.Get("WWW-Authenticate") != "" {
		return
	}
	switch p.Code {
	case InvalidToken, TokenExpired:
		h.Set("WWW-Authenticate", ChallengeInvalidToken)
	default:
		h.Set("WWW-Authenticate", ChallengeBearer)
	}
}

// setHeader sets the header fields of the answer p.
func setHeader(h http.Header, p *Problem) {
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.RetryAfter > 0 {
		secs := int64((p.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	SetChallenge(h, p)
}

// Write sends p as the response. It must be called before anything else was
// written.
func Write(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	setHeader(h, p)
	body, _ := json.Marshal(document{
		// about:blank tells clients that the title is the status text and
		// the code carries the meaning (RFC 9457 section 4.2.1).
		Type:   "about:blank",
		Title:  http.StatusText(p.Status),
		Status: p.Status,
		Detail: p.Detail,
		Code:   p.Code,
		Errors: p.Errors,
	})
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// WriteHead sends p without a body, as the answer to a HEAD request: the
// status and header fields Write would send (RFC 9110 section 9.3.2).
func WriteHead(w http.ResponseWriter, p *Problem) {
	setHeader(w.Header(), p)
	w.WriteHeader(p.Status)
}
