package password

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/authgate/gateway/config"
)

// Codes of a RuleError. They equal the problem codes of SPEC 4
// (problem.ValidationFailed, problem.WeakPassword; a test keeps them equal)
// without making this package depend on the HTTP layer.
const (
	CodeValidationFailed = "validation_failed"
	CodeWeakPassword     = "weak_password"
)

// Sentinel causes of a RuleError; errors.Is works through it.
var (
	ErrTooShort      = errors.New("password: too short")
	ErrTooLong       = errors.New("password: too long")
	ErrInvalidText   = errors.New("password: NUL byte or invalid UTF-8")
	ErrCommon        = errors.New("password: common password")
	ErrContainsEmail = errors.New("password: contains the email's local part")
	ErrRepeated      = errors.New("password: single repeated character")
)

// Default lengths, used for a zero Rules field (SPEC 3 passwords).
const (
	DefaultMinLength = 12
	DefaultMaxLength = 256
)

// minEmailLocal is the shortest email local part that a password may not
// contain: "al" inside a password says nothing, "alice" does.
const minEmailLocal = 3

// RuleError is a password refused by Rules. Code is CodeValidationFailed or
// CodeWeakPassword; Message is safe to show the client (it never contains
// the password) and fits the problem document's errors map under "password".
type RuleError struct {
	Code    string
	Message string
	// Err is the sentinel cause (ErrTooShort, ErrCommon, ...).
	Err error
}

func (e *RuleError) Error() string { return e.Err.Error() + ": " + e.Message }

// Unwrap returns the sentinel cause.
func (e *RuleError) Unwrap() error { return e.Err }

// Rules decides which new passwords are acceptable. The zero value uses the
// defaults (12 to 256 characters).
type Rules struct {
	// MinLength is the fewest code points a password may have; 0 means
	// DefaultMinLength.
	MinLength int
	// MaxLength is the most code points a password may have; 0 means
	// DefaultMaxLength. It is checked before anything else touches the
	// password, so a huge one costs no hashing (SPEC 9).
	MaxLength int
}

// NewRules returns the rules of cfg (min_length, max_length).
func NewRules(cfg config.Passwords) Rules {
	return Rules{MinLength: cfg.MinLength, MaxLength: cfg.MaxLength}
}

func (r Rules) limits() (lo, hi int) {
	lo, hi = r.MinLength, r.MaxLength
	if lo <= 0 {
		lo = DefaultMinLength
	}
	if hi <= 0 {
		hi = DefaultMaxLength
	}
	return lo, hi
}

// CheckLength refuses, with CodeValidationFailed, a password that is not
// valid UTF-8, contains a NUL byte, or whose length in code points is outside
// [MinLength, MaxLength]. Login calls it before Verify: a password longer than
// MaxLength is a 400 before any hashing (SPEC 9). It does not judge strength,
// which applies only to new passwords (Check).
func (r Rules) CheckLength(pw string) error {
	lo, hi := r.limits()
	// A code point is at most 4 bytes: a longer string is too long whatever
	// it holds, and is refused without reading it.
	if len(pw) > hi*utf8.UTFMax {
		return r.tooLong(hi)
	}
	if !utf8.ValidString(pw) || strings.IndexByte(pw, 0) >= 0 {
		return &RuleError{Code: CodeValidationFailed, Err: ErrInvalidText,
			Message: "must be valid UTF-8 text without NUL characters"}
	}
	n := utf8.RuneCountInString(pw)
	if n > hi {
		return r.tooLong(hi)
	}
	if n < lo {
		return &RuleError{Code: CodeValidationFailed, Err: ErrTooShort,
			Message: fmt.Sprintf("must be at least %d characters", lo)}
	}
	return nil
}

// CheckMax refuses only a password over the maximum length, counted as
// CheckLength counts. Login uses it: a stored password may predate the
// current minimum, but no password over the maximum is ever hashed.
func (r Rules) CheckMax(pw string) error {
	_, hi := r.limits()
	if len(pw) > hi*utf8.UTFMax || utf8.RuneCountInString(pw) > hi {
		return r.tooLong(hi)
	}
	return nil
}

func (r Rules) tooLong(hi int) error {
	return &RuleError{Code: CodeValidationFailed, Err: ErrTooLong,
		Message: fmt.Sprintf("must be at most %d characters", hi)}
}

// Check judges a new password (registration, change, reset) for the account
// with the given email. Besides CheckLength it refuses, with CodeWeakPassword,
// a password that is in the common-password list (case-insensitively, after
// trimming spaces), that contains the email's local part (case-insensitively,
// when that part has at least 3 characters), or that is one character
// repeated. The password itself is never altered.
func (r Rules) Check(pw, email string) error {
	if err := r.CheckLength(pw); err != nil {
		return err
	}
	if IsCommon(pw) {
		return &RuleError{Code: CodeWeakPassword, Err: ErrCommon,
			Message: "is too common; choose one that is harder to guess"}
	}
	if containsLocalPart(pw, email) {
		return &RuleError{Code: CodeWeakPassword, Err: ErrContainsEmail,
			Message: "must not contain your email address"}
	}
	if repeated(pw) {
		return &RuleError{Code: CodeWeakPassword, Err: ErrRepeated,
			Message: "must not be a single repeated character"}
	}
	return nil
}

// containsLocalPart reports whether pw contains the local part of email
// (before the last "@"; the whole string when there is none), ignoring case.
func containsLocalPart(pw, email string) bool {
	local := strings.TrimSpace(email)
	if i := strings.LastIndexByte(local, '@'); i >= 0 {
		local = local[:i]
	}
	if utf8.RuneCountInString(local) < minEmailLocal {
		return false
	}
	return strings.Contains(strings.ToLower(pw), strings.ToLower(local))
}

// repeated reports whether pw is one code point repeated.
func repeated(pw string) bool {
	first, size := utf8.DecodeRuneInString(pw)
	if size == 0 {
		return false
	}
	for _, c := range pw[size:] {
		if c != first {
			return false
		}
	}
	return true
}
