package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
)

// MaxFileSize bounds a policy file (a typo such as pointing the gateway at a
// log file must not eat the memory).
const MaxFileSize = 8 << 20

// Built-in roles. Decide always adds Anonymous; the caller adds Authenticated
// for a logged-in user.
const (
	Anonymous     = "anonymous"
	Authenticated = "authenticated"
)

// Rule is one p line of a policy file.
type Rule struct {
	Line    int    // 1-based line number in the file
	Text    string // the line's fields as written, joined by ", ": "p, admin, /api/*, *"
	Subject string // role
	Path    string // keyMatch2 pattern
	Methods string // regexp, or "*"
	Deny    bool   // the line's effect is deny
}

// link is one g line: Role inherits every permission of Parent.
type link struct {
	Line         int
	Text         string
	Role, Parent string
}

// Problem is one reason a policy file is refused.
type Problem struct {
	Line int    // 1-based; 0 for the file as a whole
	Text string // the offending line as written, "" for the file as a whole
	Msg  string
}

// ParseError is every problem of a refused policy file, in line order.
type ParseError struct {
	File     string
	Problems []Problem
}

// ErrInvalid is what every *ParseError is (errors.Is(err, ErrInvalid)), as
// opposed to an I/O error reading the file.
var ErrInvalid = errors.New("policy: invalid policy file")

func (e *ParseError) Error() string {
	if len(e.Problems) == 1 {
		p := e.Problems[0]
		return p.location(e.File) + p.Msg
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems:", e.File, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.location(e.File) + p.Msg)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ParseError) Is(target error) bool { return target == ErrInvalid }

func (p Problem) location(file string) string {
	if p.Line == 0 {
		return file + ": "
	}
	return fmt.Sprintf("%s:%d: ", file, p.Line)
}

// Warning is a legal line that probably does not do what its author meant:
// a line shadowed by another, a role cycle, a method regexp wider than it
// looks.
type Warning struct {
	File string
	Line int
	Msg  string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s:%d: warning: %s", w.File, w.Line, w.Msg)
}

// Load reads, validates and compiles the policy file at path. A file with
// any invalid line is refused whole with a *ParseError listing every problem
// with its line number.
func Load(path string) (*Policy, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return compile(path, data)
}

// Parse is Load for a policy that is not in a file; name is used in errors.
func Parse(name string, r io.Reader) (*Policy, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: read %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("policy: %s is larger than %d bytes", name, MaxFileSize)
	}
	return compile(name, data)
}

// Validate loads the policy file at path and returns its warnings (in line
// order, formatted "file:line: warning: ...") and, when it is refused, the
// *ParseError. Warnings of the valid lines are returned even then.
func Validate(path string) (warnings []string, err error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	f, perr := parse(path, data)
	for _, w := range f.lint() {
		warnings = append(warnings, w.String())
	}
	if perr != nil {
		return warnings, perr
	}
	return warnings, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path) // #nosec G304 -- the policy file the operator configured (policy.file)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("policy: %s is larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// file is a parsed policy file: its valid lines, and the problems of the
// others.
type file struct {
	name     string
	hash     [32]byte
	rules    []compiledRule
	links    []link
	problems []Problem
	methods  map[string]methodMatcher
	// ancestors maps every role named in the file to the roles it inherits
	// (not itself), as Casbin's role manager answers.
	ancestors map[string][]string
}

type compiledRule struct {
	Rule
	path    pathMatcher
	midStar bool
	methods methodMatcher
}

func (f *file) problem(line int, text, format string, args ...any) {
	f.problems = append(f.problems, Problem{Line: line, Text: text, Msg: fmt.Sprintf(format, args...)})
}

// parse reads every line of data. Each line is split exactly as Casbin's
// file adapter does (persist.LoadPolicyLine: the line trimmed, then
// encoding/csv with ',' and TrimLeadingSpace), then each field is trimmed on
// both sides too: Casbin would keep a space before a comma in the role name
// ("admin ") and never match it.
func parse(name string, data []byte) (*file, error) {
	f := &file{name: name, hash: sha256.Sum256(data)}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	lines := strings.Split(string(data), "\n")
	for i, raw := range lines {
		n := i + 1
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		r := csv.NewReader(strings.NewReader(line))
		r.Comma = ','
		r.Comment = '#'
		r.TrimLeadingSpace = true
		fields, err := r.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			f.problem(n, line, "malformed line: %v", err)
			continue
		}
		for j := range fields {
			fields[j] = strings.TrimSpace(fields[j])
		}
		text := strings.Join(fields, ", ")
		bad := false
		for _, fld := range fields {
			if strings.IndexByte(fld, '#') >= 0 {
				f.problem(n, line, "'#' inside a line: comments must be lines of their own (Casbin would read %q as part of the field)", fld)
				bad = true
				break
			}
		}
		if bad {
			continue
		}
		switch fields[0] {
		case "p":
			f.parseP(n, text, line, fields[1:])
		case "g":
			f.parseG(n, text, line, fields[1:])
		default:
			f.problem(n, line, "unknown line type %q: want p (permission) or g (role inheritance)", fields[0])
		}
	}
	f.checkRoles()
	if len(f.problems) == 0 && len(f.rules) == 0 {
		f.problem(0, "", "no p line: this policy would deny every request (an empty or truncated file?)")
	}
	if len(f.problems) > 0 {
		sort.SliceStable(f.problems, func(i, j int) bool { return f.problems[i].Line < f.problems[j].Line })
		return f, &ParseError{File: name, Problems: f.problems}
	}
	return f, nil
}

