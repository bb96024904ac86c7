package ui

import (
	"net/url"
	"strings"
	"testing"
)

// redirectCases are the rd values the login flow may be handed: hostile
// ones (each names its trick) must give "/", good ones come back as is.
var redirectCases = []struct {
	name, rd, want string
}{
	// Good: same-origin paths.
	{"root", "/", "/"},
	{"a page", "/dashboard", "/dashboard"},
	{"nested path with query", "/api/items/42?tab=history&sort=-date", "/api/items/42?tab=history&sort=-date"},
	{"fragment", "/docs/guide#install", "/docs/guide#install"},
	{"encoded space", "/my%20files/report.pdf", "/my%20files/report.pdf"},
	{"literal percent", "/offers/50%25off", "/offers/50%25off"},
	{"account page", "/auth/account", "/auth/account"},
	{"query holding a URL", "/search?q=https://example.com", "/search?q=https://example.com"},
	{"at sign in the query", "/invite?email=a@example.com", "/invite?email=a@example.com"},

	// Hostile.
	{"empty", "", "/"},
	{"protocol-relative", "//evil.example", "/"},
	{"protocol-relative with path", "//evil.example/login", "/"},
	{"slash backslash (browsers read \\ as /)", "/\\evil.example", "/"},
	{"backslash slash", "\\/evil.example", "/"},
	{"double backslash", "\\\\evil.example", "/"},
	{"backslash later in the path", "/a\\b", "/"},
	{"absolute https URL", "https://evil.example/", "/"},
	{"absolute http URL", "http://evil.example", "/"},
	{"scheme without slashes", "https:evil.example", "/"},
	{"javascript URL", "javascript:alert(document.cookie)", "/"},
	{"javascript URL, odd case", "JaVaScRiPt:alert(1)", "/"},
	{"data URL", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "/"},
	{"relative path without a leading slash", "dashboard", "/"},
	{"dot-relative path", "./dashboard", "/"},
	{"encoded double slash", "/%2F%2Fevil.example", "/"},
	{"encoded second slash", "/%2Fevil.example", "/"},
	{"encoded backslash", "/%5Cevil.example", "/"},
	{"encoded backslash, lower case", "/%5cevil.example", "/"},
	{"double-encoded slashes", "/%252F%252Fevil.example", "/"},
	{"double-encoded backslash", "/%255Cevil.example", "/"},
	{"quadruple-encoded slashes", "/%2525252F%2525252Fevil.example", "/"},
	{"invalid percent-encoding", "/%zz", "/"},
	{"tab inside (browsers drop it: //evil)", "/\t/evil.example", "/"},
	{"newline inside (browsers drop it: //evil)", "/\n/evil.example", "/"},
	{"carriage return: header splitting", "/\r\nSet-Cookie: x=1", "/"},
	{"encoded CRLF", "/%0d%0aSet-Cookie:%20x=1", "/"},
	{"NUL byte", "/\x00//evil.example", "/"},
	{"encoded NUL", "/%00evil", "/"},
	{"leading space", " /dashboard", "/"},
	{"leading space before //", " //evil.example", "/"},
	{"space inside", "/a b", "/"},
	{"DEL byte", "/\x7f/evil.example", "/"},
	{"userinfo trick", "//user@evil.example", "/"},
	{"at sign in the path", "/@evil.example", "/"},
	{"encoded at sign", "/%40evil.example", "/"},
	{"fullwidth solidus look-alike", "/\uff0fevil.example", "/"},
	{"ideographic full stop host look-alike", "/\u3002evil.example", "/"},
	{"non-ASCII (IDN homograph path)", "/раураl", "/"},
	{"overlong", "/" + strings.Repeat("a", maxRedirectLen), "/"},
	{"back into the login page", "/auth/login", "/"},
	{"back into the login page with rd", "/auth/login?rd=/auth/login", "/"},
	{"login page via dot segments", "/x/../auth/login", "/"},
	{"login page, trailing slash", "/auth/login/", "/"},
	{"login page, other case", "/AUTH/LOGIN", "/"},
	{"login page, encoded", "/auth/%6Cogin", "/"},
	{"logout", "/auth/logout", "/"},
	{"register page", "/auth/register", "/"},
	{"password reset page", "/auth/password/reset?token=x", "/"},
	{"triple slash", "///evil.example", "/"},
}

func TestSafeRedirect(t *testing.T) {
	hostile := 0
	for _, tc := range redirectCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := SafeRedirect(tc.rd); got != tc.want {
				t.Errorf("SafeRedirect(%q) = %q, want %q", tc.rd, got, tc.want)
			}
		})
		if tc.want == "/" && tc.rd != "/" {
			hostile++
		}
	}
	if hostile < 20 {
		t.Errorf("only %d hostile values in the table", hostile)
	}
}

// FuzzSafeRedirect: whatever rd is, the answer is "/" or a single-slash
// path without backslashes that net/url reads as having no scheme and no
// host, and it is stable (a second pass keeps it).
func FuzzSafeRedirect(f *testing.F) {
	for _, tc := range redirectCases {
		f.Add(tc.rd)
	}
	f.Fuzz(func(t *testing.T, rd string) {
		got := SafeRedirect(rd)
		if got != "/" && got != rd {
			t.Fatalf("SafeRedirect(%q) = %q: neither the input nor /", rd, got)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.Contains(got, "\\") {
			t.Fatalf("SafeRedirect(%q) = %q", rd, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			t.Fatalf("SafeRedirect(%q) = %q parses as scheme %q host %q (err %v)", rd, got, u.Scheme, u.Host, err)
		}
		// Its path decoded (url.Parse decodes once), as a lenient server
		// might read it: still no second slash or backslash.
		if strings.HasPrefix(u.Path, "//") || strings.Contains(u.Path, "\\") {
			t.Fatalf("SafeRedirect(%q) = %q has the decoded path %q", rd, got, u.Path)
		}
		if again := SafeRedirect(got); again != got {
			t.Fatalf("SafeRedirect is not stable: %q → %q → %q", rd, got, again)
		}
	})
}
