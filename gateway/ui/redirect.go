package ui

import (
	"net/url"
	"path"
	"strings"
)

// maxRedirectLen bounds rd: a longer value is no page of this site that a
// login interrupted, and would only bloat headers and hidden inputs.
const maxRedirectLen = 2048

// maxDecodeRounds is how many layers of percent-encoding SafeRedirect peels
// to look for an encoded "//" or "\" (double-encoding, %252F).
const maxDecodeRounds = 3

// loopPaths are the pages of the login and logout flows: sending a user back
// to one of them after a login would loop or sign them out again.
var loopPaths = []string{"/auth/login", "/auth/logout", "/auth/register", "/auth/refresh"}

// SafeRedirect returns rd when it is a path on this origin that is safe to
// send a browser to after a login, and "/" otherwise (SPEC section 4: only
// same-origin relative paths are honoured).
//
// It is deliberately stricter than "url.Parse says no host": browsers and
// servers disagree about URLs in ways attackers use for open redirects, so
// anything a browser could read as another origin, or that needs a
// judgement call, is refused:
//   - it must start with exactly one "/" ("//evil" and "/\evil" are
//     protocol-relative to a browser, which treats "\" as "/");
//   - only printable ASCII: browsers drop tab and newline inside URLs
//     ("/\t/evil" becomes "//evil"), and non-ASCII look-alikes are
//     normalised unpredictably; a browser percent-encodes both anyway;
//   - no backslash anywhere, and no "@" in the path (userinfo tricks);
//   - the same holds after up to three rounds of percent-decoding
//     ("/%2F%2Fevil", "/%5Cevil", "/%252F%252Fevil"), and invalid
//     percent-encoding is refused;
//   - at most maxRedirectLen bytes;
//   - not a page of the login or logout flow itself.
func SafeRedirect(rd string) string {
	if !safeRedirect(rd) {
		return "/"
	}
	return rd
}

func safeRedirect(rd string) bool {
	if rd == "" || len(rd) > maxRedirectLen {
		return false
	}
	for i := 0; i < len(rd); i++ {
		// Printable ASCII only: no controls, no space, no DEL, no
		// non-ASCII bytes.
		if c := rd[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	if !singleSlash(rd) {
		return false
	}
	p, _, _ := strings.Cut(rd, "?")
	p, _, _ = strings.Cut(p, "#")
	if strings.Contains(p, "@") {
		return false
	}
	// Peel percent-encoding: what a server or browser might decode must be
	// as harmless as what it was sent as. Invalid encoding in rd itself is
	// refused; a later layer that does not decode is the literal text
	// ("/50%25off" is "/50%off").
	decoded := p
	for round := range maxDecodeRounds {
		if !strings.Contains(decoded, "%") {
			break
		}
		next, err := url.PathUnescape(decoded)
		if err != nil {
			if round == 0 {
				return false
			}
			break
		}
		decoded = next
		if !singleSlash(decoded) || strings.ContainsAny(decoded, "\\@") {
			return false
		}
		for i := 0; i < len(decoded); i++ {
			if c := decoded[i]; c < ' ' || c == 0x7f {
				return false
			}
		}
		if round == maxDecodeRounds-1 && strings.Contains(decoded, "%") {
			if _, err := url.PathUnescape(decoded); err == nil {
				// Still encoded after every round: more layers than
				// any legitimate link has.
				return false
			}
		}
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return false
	}
	return !inLoginFlow(decoded)
}

// singleSlash reports whether s starts with "/" not followed by another
// "/" or "\".
func singleSlash(s string) bool {
	return len(s) > 0 && s[0] == '/' && (len(s) == 1 || (s[1] != '/' && s[1] != '\\'))
}

// inLoginFlow reports whether the (decoded) path p is one of loopPaths or
// under /auth/password/.
func inLoginFlow(p string) bool {
	clean := strings.ToLower(path.Clean(p))
	for _, lp := range loopPaths {
		if clean == lp {
			return true
		}
	}
	return strings.HasPrefix(clean, "/auth/password/")
}
