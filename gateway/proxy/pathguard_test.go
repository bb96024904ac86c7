package proxy

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// targetCase is one request-target as it arrives on the wire. ok says
// whether CheckTarget accepts it; for accepted targets path and query are
// what it must return (path defaults to the target up to '?').
type targetCase struct {
	name   string
	target string
	ok     bool
	path   string
	query  string
}

var targetCases = []targetCase{
	// Ordinary origin-form targets.
	{name: "root", target: "/", ok: true},
	{name: "plain path", target: "/api/items/42", ok: true},
	{name: "trailing slash", target: "/api/items/", ok: true},
	{name: "upper case", target: "/API/Items", ok: true},
	{name: "query", target: "/api/items?x=1&y=2", ok: true, path: "/api/items", query: "x=1&y=2"},
	{name: "empty query", target: "/a?", ok: true, path: "/a", query: ""},
	{name: "second question mark stays in query", target: "/a?b?c", ok: true, path: "/a", query: "b?c"},
	{name: "dots inside a segment", target: "/a.b/..c/c../.well-known/x.tar.gz", ok: true},
	{name: "hidden file", target: "/.well-known/jwks.json", ok: true},
	{name: "sub-delims, colon and at", target: "/!$&'()*+,=:@", ok: true},
	{name: "characters browsers leave raw", target: "/a[b]|c^d", ok: true},
	{name: "unreserved", target: "/a-b_c~d", ok: true},
	{name: "encoded space", target: "/my%20file.pdf", ok: true},
	{name: "encoded sub-delim +", target: "/a%2Bb", ok: true},
	{name: "encoded question mark", target: "/a%3Fb", ok: true},
	{name: "encoded hash", target: "/a%23b", ok: true},
	{name: "valid UTF-8 upper-case hex", target: "/caf%C3%A9", ok: true},
	{name: "valid UTF-8 lower-case hex", target: "/caf%c3%a9", ok: true},
	{name: "valid UTF-8 after a space", target: "/%20%C3%A9", ok: true},
	{name: "CJK", target: "/%E6%97%A5%E6%9C%AC", ok: true},
	{name: "four-byte UTF-8", target: "/%F0%9F%98%80", ok: true},
	{name: "no-break space", target: "/a%C2%A0b", ok: true},

	// The query never takes part in a decision: it is returned as sent.
	{name: "query with traversal", target: "/q?../../etc/passwd", ok: true, path: "/q", query: "../../etc/passwd"},
	{name: "query with weird bytes", target: "/q?%00%ff\\;//\x80 %zz%", ok: true, path: "/q", query: "%00%ff\\;//\x80 %zz%"},
	{name: "query with method override", target: "/q?_method=DELETE", ok: true, path: "/q", query: "_method=DELETE"},

	// Non-origin-form targets (RFC 9112 section 3.2): another host or
	// path than the one checked.
	{name: "empty", target: ""},
	{name: "asterisk-form", target: "*"},
	{name: "absolute-form", target: "http://evil/x"},
	{name: "absolute-form https", target: "https://evil.example/admin"},
	{name: "authority-form", target: "evil.example:443"},
	{name: "relative path", target: "a/b"},
	{name: "query only", target: "?x=1"},
	{name: "network-path reference", target: "//evil/x"},

	// Dot segments, raw and encoded: traversal past a prefix rule.
	{name: "dot", target: "/."},
	{name: "dot dot", target: "/.."},
	{name: "dot segment inside", target: "/a/./b"},
	{name: "dot dot inside", target: "/public/../admin"},
	{name: "trailing dot dot", target: "/a/.."},
	{name: "dot dot before query", target: "/a/..?x=1"},
	{name: "encoded dot lower", target: "/%2e/admin"},
	{name: "encoded dot upper", target: "/%2E%2E/admin"},
	{name: "half-encoded dot dot", target: "/public/.%2e/admin"},
	{name: "half-encoded dot dot reversed", target: "/public/%2e./admin"},
	{name: "encoded dot dot", target: "/public/%2e%2e/admin"},
	{name: "encoded dot inside a segment", target: "/admin%2ejson"},
	{name: "encoded traversal with encoded slash", target: "/a/%2e%2e%2fadmin"},

	// Segments that some servers trim into dot or empty segments
	// (Windows drops trailing dots and spaces; Spring's AntPathMatcher
	// trimmed whitespace: CVE-2016-5007).
	{name: "three dots", target: "/public/.../admin"},
	{name: "dot dot space", target: "/public/..%20/admin"},
	{name: "space dot dot", target: "/public/%20../admin"},
	{name: "dot space dot", target: "/public/.%20./admin"},
	{name: "space-only segment", target: "/public/%20/admin"},
	{name: "two spaces at the end", target: "/admin/%20%20"},

	// Encoded delimiters: decoding differs between servers.
	{name: "encoded slash upper", target: "/api%2Fadmin"},
	{name: "encoded slash lower", target: "/api%2fadmin"},
	{name: "encoded backslash", target: "/a%5Cb"},
	{name: "encoded backslash lower", target: "/a%5cb"},
	{name: "raw backslash", target: "/public\\..\\admin"}, // IIS, Tomcat on Windows
	{name: "encoded percent", target: "/a%25"},
	{name: "double-encoded slash", target: "/api%252Fadmin"},
	{name: "double-encoded dot", target: "/%252e%252e/admin"},
	{name: "encoded semicolon", target: "/admin%3Bx"},

	// Matrix parameters: Tomcat and Spring strip ";..." from segments
	// (CVE-2020-1957, Apache Shiro).
	{name: "semicolon parameter", target: "/admin;x=1"},
	{name: "dot dot semicolon", target: "/public/..;/admin"},
	{name: "empty semicolon parameter", target: "/api;/admin"},

	// Empty segments: nginx merge_slashes, Go's ServeMux clean-up.
	{name: "double slash inside", target: "/a//b"},
	{name: "double slash at start", target: "//admin"},
	{name: "slash run at the end", target: "/a///"},

	// Control bytes, raw and encoded: header injection, truncation.
	{name: "encoded NUL", target: "/admin%00.css"},
	{name: "encoded LF", target: "/a%0a"},
	{name: "encoded CRLF", target: "/a%0D%0ASet-Cookie:x"},
	{name: "encoded tab", target: "/a%09"},
	{name: "encoded DEL", target: "/a%7f"},
	{name: "raw NUL", target: "/a\x00"},
	{name: "raw tab", target: "/a\tb"},
	{name: "raw DEL", target: "/a\x7f"},

	// Invalid, overlong and surrogate UTF-8: old decoders read "%c0%ae"
	// as '.' (the IIS Unicode traversal, CVE-2000-0884).
	{name: "invalid byte ff", target: "/a%ff"},
	{name: "truncated sequence", target: "/a%c3"},
	{name: "truncated sequence before ASCII", target: "/a%c3x"},
	{name: "bad continuation byte", target: "/a%c3%28"},
	{name: "lone continuation byte", target: "/a%a9"},
	{name: "overlong dot dot", target: "/%c0%ae%c0%ae/admin"},
	{name: "overlong slash", target: "/a%c0%afadmin"},
	{name: "three-byte overlong dot", target: "/%e0%80%ae"},
	{name: "UTF-16 surrogate", target: "/%ed%a0%80"},
	{name: "beyond U+10FFFF", target: "/%f4%90%80%80"},

	// C1 controls (NEL is a line break for some parsers).
	{name: "C1 NEL", target: "/a%c2%85"},
	{name: "C1 last", target: "/a%c2%9f"},

	// Characters whose NFKC form holds a delimiter: servers that
	// normalise Unicode before routing (Orange Tsai's "WorstFit" and
	// fullwidth tricks).
	{name: "fullwidth solidus", target: "/a%ef%bc%8fadmin"},
	{name: "fullwidth full stop", target: "/a%ef%bc%8e"},
	{name: "fullwidth dot dot", target: "/%ef%bc%8e%ef%bc%8e/admin"},
	{name: "fullwidth reverse solidus", target: "/a%ef%bc%bcb"},
	{name: "fullwidth percent", target: "/a%ef%bc%85"},
	{name: "fullwidth semicolon", target: "/a%ef%bc%9b"},
	{name: "one dot leader", target: "/a%e2%80%a4"},
	{name: "small full stop", target: "/a%ef%b9%92"},
	{name: "account of (a/c)", target: "/a%e2%84%80"},

	// Unreserved characters must not be encoded (RFC 3986 section 2.3):
	// "/%61dmin" is "/admin" to the upstream but not to the policy.
	{name: "encoded letter", target: "/%61dmin"},
	{name: "encoded upper letter", target: "/%41"},
	{name: "encoded tilde", target: "/a%7e"},
	{name: "encoded digit", target: "/a%31"},
	{name: "encoded hyphen", target: "/a%2D"},
	{name: "encoded underscore", target: "/a%5F"},

	// Invalid percent-encoding.
	{name: "non-hex escape", target: "/a%zz"},
	{name: "short escape", target: "/a%4"},
	{name: "trailing percent", target: "/a%"},
	{name: "percent before query", target: "/a%?x"},
	{name: "one hex digit then letter", target: "/a%4g"},
	{name: "double percent", target: "/a%%32%66"},
	{name: "IIS %u encoding", target: "/%u002e%u002e/admin"},

	// Raw bytes outside the RFC 3986 path characters.
	{name: "raw space", target: "/a b"},
	{name: "raw UTF-8", target: "/caf\xc3\xa9"},
	{name: "raw invalid byte", target: "/a\xff"},
	{name: "raw double quote", target: "/a\"b"},
	{name: "raw angle brackets", target: "/a<b>"},
	{name: "raw backtick", target: "/a`b"},
	{name: "raw braces", target: "/a{b}"},
	{name: "raw fragment", target: "/a#frag"},
}

