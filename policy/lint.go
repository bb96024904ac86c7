package policy

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// lint finds legal lines that probably do not do what their author meant.
// It works on the valid lines only, so that Validate can report warnings
// next to the errors of a refused file.
func (f *file) lint() []Warning {
	var ws []Warning
	warn := func(line int, format string, args ...any) {
		ws = append(ws, Warning{File: f.name, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	for i := range f.rules {
		r := &f.rules[i]
		if r.midStar {
			warn(r.Line, "PATH %q: a /* before the end matches any number of segments, not one (keyMatch2 makes it .*); use :name for one segment", r.Path)
		}
		f.lintMethods(r, warn)
	}
	f.lintShadowed(warn)
	firstLink := map[[2]string]int{}
	for _, l := range f.links {
		key := [2]string{l.Role, l.Parent}
		if first, ok := firstLink[key]; ok {
			warn(l.Line, "duplicate of line %d", first)
			continue
		}
		firstLink[key] = l.Line
	}
	f.lintCycles(warn)
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Line < ws[j].Line })
	return ws
}

func (f *file) lintMethods(r *compiledRule, warn func(int, string, ...any)) {
	m := &r.methods
	if m.any {
		return
	}
	if m.mask == 0 {
		warn(r.Line, "METHODS %q matches no standard method (%s): methods are compared case-sensitively, in upper case", r.Methods, maskNames(1<<len(standardMethods)-1))
		return
	}
	if extra := m.mask &^ m.anchoredMask; extra != 0 {
		warn(r.Line, "METHODS %q is matched unanchored (Casbin's regexMatch), so it also matches %s; write ^(%s)$ to match whole method names only", r.Methods, maskNames(extra), r.Methods)
	}
}

// holds reports whether every request that holds role s also holds role t,
// given that a request always holds Anonymous (and what it inherits), and a
// logged-in one Authenticated and its roles (and what they inherit).
func (f *file) holds(s, t string) bool {
	if s == t || f.inherits(Anonymous, t) {
		return true
	}
	if f.inherits(Anonymous, s) {
		return false // anonymous requests hold s but not t
	}
	return f.inherits(Authenticated, t) || f.inherits(s, t)
}

// inherits reports whether role s is t or inherits it.
func (f *file) inherits(s, t string) bool {
	if s == t {
		return true
	}
	for _, a := range f.ancestors[s] {
		if a == t {
			return true
		}
	}
	return false
}

// covers reports whether every request that line b matches is also matched
// by line a (for paths without "\n", which cannot reach the gateway): the
// same or a held subject, the same methods or "*", and the same path or a
// "PREFIX/*" whose PREFIX is literal and starts b's path.
func (f *file) covers(a, b *compiledRule) bool {
	if a.Methods != "*" && a.Methods != b.Methods {
		return false
	}
	if a.Path != b.Path {
		pfx, ok := starPrefix(a.Path)
		if !ok || !strings.HasPrefix(b.Path, pfx) {
			return false
		}
	}
	return f.holds(b.Subject, a.Subject)
}

// starPrefix returns "PREFIX/" of a "PREFIX/*" pattern whose PREFIX is
// literal (no '.', ':' or '*').
func starPrefix(path string) (string, bool) {
	if !strings.HasSuffix(path, "/*") {
		return "", false
	}
	pfx := path[:len(path)-1]
	return pfx, !strings.ContainsAny(pfx, ".:*")
}

func (f *file) lintShadowed(warn func(int, string, ...any)) {
	// Candidates that may cover a line: lines with the same path, and
	// "PREFIX/*" lines whose PREFIX/ starts its path.
	byPath := map[string][]int{}
	byStar := map[string][]int{}
	for i := range f.rules {
		r := &f.rules[i]
		byPath[r.Path] = append(byPath[r.Path], i)
		if pfx, ok := starPrefix(r.Path); ok {
			byStar[pfx] = append(byStar[pfx], i)
		}
	}
	for j := range f.rules {
		b := &f.rules[j]
		cands := append([]int(nil), byPath[b.Path]...)
		for k := 0; k < len(b.Path); k++ {
			if b.Path[k] == '/' {
				cands = append(cands, byStar[b.Path[:k+1]]...)
			}
		}
		sort.Ints(cands)
		for _, i := range cands {
			if i == j {
				continue
			}
			a := &f.rules[i]
			if !f.covers(a, b) {
				continue
			}
			if a.Deny && !b.Deny {
				warn(b.Line, "can never allow anything: line %d (%s) denies every request it matches", a.Line, a.Text)
				break
			}
			if a.Deny != b.Deny {
				continue // an allow line never hides a deny line
			}
			if f.covers(b, a) && j < i {
				continue // equivalent lines: the later one gets the warning
			}
			if a.Subject == b.Subject && a.Path == b.Path && a.Methods == b.Methods {
				warn(b.Line, "duplicate of line %d", a.Line)
			} else {
				warn(b.Line, "shadowed by line %d (%s): it can never change a decision", a.Line, a.Text)
			}
			break
		}
	}
}

// lintCycles reports each cycle of g links once. Casbin tolerates them
// (the roles of a cycle all inherit each other), but they are never meant.
func (f *file) lintCycles(warn func(int, string, ...any)) {
	parents := map[string][]link{}
	for _, l := range f.links {
		parents[l.Role] = append(parents[l.Role], l)
	}
	const (
		unseen = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []link
	seen := map[string]bool{}
	var visit func(role string)
	visit = func(role string) {
		state[role] = onStack
		for _, l := range parents[role] {
			switch state[l.Parent] {
			case unseen:
				stack = append(stack, l)
				visit(l.Parent)
				stack = stack[:len(stack)-1]
			case onStack:
				// The cycle is the links on the stack from l.Parent on, plus l.
				k := len(stack)
				for k > 0 && stack[k-1].Role != l.Parent {
					k--
				}
				if k > 0 {
					k--
				}
				cycle := append(append([]link(nil), stack[k:]...), l)
				if l.Role == l.Parent {
					cycle = []link{l}
				}
				names := []string{cycle[0].Role}
				lines := []string{}
				key := []string{}
				for _, c := range cycle {
					names = append(names, c.Parent)
					lines = append(lines, fmt.Sprint(c.Line))
					key = append(key, c.Role)
				}
				sort.Strings(key)
				if k := strings.Join(key, "\x00"); !seen[k] {
					seen[k] = true
					warn(cycle[len(cycle)-1].Line, "role cycle %s (lines %s): these roles all inherit each other", strings.Join(names, " -> "), strings.Join(lines, ", "))
				}
			}
		}
		state[role] = done
	}
	for _, role := range slices.Sorted(maps.Keys(parents)) {
		if state[role] == unseen {
			visit(role)
		}
	}
}
