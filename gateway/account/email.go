package account

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits from RFC 5321 §4.5.3.1 (octets, which RFC 6531 keeps for UTF-8).
const (
	maxEmailLen  = 254
	maxLocalLen  = 64
	maxDomainLbl = 63
)

// EmailError says why an address was refused. Msg is written for the user
// and fits a validation_failed field error as is ({"errors": {"email": Msg}}).
type EmailError struct {
	Msg string
}

func (e *EmailError) Error() string { return "account: invalid email: " + e.Msg }

func emailErr(msg string) error { return &EmailError{Msg: msg} }

// NormalizeEmail returns the canonical form of an address: the form stored,
// compared and shown. Two inputs that name the same account normalise to the
// same string (SPEC 9: trimmed, NFKC-normalised, compared case-insensitively).
//
// Steps: refuse invalid UTF-8; trim surrounding white space; apply NFKC and
// lower-case until stable (lower-casing after NFKC can, rarely, produce text
// that NFKC changes again); then check the result. It is refused, with an
// *EmailError, when it
//   - is empty, longer than 254 octets, or has a local part over 64 octets;
//   - contains a control (Cc), format (Cf: U+200B, U+200E, U+202E, U+FEFF, ...),
//     private-use, unassigned or other default-ignorable ("invisible")
//     character, or white space anywhere (also a space that NFKC produced,
//     as from U+00A8);
//   - does not have exactly one '@', or has an empty local part or domain;
//   - is not a bare addr-spec to net/mail.ParseAddress (no display name,
//     angle brackets or comments; dot-atom rules: no leading, trailing or
//     doubled dots);
//   - has a quoted local part ("john"@example.com): refused rather than
//     unquoted, so that one mailbox has one spelling;
//   - has a domain literal (user@[192.0.2.1]), or a domain label that is
//     empty (trailing dot), over 63 octets, starts or ends with '-', or holds
//     an ASCII character other than a-z, 0-9, '-' or a non-ASCII character
//     that is not a letter, mark or digit.
//
// Choices:
//   - Lower-casing uses strings.ToLower (Unicode simple case mapping), not
//     full case folding (golang.org/x/text/cases.Fold): folding would merge
//     distinct mailboxes such as "straße" and "strasse", while lower-casing
//     only merges what users mean as the same (ALICE/alice, ＡＬＩＣＥ/alice).
//   - Internationalised domains stay in Unicode as typed (after NFKC and
//     lower-casing); they are not converted to or from punycode, so
//     "bob@bücher.example" and "bob@xn--bcher-kva.example" are two addresses.
//   - Dotless domains (user@localhost) are accepted: net/mail accepts them
//     and a private deployment may use them.
func NormalizeEmail(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", emailErr("must be valid UTF-8 text")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", emailErr("must not be empty")
	}
	// Cheap guard before NFKC, which can expand text up to 18 times.
	if len(s) > 4*maxEmailLen {
		return "", emailErr("must be at most 254 characters")
	}
	s, ok := foldStable(s)
	if !ok {
		return "", emailErr("contains characters that cannot be normalised")
	}
	if len(s) > maxEmailLen {
		return "", emailErr("must be at most 254 characters")
	}
	for _, r := range s {
		if msg := badRune(r); msg != "" {
			return "", emailErr(msg)
		}
	}
	if strings.ContainsRune(s, '"') {
		return "", emailErr("must not use a quoted local part")
	}
	if n := strings.Count(s, "@"); n != 1 {
		if n == 0 {
			return "", emailErr("must contain an @")
		}
		return "", emailErr("must contain exactly one @")
	}
	local, domain, _ := strings.Cut(s, "@")
	if local == "" {
		return "", emailErr("must have a name before the @")
	}
	if domain == "" {
		return "", emailErr("must have a domain after the @")
	}
	if len(local) > maxLocalLen {
		return "", emailErr("must have at most 64 characters before the @")
	}
	if strings.HasPrefix(domain, "[") {
		return "", emailErr("must use a domain name, not an IP address literal")
	}
	if msg := checkDomain(domain); msg != "" {
		return "", emailErr(msg)
	}
	if a, err := mail.ParseAddress(s); err != nil || a.Name != "" || a.Address != s {
		return "", emailErr("is not a valid email address")
	}
	return s, nil
}

// foldStable applies NFKC and lower-casing until the text no longer changes.
func foldStable(s string) (string, bool) {
	for range 4 {
		next := strings.ToLower(norm.NFKC.String(s))
		if next == s {
			return s, true
		}
		s = next
	}
	return s, false
}

// badRune returns why r may not appear in an address, or "".
func badRune(r rune) string {
	switch {
	case r == utf8.RuneError:
		return "must be valid UTF-8 text"
	case unicode.IsControl(r):
		return "must not contain control characters"
	case unicode.IsSpace(r):
		return "must not contain spaces"
	case unicode.Is(unicode.Cf, r),
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r),
		unicode.Is(unicode.Variation_Selector, r),
		// Blank-looking graphic characters used to fake empty names.
		r == '\u2800',                                              // BRAILLE PATTERN BLANK
		r == '\u115F', r == '\u1160', r == '\u3164', r == '\uFFA0': // Hangul fillers
		return "must not contain invisible characters"
	case !unicode.IsGraphic(r):
		// Private use, unassigned, line and paragraph separators.
		return "must not contain unassigned or private-use characters"
	}
	return ""
}

// checkDomain applies host-name rules to the (lower-cased) domain.
func checkDomain(domain string) string {
	for _, label := range strings.Split(domain, ".") {
		switch {
		case label == "":
			return "must not have an empty domain label (a leading, trailing or doubled dot)"
		case len(label) > maxDomainLbl:
			return "must not have a domain label longer than 63 characters"
		case label[0] == '-' || label[len(label)-1] == '-':
			return "must not have a domain label that starts or ends with a hyphen"
		}
		for _, r := range label {
			if r < utf8.RuneSelf {
				if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
					return "must have a domain of letters, digits, hyphens and dots"
				}
				continue
			}
			if !unicode.In(r, unicode.L, unicode.M, unicode.Nd) {
				return "must have a domain of letters, digits, hyphens and dots"
			}
		}
	}
	return ""
}