func TestCheckTarget(t *testing.T) {
	for _, tc := range targetCases {
		t.Run(tc.name, func(t *testing.T) {
			path, query, err := CheckTarget(tc.target)
			if !tc.ok {
				if err == nil {
					t.Fatalf("CheckTarget(%q) accepted it as path %q, want refusal", tc.target, path)
				}
				if !errors.Is(err, ErrAmbiguousPath) {
					t.Errorf("CheckTarget(%q) error %v does not wrap ErrAmbiguousPath", tc.target, err)
				}
				if path != "" || query != "" {
					t.Errorf("CheckTarget(%q) refused but returned path %q, query %q", tc.target, path, query)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckTarget(%q) refused it: %v", tc.target, err)
			}
			wantPath, wantQuery := tc.path, tc.query
			if wantPath == "" {
				wantPath, wantQuery, _ = strings.Cut(tc.target, "?")
			}
			if path != wantPath || query != wantQuery {
				t.Errorf("CheckTarget(%q) = %q, %q; want %q, %q", tc.target, path, query, wantPath, wantQuery)
			}
		})
	}
}

// TestCheckTargetCaseCount keeps the table from shrinking unnoticed.
func TestCheckTargetCaseCount(t *testing.T) {
	if n := len(targetCases); n < 45 {
		t.Fatalf("only %d request-target cases; the path guard needs at least 45", n)
	}
}

// FuzzCheckTarget checks every accepted target against properties that hold
// for a path every upstream reads the same way.
func FuzzCheckTarget(f *testing.F) {
	for _, tc := range targetCases {
		f.Add(tc.target)
	}
	f.Fuzz(func(t *testing.T, target string) {
		path, query, err := CheckTarget(target)
		if err != nil {
			if !errors.Is(err, ErrAmbiguousPath) {
				t.Fatalf("CheckTarget(%q) error %v does not wrap ErrAmbiguousPath", target, err)
			}
			return
		}
		checkAcceptedPath(t, target, path, query)
	})
}

// checkAcceptedPath is the oracle of FuzzCheckTarget.
func checkAcceptedPath(t *testing.T, target, path, query string) {
	t.Helper()
	rebuilt := path
	if strings.Contains(target, "?") {
		rebuilt += "?" + query
	}
	if rebuilt != target {
		t.Fatalf("CheckTarget(%q) returned %q + %q, which is not the target unchanged", target, path, query)
	}
	if !strings.HasPrefix(path, "/") || strings.Contains(path, "?") {
		t.Fatalf("accepted %q: path %q is not an origin-form path", target, path)
	}
	decoded, err := url.PathUnescape(path)
	if err != nil {
		t.Fatalf("accepted %q: url.PathUnescape: %v", target, err)
	}
	if !utf8.ValidString(decoded) {
		t.Fatalf("accepted %q: decodes to invalid UTF-8 %q", target, decoded)
	}
	if strings.Contains(decoded, `\`) {
		t.Fatalf("accepted %q: decodes to a backslash: %q", target, decoded)
	}
	for _, r := range decoded {
		if r < 0x20 || 0x7f <= r && r < 0xa0 {
			t.Fatalf("accepted %q: decodes to control character %U", target, r)
		}
	}
	if strings.Contains(decoded, "//") {
		t.Fatalf("accepted %q: decodes to an empty segment: %q", target, decoded)
	}
	if strings.ContainsAny(decoded, "%;") {
		t.Fatalf("accepted %q: decodes to a '%%' or ';': %q", target, decoded)
	}
	for i, seg := range strings.Split(decoded, "/")[1:] {
		if seg == "." || seg == ".." {
			t.Fatalf("accepted %q: decoded segment %d is %q", target, i, seg)
		}
		if seg != "" && strings.Trim(seg, ". ") == "" {
			t.Fatalf("accepted %q: decoded segment %d is only dots and spaces: %q", target, i, seg)
		}
	}
	// Unicode normalisation must not create delimiters: the NFKC form has
	// exactly the '/' and '.' the decoded path has, and no '\', '%' or ';'.
	nfkc := norm.NFKC.String(decoded)
	if strings.Count(nfkc, "/") != strings.Count(decoded, "/") ||
		strings.Count(nfkc, ".") != strings.Count(decoded, ".") ||
		strings.ContainsAny(nfkc, `\%;`) {
		t.Fatalf("accepted %q: NFKC form %q adds path delimiters to %q", target, nfkc, decoded)
	}
	// The policy sees the same path as the upstream: the path alone passes
	// again, unchanged.
	again, q, err := CheckTarget(path)
	if err != nil || again != path || q != "" {
		t.Fatalf("re-checking accepted path %q: got %q, %q, %v", path, again, q, err)
	}
}
