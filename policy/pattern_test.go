package policy

import (
	"testing"

	"github.com/casbin/casbin/v2/util"
)

// pathCases are keyMatch2's sharp edges, each checked against Casbin's own
// util.KeyMatch2 as well as against the expected answer.
var pathCases = []struct {
	pattern, path string
	match         bool
}{
	{"/api/*", "/api/x", true},
	{"/api/*", "/api/x/y/z", true},
	{"/api/*", "/api/", true},
	{"/api/*", "/api", false},
	{"/api/*", "/apix", false},
	{"/api/*", "/api/a\nb", false}, // .* stops at a newline
	{"/api/*", "/api/\xff", true},
	{"/api/*", "/API/x", false},
	{"/*", "/", true},
	{"/*", "", false},
	{"/*", "x", false},
	{"/", "/", true},
	{"/", "", false},
	{"/", "//", false},
	{"/api", "/api", true},
	{"/api", "/api/", false},
	{"/api/", "/api/", true},
	{"/api/", "/api", false},
	{"/api/items/:id", "/api/items/42", true},
	{"/api/items/:id", "/api/items/", false},
	{"/api/items/:id", "/api/items/4/2", false},
	{"/api/items/:id", "/api/items/a%2Fb", true},
	{"/api/items/:id", "/api/items/a\nb", true}, // [^/]+ takes a newline
	{"/api/items/:id", "/api/items/日本", true},
	{"/api/items/:id", "/api/items/\xff", true},
	{"/:a/:b", "/x/y", true},
	{"/:a/:b", "/x/", false},
	{"/:a/:b", "//y", false},
	{"/:a/x/*", "/q/x/", true},
	{"/:a/x/*", "/q/x", false},
	{"/:user-id", "/42", true},
	{"/openapi.json", "/openapi.json", true},
	{"/openapi.json", "/openapi_json", true},
	{"/openapi.json", "/openapi/json", true}, // '.' is any character, '/' too
	{"/openapi.json", "/openapi\njson", false},
	{"/openapi.json", "/openapiéjson", true},
	{"/openapi.json", "/openapi\xffjson", true},
	{"/openapi.json", "/openapi..json", false},
	{"/openapi.json", "/openapijson", false},
	{"/a.b/:id", "/a/b/7", true},
	{"/a.b/*", "/axb/", true},
	{"/api/*/items", "/api/x/items", true},
	{"/api/*/items", "/api/x/y/items", true},
	{"/api/*/items", "/api//items", true},
	{"/api/*/items", "/api/items", false},
	{"/api/*/items", "/api/x/items/", false},
	{"/api/*/:id", "/api/x/y/7", true},
	{"/api/*/*", "/api/x/", true},
	{"/%41", "/%41", true},
	{"/%41", "/A", false},
	{"/a=b/~u/-", "/a=b/~u/-", true},
}

func TestPathMatchesKeyMatch2(t *testing.T) {
	for _, c := range pathCases {
		m, _, err := compilePath(c.pattern)
		if err != nil {
			t.Errorf("compilePath(%q): %v", c.pattern, err)
			continue
		}
		if got := m.match(c.path); got != c.match {
			t.Errorf("%q matches %q: %v, want %v", c.pattern, c.path, got, c.match)
		}
		if ref := util.KeyMatch2(c.path, c.pattern); ref != c.match {
			t.Errorf("casbin KeyMatch2(%q, %q) = %v: the table is wrong", c.path, c.pattern, ref)
		}
	}
}

// FuzzPathMatchesKeyMatch2: for every pattern that Load accepts, the
// compiled matcher answers what Casbin's KeyMatch2 answers, for any path.
func FuzzPathMatchesKeyMatch2(f *testing.F) {
	for _, c := range pathCases {
		f.Add(c.pattern, c.path)
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		m, _, err := compilePath(pattern)
		if err != nil {
			return
		}
		if got, want := m.match(path), util.KeyMatch2(path, pattern); got != want {
			t.Fatalf("pattern %q, path %q: got %v, casbin %v", pattern, path, got, want)
		}
	})
}

var methodCases = []struct {
	methods, method string
	match           bool
}{
	{"*", "GET", true},
	{"*", "", true},
	{"*", "anything", true},
	{"GET", "GET", true},
	{"GET", "GETX", true}, // unanchored
	{"GET", "XGET", true},
	{"GET", "get", false},
	{"GET", "HEAD", false},
	{"(GET)|(POST)", "POST", true},
	{"(GET)|(POST)", "XPOSTX", true},
	{"^(GET|POST)$", "GETX", false},
	{"^(GET|POST)$", "POST", true},
	{"^(PUT)|(DELETE)$", "PUTX", true}, // ^ binds to PUT only
	{"^(PUT)|(DELETE)$", "XDELETE", true},
	{"P", "OPTIONS", true},
	{"P", "PROPFIND", true},
	{"(?i)get", "get", true},
	{"G.T", "GET", true},
	{"G.T", "G\nT", false},
	{"^$", "", true},
	{"^$", "GET", false},
	{".*", "", true},
}

func TestMethodsMatchRegexMatch(t *testing.T) {
	for _, c := range methodCases {
		m, err := compileMethods(c.methods)
		if err != nil {
			t.Fatalf("compileMethods(%q): %v", c.methods, err)
		}
		if got := m.match(c.method, methodIndex(c.method)); got != c.match {
			t.Errorf("%q matches %q: %v, want %v", c.methods, c.method, got, c.match)
		}
		if c.methods != "*" {
			if ref := util.RegexMatch(c.method, c.methods); ref != c.match {
				t.Errorf("casbin RegexMatch(%q, %q) = %v: the table is wrong", c.method, c.methods, ref)
			}
		}
	}
}

// FuzzMethodsMatchRegexMatch: for every METHODS that Load accepts, the
// compiled matcher (precomputed for standard methods) answers what Casbin's
// `p.act == "*" || regexMatch(r.act, p.act)` answers.
func FuzzMethodsMatchRegexMatch(f *testing.F) {
	for _, c := range methodCases {
		f.Add(c.methods, c.method)
	}
	f.Fuzz(func(t *testing.T, methods, method string) {
		m, err := compileMethods(methods)
		if err != nil {
			return
		}
		for _, meth := range append([]string{method}, standardMethods[:]...) {
			want := methods == "*" || util.RegexMatch(meth, methods)
			if got := m.match(meth, methodIndex(meth)); got != want {
				t.Fatalf("METHODS %q, method %q: got %v, casbin %v", methods, meth, got, want)
			}
		}
	})
}
