package proxy

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ErrAmbiguousPath is wrapped by every error of CheckTarget.
var ErrAmbiguousPath = errors.New("ambiguous request path")

// CheckTarget validates a request-target as received on the wire
// (http.Request.RequestURI) and returns its path and raw query, unchanged.
//
// The gateway authorizes the path and forwards it byte for byte, so it must
// refuse every path that some upstream could read differently from the
// policy. The rules, each a known bypass of path-based authorization:
//
//   - origin-form only ("/..."): absolute-form, authority-form and "*" let a
//     server pick another host or path than the one checked;
//   - no "." or ".." segment, raw or encoded (%2e), and no empty segment
//     ("//"): servers resolve and merge them differently (traversal past a
//     prefix rule, nginx merge_slashes);
//   - no segment made only of dots and spaces ("...", "..%20", "%20"):
//     Windows path normalisation drops trailing dots and spaces and Spring's
//     AntPathMatcher trimmed whitespace (CVE-2016-5007), which turns them
//     into a dot segment or an empty one;
//   - no "\" raw or encoded: Windows servers and some frameworks treat it as
//     "/" (IIS, Tomcat);
//   - no ";": Tomcat and Spring strip ";params" from segments, so "/admin;x"
//     or "..;" reach a path the policy never saw (CVE-2020-1957, Shiro);
//   - no encoded "/", "%" or unreserved character (%61 for "a"): decoding
//     differs between servers and double decoding is a classic bypass; RFC
//     3986 section 2.3 says producers must not encode unreserved characters;
//   - no control byte, raw or encoded, and no raw byte outside the RFC 3986
//     path characters (space, quotes, non-ASCII): servers disagree on them;
//   - percent-encoding that is well-formed and decodes to valid, shortest-form
//     UTF-8 (overlong "%c0%ae" is a dot on old decoders);
//   - no character whose Unicode compatibility form (NFKC) contains one of
//     "/", "\", ".", "%", ";" ("／" U+FF0F, "．" U+FF0E): some servers
//     normalise Unicode before routing.
//
// The query never takes part in a decision and is returned as sent.
func CheckTarget(target string) (path, rawQuery string, err error) {
	if target == "" || target[0] != '/' {
		return "", "", fail("request target must be an absolute path (origin-form)")
	}
	path, rawQuery, _ = strings.Cut(target, "?")
	if err := checkPath(path); err != nil {
		return "", "", err
	}
	return path, rawQuery, nil
}

func checkPath(p string) error {
	var decoded []byte // the bytes of one run of escapes, reused
	segStart := 1
	dotsAndSpaces := true // the segment so far decodes to only '.' and ' '
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			switch seg := p[segStart:i]; {
			case seg == "" && i < len(p):
				return fail("empty path segment (//)")
			case seg == "." || seg == "..":
				return fail("dot segment in path")
			case seg != "" && dotsAndSpaces:
				return fail("segment of only dots and spaces (a dot or empty segment once trimmed)")
			}
			segStart = i + 1
			dotsAndSpaces = true
			continue
		}
		c := p[i]
		if c == '%' {
			// Decode the whole run of escapes, so that a multi-byte UTF-8
			// sequence is judged as one character.
			decoded = decoded[:0]
			j := i
			for ; j < len(p) && p[j] == '%'; j += 3 {
				if j+2 >= len(p) || !isHex(p[j+1]) || !isHex(p[j+2]) {
					return fail("invalid percent-encoding")
				}
				b := unhex(p[j+1])<<4 | unhex(p[j+2])
				if err := checkEncodedByte(b); err != nil {
					return err
				}
				if b != ' ' {
					dotsAndSpaces = false
				}
				decoded = append(decoded, b)
			}
			if !utf8.Valid(decoded) {
				return fail("percent-encoding is not valid shortest-form UTF-8")
			}
			if err := checkCompatibility(decoded); err != nil {
				return err
			}
			i = j - 1
			continue
		}
		if c != '.' {
			dotsAndSpaces = false
		}
		if !allowedRaw(c) {
			switch {
			case c == '\\':
				return fail("backslash in path")
			case c < 0x20 || c == 0x7f:
				return fail("control character in path")
			case c >= 0x80:
				return fail("raw non-ASCII byte in path (percent-encode it)")
			case c == ';':
				return fail("';' path parameter")
			default:
				return fail(fmt.Sprintf("character %q not allowed in a path", c))
			}
		}
	}
	return nil
}

// checkEncodedByte refuses decoded bytes whose meaning differs between
// servers.
func checkEncodedByte(b byte) error {
	switch {
	case b == '/':
		return fail("encoded '/' in path")
	case b == '\\':
		return fail("encoded backslash in path")
	case b == '%':
		return fail("encoded '%' in path (double encoding)")
	case b == '.':
		return fail("encoded '.' in path")
	case b == ';':
		return fail("encoded ';' in path")
	case b < 0x20 || b == 0x7f:
		return fail("encoded control character in path")
	case isUnreserved(b):
		return fail("encoded unreserved character in path")
	}
	return nil
}

// checkCompatibility refuses characters that NFKC folds into a path
// delimiter.
func checkCompatibility(decoded []byte) error {
	for _, r := range string(decoded) {
		switch {
		case r < utf8.RuneSelf:
			continue
		case r < 0xa0: // C1 controls
			return fail("encoded control character in path")
		case strings.ContainsAny(norm.NFKC.String(string(r)), `/\.%;`):
			return fail("character that normalises to a path delimiter")
		}
	}
	return nil
}

// allowedRaw reports whether c may appear unencoded in a path: RFC 3986
// pchar (unreserved, sub-delims, ':', '@') without ';', plus '/', and the
// characters WHATWG-conformant browsers leave unencoded in paths ('[' ']' '|'
// '^'), which no server treats as delimiters.
func allowedRaw(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', '=', ':', '@', '/',
		'[', ']', '|', '^':
		return true
	}
	return false
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

func fail(msg string) error {
	return &pathError{msg}
}

type pathError struct{ msg string }

func (e *pathError) Error() string { return e.msg }
func (e *pathError) Unwrap() error { return ErrAmbiguousPath }
