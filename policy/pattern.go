package policy

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// This file compiles the PATH and METHODS fields of a p line into matchers
// that answer exactly what Casbin's keyMatch2 and regexMatch answer (the
// differential fuzz test FuzzDecideMatchesCasbin holds them to it), without
// building or running a regexp per request.
//
// keyMatch2 (casbin util.KeyMatch2) turns the pattern into a regexp:
//
//	key2 = strings.Replace(key2, "/*", "/.*", -1)
//	key2 = regexp.MustCompile(`:[^/]+`).ReplaceAllString(key2, "$1[^/]+$2")
//	return RegexMatch(key1, "^"+key2+"$")
//
// and what follows from that:
//   - "/api/*" matches "/api/" and "/api/x/y" but not "/api": the slash
//     before the star is literal.
//   - ":id" matches one non-empty segment ([^/]+, which includes "\n"); the
//     colon swallows the rest of the segment, so ":id.json" is just a
//     parameter. Load accepts ":name" only as a whole segment.
//   - Everything else is a regexp: "." matches any one character except
//     "\n" (so /openapi.json also matches /openapi_json), "*" after anything
//     but "/" repeats the previous character, and "|" would break the
//     anchoring. Load refuses every regexp metacharacter except ".".
//   - A "/*" that is not at the end becomes ".*" in the middle and matches
//     any number of segments: /api/*/items matches /api/a/b/items. It is
//     allowed (with a warning) and answered by the compiled regexp.
//   - Matching is on the raw path, byte for byte: no case folding, no
//     percent-decoding, no slash cleaning. /API/items, /api/items/ and
//     /api/%69tems are three other paths.
//
// regexMatch(r.act, p.act) is regexp.MatchString(p.act, method): NOT
// anchored. "GET" also matches "GETX" and "XGET", "P" matches POST, PUT,
// PATCH and OPTIONS. The model answers "*" without calling it.

// pathElem is one element of a compiled path pattern.
type pathElem struct {
	kind uint8
	lit  string // for litPlain and litDots, the literal text (with separators)
}

const (
	litPlain uint8 = iota // literal bytes
	litDots               // literal bytes where '.' is any one rune except '\n'
	paramSeg              // ":name": one or more bytes up to the next '/'
	tailStar              // trailing "/*" (after its '/'): the rest, without '\n'
)

// pathMatcher answers keyMatch2(path, pattern) for one pattern.
type pathMatcher struct {
	elems []pathElem     // the fast form, when re is nil
	re    *regexp.Regexp // keyMatch2's own regexp, for a "/*" in the middle
	// prefix is the pattern's leading whole literal segments (no '.', ':'
	// or '*'), without their slashes: every path the pattern matches starts
	// with "/" + strings.Join(prefix, "/") followed by "/" or the end. The
	// index files the rule under them.
	prefix []string
}

func (m *pathMatcher) match(path string) bool {
	if m.re != nil {
		return m.re.MatchString(path)
	}
	pos := 0
	for i := range m.elems {
		e := &m.elems[i]
		switch e.kind {
		case litPlain:
			if !strings.HasPrefix(path[pos:], e.lit) {
				return false
			}
			pos += len(e.lit)
		case litDots:
			n, ok := matchDots(path[pos:], e.lit)
			if !ok {
				return false
			}
			pos += n
		case paramSeg:
			n := strings.IndexByte(path[pos:], '/')
			if n < 0 {
				n = len(path) - pos
			}
			if n == 0 {
				return false
			}
			pos += n
		case tailStar:
			return strings.IndexByte(path[pos:], '\n') < 0
		}
	}
	return pos == len(path)
}

