// Package policy decides which roles may send which method to which path,
// from a Casbin RBAC policy file (policy.csv) that admins edit live.
//
// File format, one line each (# comment lines and blank lines allowed):
//
//	p, SUBJECT, PATH, METHODS[, allow|deny]   (the effect defaults to allow)
//	g, ROLE, PARENT                            (ROLE inherits PARENT's lines)
//
// Matching is Casbin's, sharp edges included (pattern.go has the details):
//   - PATH is a keyMatch2 pattern on the raw request path, byte for byte (no
//     decoding, no case folding, no slash cleaning). ":name" is one
//     non-empty segment; a trailing "/*" is any rest, none included, so
//     "/api/*" matches "/api/" but not "/api"; a "/*" before the end spans
//     any number of segments; "." matches any one character. Load refuses
//     every other regexp metacharacter, and "*" or ":" inside a segment,
//     rather than let keyMatch2 read them as regexps.
//   - METHODS is "*" or a Go regexp matched unanchored (Casbin's
//     regexMatch): "GET" also matches "GETX"; "^(GET|HEAD)$" matches only
//     those two. Validate warns when the unanchored reading matches more
//     standard methods than the anchored one.
//
// Guarantees:
//   - Casbin is the reference: the embedded model (ModelText) and Casbin's
//     adapter path store the policy, Casbin's role manager gives the role
//     hierarchy, and Decide answers exactly what Casbin's Enforce answers
//     for a subject that inherits every role of the request, deciding line
//     included (FuzzDecideMatchesCasbin). Lines are split as Casbin's file
//     adapter splits them, fields trimmed; a line that Casbin would read as
//     something else than it says (a regexp in a path, an inline comment,
//     an unknown effect, an empty METHODS that matches everything) is
//     refused.
//   - A file is loaded whole or not at all: every invalid line is reported
//     at once with its line number (*ParseError); a file without any p line
//     is refused; Enforcer keeps the previous policy in force.
//   - Decide runs no matcher and no Casbin code per request: Load compiles
//     the policy into an index by literal path prefix and subject, with role
//     inheritance expanded, patterns pre-split and methods answered in
//     advance for the standard methods. Decide does not allocate (up to 16
//     distinct subjects per request) and its cost does not grow with the
//     number of lines.
//   - Deny by default: nothing matching means deny, and a matching deny line
//     for any role of the request (or one it inherits) beats every allow.
//   - Roles: Decide always adds the built-in Anonymous; the caller adds
//     Authenticated and the user's roles for a logged-in user.
//   - Enforcer reloads the file within 2 s of a change (an edit in place, a
//     rename over it, a Kubernetes ConfigMap "..data" swap, a delete and
//     re-create; inotify where it works, and polling every second anyway),
//     swaps the new policy in atomically, and counts reloads by result.
package policy

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Decision is the answer for one request and the line that gave it.
type Decision struct {
	Allow bool
	// Line is the deciding line: the first matching deny line if any
	// matched, else the first matching allow line; 0 when no line matched.
	Line int
	// Rule is the deciding line's text ("p, admin, /api/*, *"), "" for none.
	Rule string
	// Reason says why in words: "allowed by line 12", "denied by line 30",
	// "no rule allows".
	Reason string
}

// noRule is the decision when no line matches.
var noRule = Decision{Allow: false, Reason: "no rule allows"}

// Policy is a loaded, compiled policy file. It is immutable and safe for
// concurrent use.
type Policy struct {
	name     string
	hash     [32]byte
	rules    []Rule
	warnings []Warning
	roles    []string

	// expand maps a role name to the subjects (indexes of subjects with p
	// lines) whose lines apply to it: itself and every ancestor.
	expand map[string][]int32
	root   *node
}

// node is a node of the index: the rules whose PATH starts with the
// literal segments on the way from the root to it, by subject.
type node struct {
	children map[string]*node
	groups   []group         // by subject, in order of first line
	bySubj   map[int32]int32 // subject -> index in groups, when groups is long
}

type group struct {
	subj  int32
	rules []*rule // in line order
}

// rule is a compiled p line with its decision ready to return.
type rule struct {
	line     int
	deny     bool
	path     pathMatcher
	methods  methodMatcher
	decision Decision
}

// groupScanMax is the number of subjects up to which a node is scanned
// rather than looked up in bySubj.
const groupScanMax = 8

// Name returns the file name the policy was loaded from.
func (p *Policy) Name() string { return p.name }

// Hash returns the SHA-256 of the file's bytes, in hex.
func (p *Policy) Hash() string { return fmt.Sprintf("%x", p.hash) }

// Rules returns the p lines, in file order.
func (p *Policy) Rules() []Rule { return append([]Rule(nil), p.rules...) }

// Warnings returns the warnings of the file, in line order.
func (p *Policy) Warnings() []Warning { return append([]Warning(nil), p.warnings...) }

// Roles returns every role the file names (p subjects and both sides of g
// lines), sorted.
func (p *Policy) Roles() []string { return append([]string(nil), p.roles...) }