func (f *file) parseP(n int, text, line string, fields []string) {
	if len(fields) != 3 && len(fields) != 4 {
		f.problem(n, line, "p line has %d fields: want p, SUBJECT, PATH, METHODS[, allow|deny]", len(fields))
		return
	}
	ok := true
	if msg := checkRoleName("SUBJECT", fields[0]); msg != "" {
		f.problem(n, line, "%s", msg)
		ok = false
	}
	pm, midStar, err := compilePath(fields[1])
	if err != nil {
		f.problem(n, line, "%v", err)
		ok = false
	}
	mm, err := f.compileMethods(fields[2])
	if err != nil {
		f.problem(n, line, "%v", err)
		ok = false
	}
	deny := false
	if len(fields) == 4 {
		switch fields[3] {
		case "allow":
		case "deny":
			deny = true
		default:
			f.problem(n, line, "unknown effect %q: want allow or deny (lower case)", fields[3])
			ok = false
		}
	}
	if !ok {
		return
	}
	f.rules = append(f.rules, compiledRule{
		Rule: Rule{Line: n, Text: text, Subject: fields[0], Path: fields[1], Methods: fields[2], Deny: deny},
		path: pm, midStar: midStar, methods: mm,
	})
}

// compileMethods is compileMethods, once per distinct METHODS of the file
// (they repeat: compiling the regexps is most of the cost of a load).
func (f *file) compileMethods(s string) (methodMatcher, error) {
	if m, ok := f.methods[s]; ok {
		return m, nil
	}
	m, err := compileMethods(s)
	if err == nil {
		if f.methods == nil {
			f.methods = map[string]methodMatcher{}
		}
		f.methods[s] = m
	}
	return m, err
}

func (f *file) parseG(n int, text, line string, fields []string) {
	if len(fields) != 2 {
		f.problem(n, line, "g line has %d fields: want g, ROLE, PARENT", len(fields))
		return
	}
	ok := true
	for i, what := range []string{"ROLE", "PARENT"} {
		if msg := checkRoleName(what, fields[i]); msg != "" {
			f.problem(n, line, "%s", msg)
			ok = false
		}
	}
	if ok {
		f.links = append(f.links, link{Line: n, Text: text, Role: fields[0], Parent: fields[1]})
	}
}

func checkRoleName(what, s string) string {
	if s == "" {
		return what + " is empty"
	}
	if strings.IndexByte(s, ',') >= 0 {
		return fmt.Sprintf("%s %q contains a comma (Casbin joins fields with commas and would take this line for another)", what, s)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 }) {
		return fmt.Sprintf("%s %q contains a space or control character", what, s)
	}
	return ""
}

// casbinRules returns the valid lines in Casbin's form, in file order.
func (f *file) casbinRules() [][]string {
	out := make([][]string, 0, len(f.rules)+len(f.links))
	for _, r := range f.rules {
		eft := "allow"
		if r.Deny {
			eft = "deny"
		}
		out = append(out, []string{"p", r.Subject, r.Path, r.Methods, eft})
	}
	for _, l := range f.links {
		out = append(out, []string{"g", l.Role, l.Parent})
	}
	return out
}

// checkRoles loads the valid lines into Casbin, takes every role's ancestors
// from Casbin's role manager, and refuses a chain of g links deeper than
// Casbin follows.
func (f *file) checkRoles() {
	e, err := newCasbin(f.casbinRules())
	if err != nil {
		f.problem(0, "", "casbin refused the policy: %v", err)
		return
	}
	// One evaluation with a subject that matches nothing runs the matcher
	// over every line: Casbin itself accepts the policy.
	if _, err := e.Enforce(casbinRequestUser, "/", "GET"); err != nil {
		f.problem(0, "", "casbin refused the policy: %v", err)
		return
	}
	rm := e.GetRoleManager()
	names := map[string]bool{Anonymous: true, Authenticated: true}
	for _, r := range f.rules {
		names[r.Subject] = true
	}
	for _, l := range f.links {
		names[l.Role], names[l.Parent] = true, true
	}
	f.ancestors = make(map[string][]string, len(names))
	for name := range names {
		anc, err := rm.GetImplicitRoles(name)
		if err != nil {
			f.problem(0, "", "casbin role manager: %v", err)
			return
		}
		var own []string
		for _, a := range anc {
			if a != name {
				own = append(own, a)
			}
		}
		sort.Strings(own)
		f.ancestors[name] = own
	}
	f.checkDepth()
}

// checkDepth refuses a role whose nearest path to one of its ancestors is
// longer than maxRoleDepth links (breadth-first, as Casbin counts).
func (f *file) checkDepth() {
	parents := map[string][]link{}
	for _, l := range f.links {
		parents[l.Role] = append(parents[l.Role], l)
	}
	reported := map[int]bool{}
	for _, start := range slices.Sorted(maps.Keys(parents)) {
		dist := map[string]int{start: 0}
		frontier := []string{start}
		for d := 1; len(frontier) > 0; d++ {
			var next []string
			for _, r := range frontier {
				for _, l := range parents[r] {
					if _, seen := dist[l.Parent]; seen {
						continue
					}
					dist[l.Parent] = d
					next = append(next, l.Parent)
					if d > maxRoleDepth && !reported[l.Line] {
						reported[l.Line] = true
						f.problem(l.Line, l.Text, "role %q reaches %q through %d g links; at most %d are followed (Casbin's role manager stops at 10 and would silently drop the rest)", start, l.Parent, d, maxRoleDepth)
					}
				}
			}
			frontier = next
		}
	}
}