// matchDots matches the start of s against lit, an ASCII literal in which
// '.' stands for any one character but '\n', as Go's regexp reads it: one
// rune, or one byte of invalid UTF-8. It returns the bytes consumed.
func matchDots(s, lit string) (int, bool) {
	i := 0
	for j := 0; j < len(lit); j++ {
		if i >= len(s) {
			return 0, false
		}
		if c := lit[j]; c != '.' {
			if s[i] != c {
				return 0, false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\n' {
			return 0, false
		}
		i += size
	}
	return i, true
}

// keyMatch2Param is keyMatch2's parameter expression.
var keyMatch2Param = regexp.MustCompile(`:[^/]+`)

// keyMatch2Regexp returns the regexp keyMatch2 builds for pattern.
func keyMatch2Regexp(pattern string) string {
	p := strings.ReplaceAll(pattern, "/*", "/.*")
	p = keyMatch2Param.ReplaceAllString(p, "$1[^/]+$2")
	return "^" + p + "$"
}

// pathMeta are the regexp metacharacters a path pattern may not contain:
// keyMatch2 would pass them to the regexp, where they would not mean what an
// admin reading the file expects. '.' is allowed (see above), '*' and ':'
// are checked on their own.
const pathMeta = `\+?()|[]{}^$`

// compilePath validates a PATH field and compiles it. midStar reports a "/*"
// that is not at the end (legal, but it spans segments).
func compilePath(pattern string) (m pathMatcher, midStar bool, err error) {
	if pattern == "" || pattern[0] != '/' {
		return m, false, fmt.Errorf("PATH %q must start with /", pattern)
	}
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c >= utf8.RuneSelf:
			return m, false, fmt.Errorf("PATH %q: non-ASCII character; write it percent-encoded, as requests carry it", pattern)
		case c <= ' ' || c == 0x7f:
			return m, false, fmt.Errorf("PATH %q: space or control character", pattern)
		case c == ',':
			// Casbin dedups lines by their fields joined with commas:
			// p, a, "/x,y", GET and p, a, /x, "y,GET" would be one line.
			return m, false, fmt.Errorf("PATH %q: ',' is not allowed (Casbin joins fields with commas and would take this line for another)", pattern)
		case strings.IndexByte(pathMeta, c) >= 0:
			return m, false, fmt.Errorf("PATH %q: %q is a regexp metacharacter in keyMatch2 patterns; only :param, a trailing /* and literal text are allowed", pattern, c)
		}
	}
	segs := strings.Split(pattern[1:], "/")
	literalPrefix := true
	var lit strings.Builder
	dots := false
	flush := func() {
		if lit.Len() > 0 {
			kind := litPlain
			if dots {
				kind = litDots
			}
			m.elems = append(m.elems, pathElem{kind: kind, lit: lit.String()})
			lit.Reset()
			dots = false
		}
	}
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "*":
			if !last {
				midStar = true
			}
			literalPrefix = false
			lit.WriteByte('/')
			flush()
			m.elems = append(m.elems, pathElem{kind: tailStar})
		case strings.HasPrefix(seg, ":"):
			if !isParamName(seg[1:]) {
				return pathMatcher{}, false, fmt.Errorf("PATH %q: parameter %q must be a whole segment named with letters, digits, _ or - (keyMatch2 makes everything from ':' to the next '/' one parameter)", pattern, seg)
			}
			literalPrefix = false
			lit.WriteByte('/')
			flush()
			m.elems = append(m.elems, pathElem{kind: paramSeg})
		case strings.ContainsAny(seg, ":*"):
			return pathMatcher{}, false, fmt.Errorf("PATH %q: %q: '*' and ':' are wildcards only as a whole segment (/*, /:name)", pattern, seg)
		default:
			if strings.IndexByte(seg, '.') >= 0 {
				dots = true
				literalPrefix = false
			}
			if literalPrefix {
				m.prefix = append(m.prefix, seg)
			}
			lit.WriteByte('/')
			lit.WriteString(seg)
		}
	}
	flush()
	if midStar {
		// ".*" in the middle needs backtracking: use keyMatch2's regexp.
		re, err := regexp.Compile(keyMatch2Regexp(pattern))
		if err != nil {
			return pathMatcher{}, false, fmt.Errorf("PATH %q: %v", pattern, err)
		}
		m.elems, m.re = nil, re
	}
	return m, midStar, nil
}

func isParamName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// standardMethods are the methods whose answers a methodMatcher computes at
// load time. Their order gives the bits of methodMatcher.mask.
var standardMethods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

func methodIndex(method string) int {
	switch method {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "PATCH":
		return 4
	case "DELETE":
		return 5
	case "OPTIONS":
		return 6
	case "CONNECT":
		return 7
	case "TRACE":
		return 8
	}
	return -1
}

// methodMatcher answers `p.act == "*" || regexMatch(method, p.act)`.
type methodMatcher struct {
	any  bool
	mask uint16         // the answer for each standard method
	re   *regexp.Regexp // for any other method
	// anchoredMask is what mask would be for ^(?:re)$ (for the warning on
	// unanchored regexps).
	anchoredMask uint16
}

func (m *methodMatcher) match(method string, idx int) bool {
	switch {
	case m.any:
		return true
	case idx >= 0:
		return m.mask&(1<<idx) != 0
	default:
		return m.re.MatchString(method)
	}
}

// compileMethods validates a METHODS field and compiles it.
func compileMethods(s string) (methodMatcher, error) {
	switch s {
	case "*":
		return methodMatcher{any: true}, nil
	case "":
		// The empty regexp matches every method.
		return methodMatcher{}, fmt.Errorf("METHODS is empty: write * for every method")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return methodMatcher{}, fmt.Errorf("METHODS %q: space or control character (the regexp would have to match it)", s)
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return methodMatcher{}, fmt.Errorf("METHODS %q: not a valid regexp: %v", s, err)
	}
	m := methodMatcher{re: re, mask: methodMask(re)}
	if anchored, err := regexp.Compile("^(?:" + s + ")$"); err == nil {
		m.anchoredMask = methodMask(anchored)
	}
	return m, nil
}

func methodMask(re *regexp.Regexp) uint16 {
	var mask uint16
	for i, name := range standardMethods {
		if re.MatchString(name) {
			mask |= 1 << i
		}
	}
	return mask
}

func maskNames(mask uint16) string {
	var names []string
	for i, name := range standardMethods {
		if mask&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}