// compile parses data and builds the index.
func compile(name string, data []byte) (*Policy, error) {
	f, err := parse(name, data)
	if err != nil {
		return nil, err
	}
	p := &Policy{
		name:     name,
		hash:     f.hash,
		rules:    make([]Rule, len(f.rules)),
		warnings: f.lint(),
		expand:   map[string][]int32{},
		root:     &node{},
	}
	subjID := map[string]int32{}
	for i, cr := range f.rules {
		p.rules[i] = cr.Rule
		id, ok := subjID[cr.Subject]
		if !ok {
			id = int32(len(subjID)) // #nosec G115 -- at most one subject per policy line, far below 2^31
			subjID[cr.Subject] = id
		}
		r := &rule{line: cr.Line, deny: cr.Deny, path: cr.path, methods: cr.methods}
		r.decision = Decision{Allow: !cr.Deny, Line: cr.Line, Rule: cr.Text,
			Reason: fmt.Sprintf("allowed by line %d", cr.Line)}
		if cr.Deny {
			r.decision.Reason = fmt.Sprintf("denied by line %d", cr.Line)
		}
		n := p.root
		for _, seg := range cr.path.prefix {
			c := n.children[seg]
			if c == nil {
				if n.children == nil {
					n.children = map[string]*node{}
				}
				c = &node{}
				n.children[seg] = c
			}
			n = c
		}
		n.add(id, r)
	}
	p.root.finish()

	for name, anc := range f.ancestors {
		var ids []int32
		for _, s := range append([]string{name}, anc...) {
			if id, ok := subjID[s]; ok {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
			p.expand[name] = ids
		}
	}
	named := map[string]bool{}
	for _, r := range f.rules {
		named[r.Subject] = true
	}
	for _, l := range f.links {
		named[l.Role], named[l.Parent] = true, true
	}
	p.roles = slices.Sorted(maps.Keys(named))
	return p, nil
}

func (n *node) add(subj int32, r *rule) {
	for i := range n.groups {
		if n.groups[i].subj == subj {
			n.groups[i].rules = append(n.groups[i].rules, r)
			return
		}
	}
	n.groups = append(n.groups, group{subj: subj, rules: []*rule{r}})
}

func (n *node) finish() {
	if len(n.groups) > groupScanMax {
		n.bySubj = make(map[int32]int32, len(n.groups))
		for i, g := range n.groups {
			n.bySubj[g.subj] = int32(i)
		}
	}
	for _, c := range n.children {
		c.finish()
	}
}

// Decide decides whether a request with the given roles may send method to
// path. path is the raw request path as forwarded (no decoding, no
// cleaning); method is compared case-sensitively. The built-in role
// Anonymous is always added; the caller passes the user's roles plus
// Authenticated for a logged-in user (build a new slice: appending to the
// identity's own slice could race with other requests).
//
// A matching deny line for any of the roles, or for a role they inherit,
// decides deny; else a matching allow line decides allow; else deny with
// Line 0. The deciding line is the first matching one of its effect.
func (p *Policy) Decide(roles []string, method, path string) Decision {
	var buf [16]int32
	subs := appendSubjects(buf[:0], p.expand[Anonymous])
	for _, r := range roles {
		if ids, ok := p.expand[r]; ok {
			subs = appendSubjects(subs, ids)
		}
	}
	if len(subs) == 0 {
		return noRule
	}
	var s scan
	s.method, s.midx, s.path = method, methodIndex(method), path
	s.node(p.root, subs)
	if len(path) > 0 && path[0] == '/' {
		n, rest := p.root, path[1:]
		for {
			i := strings.IndexByte(rest, '/')
			seg := rest
			if i >= 0 {
				seg = rest[:i]
			}
			if n = n.children[seg]; n == nil {
				break
			}
			s.node(n, subs)
			if i < 0 {
				break
			}
			rest = rest[i+1:]
		}
	}
	switch {
	case s.deny != nil:
		return s.deny.decision
	case s.allow != nil:
		return s.allow.decision
	}
	return noRule
}

// appendSubjects adds ids to subs, skipping those already there.
func appendSubjects(subs, ids []int32) []int32 {
next:
	for _, id := range ids {
		for _, s := range subs {
			if s == id {
				continue next
			}
		}
		subs = append(subs, id)
	}
	return subs
}

// scan is the state of one Decide.
type scan struct {
	method      string
	midx        int
	path        string
	allow, deny *rule
}

func (s *scan) node(n *node, subs []int32) {
	if len(n.groups) == 0 {
		return
	}
	if n.bySubj == nil {
		for i := range n.groups {
			g := &n.groups[i]
			for _, id := range subs {
				if id == g.subj {
					s.group(g.rules)
					break
				}
			}
		}
		return
	}
	for _, id := range subs {
		if i, ok := n.bySubj[id]; ok {
			s.group(n.groups[i].rules)
		}
	}
}

func (s *scan) group(rules []*rule) {
	for _, r := range rules {
		if r.deny {
			if s.deny != nil && s.deny.line <= r.line {
				continue
			}
		} else if s.deny != nil || s.allow != nil && s.allow.line <= r.line {
			continue
		}
		if !r.methods.match(s.method, s.midx) || !r.path.match(s.path) {
			continue
		}
		if r.deny {
			s.deny = r
		} else {
			s.allow = r
		}
	}
}
