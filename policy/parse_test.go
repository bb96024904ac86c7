package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseErrorsEveryLineAtOnce(t *testing.T) {
	lines := []struct {
		text string
		want string // substring of the problem; "" for a valid line
	}{
		{"# header comment", ""},
		{"p, anonymous, /api/health, GET", ""},
		{"x, admin, /api, GET", `unknown line type "x"`},
		{"P, admin, /api, GET", `unknown line type "P"`},
		{"p, admin, /api", "p line has 2 fields"},
		{"p, admin, /api, GET, allow, extra", "p line has 5 fields"},
		{"p, , /api, GET", "SUBJECT is empty"},
		{"p, admin, , GET", `PATH "" must start with /`},
		{"p, admin, /api, ", "METHODS"},
		{"p, admin, api/x, GET", `PATH "api/x" must start with /`},
		{"p, admin, *, GET", `PATH "*" must start with /`},
		{"p, admin, /api/(x), GET", "regexp metacharacter"},
		{"p, admin, /api/a|/b, GET", "regexp metacharacter"},
		{`p, admin, /api/\d+, GET`, "regexp metacharacter"},
		{"p, admin, /api/:id.json, GET", `parameter ":id.json" must be a whole segment`},
		{"p, admin, /api/v1:batch, GET", "wildcards only as a whole segment"},
		{"p, admin, /api/foo*, GET", "wildcards only as a whole segment"},
		{"p, admin, /api/**, GET", "wildcards only as a whole segment"},
		{"p, admin, /api/:, GET", "parameter"},
		{"p, admin, /x y, GET", "space or control character"},
		{`p, admin, "/x,y", GET`, "',' is not allowed"},
		{`p, "a,b", /x, GET`, "contains a comma"},
		{`g, "a,b", c`, "contains a comma"},
		{"p, admin, /café, GET", "non-ASCII"},
		{"p, admin, /api/x, (GET", "not a valid regexp"},
		{"p, admin, /api/x, GET | POST", "space or control character"},
		{"p, admin, /api/x, GET, Deny", `unknown effect "Deny"`},
		{"p, admin, /api/x, GET, permit", `unknown effect "permit"`},
		{"p, admin, /api/x, GET # read only", "'#' inside a line"},
		{"p, ad min, /x, GET", `SUBJECT "ad min" contains a space`},
		{`p, "admin" , /x, GET`, "malformed line"},
		{"p, admin, /x, GET", ""},
		{"g, admin", "g line has 1 fields"},
		{"g, admin, editor, domain1", "g line has 3 fields"},
		{"g, , editor", "ROLE is empty"},
		{"g, admin, ", "PARENT is empty"},
		{"   ", ""},
		{"\t# indented comment", ""},
		{"g, admin, editor", ""},
	}
	var text strings.Builder
	var want []int
	for i, l := range lines {
		text.WriteString(l.text + "\n")
		if l.want != "" {
			want = append(want, i+1)
		}
	}
	_, err := Parse("bad.csv", strings.NewReader(text.String()))
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse: %v, want a *ParseError", err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("errors.Is(err, ErrInvalid) is false")
	}
	var got []int
	for _, p := range pe.Problems {
		got = append(got, p.Line)
		if l := lines[p.Line-1]; l.want == "" || !strings.Contains(p.Msg, l.want) {
			t.Errorf("line %d (%q): problem %q, want one with %q", p.Line, l.text, p.Msg, l.want)
		}
		if p.Text != strings.TrimSpace(lines[p.Line-1].text) {
			t.Errorf("line %d: Text %q", p.Line, p.Text)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("problem lines %v, want %v", got, want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "bad.csv: ") || !strings.Contains(msg, "\n  bad.csv:3: unknown line type") {
		t.Errorf("error message:\n%s", msg)
	}
}

func TestParseErrorSingleProblem(t *testing.T) {
	_, err := Parse("one.csv", strings.NewReader("p, a, /x, GET\np, a, /y, (\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "one.csv:2: METHODS \"(\": not a valid regexp") {
		t.Fatalf("got %v", err)
	}
}

func TestParseRefusesWholeFile(t *testing.T) {
	for name, text := range map[string]string{
		"empty":         "",
		"comments only": "# nothing\n\n# here\n",
		"only g lines":  "g, a, b\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("f.csv", strings.NewReader(text))
			if err == nil || !strings.Contains(err.Error(), "no p line") {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestParseRoleDepth(t *testing.T) {
	// r0 -> r1 -> ... -> rN: Casbin follows 10 links, one of them spent on
	// the request's own subject.
	chain := func(n int) string {
		var b strings.Builder
		b.WriteString("p, r0, /x, GET\n")
		for i := range n {
			fmt.Fprintf(&b, "g, r%d, r%d\n", i, i+1)
		}
		fmt.Fprintf(&b, "p, r%d, /top, GET\n", n)
		return b.String()
	}
	p, err := Parse("ok.csv", strings.NewReader(chain(maxRoleDepth)))
	if err != nil {
		t.Fatalf("depth %d: %v", maxRoleDepth, err)
	}
	if d := p.Decide([]string{"r0"}, "GET", "/top"); !d.Allow {
		t.Errorf("depth %d: r0 does not reach the top: %+v", maxRoleDepth, d)
	}
	_, err = Parse("deep.csv", strings.NewReader(chain(maxRoleDepth+1)))
	var pe *ParseError
	if !errors.As(err, &pe) || len(pe.Problems) != 1 || pe.Problems[0].Line != maxRoleDepth+2 ||
		!strings.Contains(pe.Problems[0].Msg, "through 10 g links") {
		t.Fatalf("depth %d: %v", maxRoleDepth+1, err)
	}
}

func TestParseFormatting(t *testing.T) {
	// CRLF, a BOM, quoted fields, tabs, a trailing space and a missing
	// newline at the end: all the same policy.
	text := "\xef\xbb\xbf# policy\r\np,\tadmin ,/a/b, \"^[A-Z]{3,4}$\" \r\n\"p\", admin, /c, \"(GET)|(POST)\", deny"
	p := mustParse(t, text)
	want := []Rule{
		{Line: 2, Text: "p, admin, /a/b, ^[A-Z]{3,4}$", Subject: "admin", Path: "/a/b", Methods: "^[A-Z]{3,4}$"},
		{Line: 3, Text: "p, admin, /c, (GET)|(POST), deny", Subject: "admin", Path: "/c", Methods: "(GET)|(POST)", Deny: true},
	}
	if got := p.Rules(); !slices.Equal(got, want) {
		t.Fatalf("rules:\n%+v\nwant\n%+v", got, want)
	}
	if d := p.Decide([]string{"admin"}, "GET", "/a/b"); !d.Allow || d.Line != 2 || d.Rule != "p, admin, /a/b, ^[A-Z]{3,4}$" {
		t.Errorf("got %+v", d)
	}
	if got := p.Roles(); !slices.Equal(got, []string{"admin"}) {
		t.Errorf("roles %q", got)
	}
	if p.Name() != "test.csv" || len(p.Hash()) != 64 {
		t.Errorf("name %q hash %q", p.Name(), p.Hash())
	}
}

func TestWarnings(t *testing.T) {
	cases := []struct {
		name string
		text string
		want []string // "LINE: substring"
	}{
		{"none on a clean file", "p, a, /x, GET\np, a, /y, ^(GET|POST)$\np, b, /x, (GET)|(POST)\n", nil},
		{"duplicate", "p, a, /x, GET\np, a, /x, GET, allow\n", []string{"2: duplicate of line 1"}},
		{"duplicate deny", "p, a, /x, GET, deny\np, a, /x, GET, deny\n", []string{"2: duplicate of line 1"}},
		{"covered by /* of the same subject", "p, a, /api/x/:id, GET\np, a, /*, *\n", []string{"1: shadowed by line 2 (p, a, /*, *)"}},
		{"covered by PREFIX/*", "p, a, /api/*, *\np, a, /api/items/*, POST\np, a, /api, GET\np, a, /apix, GET\n",
			[]string{"2: shadowed by line 1"}},
		{"covered through inheritance", "p, editor, /api/*, *\np, admin, /api/x, GET\ng, admin, editor\n",
			[]string{"2: shadowed by line 1"}},
		{"the inheriting role's line covers nothing", "p, admin, /api/*, *\np, editor, /api/x, GET\ng, admin, editor\n", nil},
		{"anonymous covers everyone", "p, anonymous, /x, GET\np, authenticated, /x, GET\np, admin, /x, GET\n",
			[]string{"2: shadowed by line 1", "3: shadowed by line 1"}},
		{"authenticated covers logged-in roles", "p, authenticated, /x, *\np, admin, /x, GET\np, anonymous, /x, GET\n",
			[]string{"2: shadowed by line 1"}},
		{"but not roles anonymous inherits", "g, anonymous, guest\np, authenticated, /x, *\np, guest, /x, GET\n", nil},
		{"other methods", "p, a, /x, GET\np, a, /x, POST\n", nil},
		{"deny hides an allow", "p, a, /api/*, *, deny\np, a, /api/x, GET\n", []string{"2: can never allow anything: line 1"}},
		{"allow never hides a deny", "p, a, /*, *\np, a, /x, *, deny\n", nil},
		{"dotted prefix is no cover", "p, a, /a.b/*, *\np, a, /a.b/c, GET\n", nil},
		{"duplicate g", "p, a, /x, GET\ng, a, b\ng, a, b\n", []string{"3: duplicate of line 2"}},
		{"cycle", "p, a, /x, GET\ng, a, b\ng, b, c\ng, c, a\n", []string{"4: role cycle a -> b -> c -> a (lines 2, 3, 4)"}},
		{"self link", "p, a, /x, GET\ng, a, a\n", []string{"2: role cycle a -> a (lines 2)"}},
		{"unanchored method", "p, a, /x, P\n", []string{`1: METHODS "P" is matched unanchored (Casbin's regexMatch), so it also matches POST, PUT, PATCH, OPTIONS; write ^(P)$`}},
		{"method case", "p, a, /x, get\n", []string{`1: METHODS "get" matches no standard method`}},
		{"mid star", "p, a, /api/*/items, GET\n", []string{`1: PATH "/api/*/items": a /* before the end matches any number of segments`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustParse(t, c.text)
			ws := p.Warnings()
			if len(ws) != len(c.want) {
				t.Fatalf("warnings %v, want %q", ws, c.want)
			}
			for i, w := range ws {
				line, sub, _ := strings.Cut(c.want[i], ": ")
				if strconv.Itoa(w.Line) != line || !strings.Contains(w.Msg, sub) {
					t.Errorf("warning %d: %s; want line %s with %q", i, w, line, sub)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.csv")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("p, a, /x, GET\np, a, /x, GET\np, a, /y, (\n")
	ws, err := Validate(file)
	if err == nil || !strings.Contains(err.Error(), file+":3: METHODS") {
		t.Errorf("error %v", err)
	}
	if want := []string{file + ":2: warning: duplicate of line 1"}; !slices.Equal(ws, want) {
		t.Errorf("warnings %q, want %q", ws, want)
	}

	write("p, a, /x, GET\n")
	if ws, err := Validate(file); err != nil || ws != nil {
		t.Errorf("valid file: %q, %v", ws, err)
	}
	if _, err := Validate(filepath.Join(dir, "missing.csv")); err == nil || errors.Is(err, ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestDefaultPolicyIsClean(t *testing.T) {
	ws, err := Validate("../policy.csv")
	if err != nil || len(ws) != 0 {
		t.Fatalf("policy.csv: warnings %q, error %v", ws, err)
	}
}

func TestLoadTooLarge(t *testing.T) {
	big := strings.Repeat("# padding padding padding padding padding padding\n", MaxFileSize/50+10)
	if _, err := Parse("big.csv", strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}
