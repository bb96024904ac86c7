package policy

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	casbin "github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
)

// The differential tests hold Decide to what Casbin's Enforce answers, with
// the same model, for random policies and requests: the decision, and the
// deciding line (Casbin's EnforceEx explanation is the first matching deny
// line, else the first matching allow line).
//
// The reference knows nothing of the index: it is a plain Casbin enforcer
// built from the generator's own rules (not from our parser), asked for a
// synthetic subject that g-inherits every role of the request plus
// anonymous. That is how "any role allows and no role denies" is spelled in
// Casbin: one evaluation over the union of the roles' lines.

// genRule is a generated policy line in Casbin's form.
type genRule struct {
	ptype string // "p" or "g"
	vals  []string
}

var (
	genRoles = []string{Anonymous, Authenticated, "admin", "editor", "user", "contractor", "r1", "r2", "r3", "r-4"}
	// Literal segments: cases, dots, percent-encodings, empty segments.
	genSegs = []string{"api", "items", "billing", "v1", "a.b", "x", "Items", "API", "%2F", "%41", "openapi.json", "", "-", "~u", "a=b"}
	// Method regexps: anchored and not, alternations, case, dots.
	genMethods = []string{"*", "*", "GET", "(GET)|(POST)", "^GET$", "P", "PUT|PATCH", "^(GET|HEAD)$", "DELETE",
		"get", "(?i)get", "G.T", ".*", "^$", "T$", "^(PUT)|(DELETE)$", "X?GET", "[A-Z]+"}
	genReqMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
		"get", "Get", "GETX", "XGET", "PROPFIND", "", "G\nT", "GÉT", "\xffGET"}
	// Request segment values for :params and stars.
	genValues = []string{"42", "x", "a.b", "", "é", "%2F", "a%20b", "\n", "a\nb", "\xff", "Items", "items", "..", ".", "*", ":id", "日本"}
)

// genPolicy returns a random policy: its rules in Casbin's form, and a file
// text for them with random (legal) formatting.
func genPolicy(r *rand.Rand) ([]genRule, string) {
	var rules []genRule
	nP := 1 + r.IntN(24)
	for range nP {
		eft := "allow"
		if r.IntN(4) == 0 {
			eft = "deny"
		}
		rules = append(rules, genRule{"p", []string{pick(r, genRoles), genPattern(r), pick(r, genMethods), eft}})
	}
	// g links among the roles: cycles allowed; 10 roles keep every chain
	// within maxRoleDepth.
	for range r.IntN(8) {
		rules = append(rules, genRule{"g", []string{pick(r, genRoles), pick(r, genRoles)}})
	}
	r.Shuffle(len(rules), func(i, j int) { rules[i], rules[j] = rules[j], rules[i] })
	// Duplicates, as admins write them.
	if len(rules) > 1 && r.IntN(3) == 0 {
		rules = append(rules, rules[r.IntN(len(rules))])
	}

	var b strings.Builder
	nl := "\n"
	if r.IntN(5) == 0 {
		nl = "\r\n"
	}
	for _, g := range rules {
		if r.IntN(6) == 0 {
			b.WriteString("# a comment, p, x, /y, GET" + nl)
		}
		if r.IntN(8) == 0 {
			b.WriteString(nl)
		}
		fields := append([]string{g.ptype}, g.vals...)
		if g.ptype == "p" && fields[4] == "allow" && r.IntN(2) == 0 {
			fields = fields[:4]
		}
		quoted := false
		for i, f := range fields {
			if i > 0 {
				if quoted {
					// encoding/csv (and so Casbin) refuses a space
					// after a closing quote.
					b.WriteString(pick(r, []string{",", ", ", ",\t"}))
				} else {
					b.WriteString(pick(r, []string{",", ", ", " , ", ",\t"}))
				}
			}
			quoted = strings.ContainsAny(f, `,"`) || r.IntN(20) == 0
			if quoted {
				f = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
			}
			b.WriteString(f)
		}
		b.WriteString(pick(r, []string{"", " ", "\t"}) + nl)
	}
	return rules, b.String()
}

// genPattern returns a random valid PATH pattern.
func genPattern(r *rand.Rand) string {
	if r.IntN(12) == 0 {
		return pick(r, []string{"/", "/*", "/:id"})
	}
	var segs []string
	n := 1 + r.IntN(4)
	for i := range n {
		switch k := r.IntN(10); {
		case k < 6:
			segs = append(segs, pick(r, genSegs))
		case k < 8:
			segs = append(segs, pick(r, []string{":id", ":name", ":x-y"}))
		case k < 9 || i == n-1:
			segs = append(segs, "*") // in the middle now and then
		default:
			segs = append(segs, pick(r, genSegs))
		}
	}
	if r.IntN(8) == 0 {
		segs = append(segs, "") // trailing slash
	}
	return "/" + strings.Join(segs, "/")
}

// genRequest returns a random request: most often aimed at one of the
// rules (an instance of its pattern, then mutated; its subject among the
// roles; a method its regexp matches), so that every outcome is frequent.
func genRequest(r *rand.Rand, rules []genRule) (roles []string, method, path string) {
	roles, method = genRequestRoles(r), pick(r, genReqMethods)
	var ps []genRule
	for _, g := range rules {
		if g.ptype == "p" {
			ps = append(ps, g)
		}
	}
	if len(ps) == 0 || r.IntN(10) == 0 {
		return roles, method, pick(r, []string{"", "*", "/", "//", "api", "/api", "/api/", "/API/items", "/%61pi/items", "/api/items/42", "/\n", "/é"})
	}
	target := ps[r.IntN(len(ps))]
	if r.IntN(10) < 7 {
		roles = append(roles, target.vals[0])
	}
	if m := target.vals[2]; r.IntN(2) == 0 && m != "*" {
		re := regexp.MustCompile(m)
		var ok []string
		for _, s := range standardMethods {
			if re.MatchString(s) {
				ok = append(ok, s)
			}
		}
		if len(ok) > 0 {
			method = pick(r, ok)
		}
	}
	return roles, method, genPath(r, target.vals[1])
}

// genPath returns an instance of pattern, mutated now and then.
func genPath(r *rand.Rand, pattern string) string {
	segs := strings.Split(pattern[1:], "/")
	var out []string
	for _, s := range segs {
		switch {
		case s == "*":
			for range r.IntN(3) {
				out = append(out, pick(r, genValues))
			}
		case strings.HasPrefix(s, ":"):
			out = append(out, pick(r, genValues))
		case strings.Contains(s, ".") && r.IntN(2) == 0:
			// Replace a dot with another character, '/' or "\n" included.
			out = append(out, strings.Replace(s, ".", pick(r, []string{"_", "/", "\n", "é", "."}), 1))
		default:
			out = append(out, s)
		}
	}
	p := "/" + strings.Join(out, "/")
	switch r.IntN(10) {
	case 0:
		p += "/"
	case 1:
		p = strings.ToUpper(p)
	case 2:
		p = strings.TrimSuffix(p, "/")
		if i := strings.LastIndexByte(p, '/'); i > 0 {
			p = p[:i]
		}
	case 3:
		p = strings.Replace(p, "/", "//", 1)
	case 4:
		p += pick(r, genValues)
	}
	return p
}

func genRequestRoles(r *rand.Rand) []string {
	var roles []string
	for range r.IntN(4) {
		roles = append(roles, pick(r, append(genRoles, "ghost", "")))
	}
	return roles
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

// reference is Casbin's answer for a generated policy.
type reference struct {
	e *casbin.Enforcer
}

func newReference(t testing.TB, rules []genRule) *reference {
	t.Helper()
	m, err := model.NewModelFromString(ModelText)
	if err != nil {
		t.Fatal(err)
	}
	e, err := casbin.NewEnforcer(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range rules {
		if g.ptype == "p" {
			_, err = e.AddPolicy(g.vals)
		} else {
			_, err = e.AddGroupingPolicy(g.vals)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &reference{e: e}
}

// decide asks Casbin for a subject that inherits every role of the request
// and anonymous; it returns the decision and the deciding rule.
func (ref *reference) decide(t testing.TB, roles []string, method, path string) (bool, []string) {
	t.Helper()
	links := [][]string{{casbinRequestUser, Anonymous}}
	for _, r := range roles {
		links = append(links, []string{casbinRequestUser, r})
	}
	if _, err := ref.e.AddGroupingPolicies(dedupLinks(links)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := ref.e.RemoveFilteredGroupingPolicy(0, casbinRequestUser); err != nil {
			t.Fatal(err)
		}
	}()
	ok, explain, err := ref.e.EnforceEx(casbinRequestUser, path, method)
	if err != nil {
		t.Fatalf("casbin: %v", err)
	}
	return ok, explain
}

func dedupLinks(links [][]string) [][]string {
	var out [][]string
	for _, l := range links {
		if !slices.ContainsFunc(out, func(o []string) bool { return slices.Equal(o, l) }) {
			out = append(out, l)
		}
	}
	return out
}

// checkSame fails t when Decide and Casbin disagree on a request.
// loadWithReference loads the policy file as the gateway does, and the
// same rules into Casbin's own enforcer, for checkSame; rules seed
// genRequest.
func loadWithReference(t testing.TB, file string) (*Policy, *reference, []genRule) {
	t.Helper()
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parse(file, mustRead(t, file))
	if err != nil {
		t.Fatal(err)
	}
	var rules []genRule
	for _, r := range f.casbinRules() {
		rules = append(rules, genRule{r[0], r[1:]})
	}
	return p, newReference(t, rules), rules
}

func checkSame(t testing.TB, p *Policy, ref *reference, text string, roles []string, method, path string) {
	t.Helper()
	want, explain := ref.decide(t, roles, method, path)
	got := p.Decide(roles, method, path)
	var gotRule []string
	if got.Line != 0 {
		i := slices.IndexFunc(p.rules, func(r Rule) bool { return r.Line == got.Line })
		r := p.rules[i]
		eft := "allow"
		if r.Deny {
			eft = "deny"
		}
		gotRule = []string{r.Subject, r.Path, r.Methods, eft}
	}
	if got.Allow != want || !slices.Equal(gotRule, explain) {
		t.Fatalf("Decide(%q, %q, %q) = %+v (rule %q), casbin says allow=%v by %q\npolicy:\n%s",
			roles, method, path, got, gotRule, want, explain, text)
	}
}

// TestDecideMatchesCasbinRandom is the property test: many random policies,
// many random requests each, same answers as Casbin.
func TestDecideMatchesCasbinRandom(t *testing.T) {
	policies, requests := 200, 150
	var allowed, denied, unmatched int
	if testing.Short() || raceEnabled {
		policies = 25
	}
	for seed := range uint64(policies) {
		r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		rules, text := genPolicy(r)
		p, err := Parse("random.csv", strings.NewReader(text))
		if err != nil {
			if !hasP(rules) {
				continue // refused: no p line
			}
			t.Fatalf("seed %d: generated policy refused: %v\n%s", seed, err, text)
		}
		ref := newReference(t, rules)
		for range requests {
			roles, method, path := genRequest(r, rules)
			checkSame(t, p, ref, text, roles, method, path)
			switch d := p.Decide(roles, method, path); {
			case d.Allow:
				allowed++
			case d.Line != 0:
				denied++
			default:
				unmatched++
			}
		}
	}
	// The requests must exercise all three outcomes, not mostly "no rule".
	t.Logf("allowed %d, denied by a line %d, no rule %d", allowed, denied, unmatched)
	total := allowed + denied + unmatched
	if allowed < total/10 || denied < total/20 || unmatched < total/10 {
		t.Errorf("unbalanced outcomes: allowed %d, denied by a line %d, no rule %d", allowed, denied, unmatched)
	}
}

func hasP(rules []genRule) bool {
	return slices.ContainsFunc(rules, func(g genRule) bool { return g.ptype == "p" })
}

// FuzzDecideMatchesCasbin is the differential fuzz test: the fuzzer picks
// the random policy (seed) and adds a role, a method and a path of its own
// to the generated requests.
//
//	go test -run '^$' -fuzz FuzzDecideMatchesCasbin -fuzztime 60s ./policy/
func FuzzDecideMatchesCasbin(f *testing.F) {
	for i, c := range goldenDefault {
		f.Add(uint64(i), strings.Join(c.roles, ","), c.method, c.path)
	}
	f.Add(uint64(7), "admin", "GETX", "/api/a\nb")
	f.Add(uint64(8), "", "", "")
	f.Fuzz(func(t *testing.T, seed uint64, role, method, path string) {
		r := rand.New(rand.NewPCG(seed, 1))
		rules, text := genPolicy(r)
		p, err := Parse("fuzz.csv", strings.NewReader(text))
		if err != nil {
			if !hasP(rules) {
				return
			}
			t.Fatalf("generated policy refused: %v\n%s", err, text)
		}
		ref := newReference(t, rules)
		roles := strings.Split(role, ",")
		checkSame(t, p, ref, text, roles, method, path)
		for range 8 {
			gr, gm, gp := genRequest(r, rules)
			checkSame(t, p, ref, text, gr, gm, gp)
			// The fuzzer's method, path and role with generated ones.
			checkSame(t, p, ref, text, gr, method, gp)
			checkSame(t, p, ref, text, gr, gm, path)
			checkSame(t, p, ref, text, append(gr, roles...), gm, gp)
		}
	})
}

// TestDefaultPolicyMatchesCasbin runs the golden requests and random ones
// against the default policy.csv.
func TestDefaultPolicyMatchesCasbin(t *testing.T) {
	p, ref, rules := loadWithReference(t, "../policy.csv")
	for _, c := range goldenDefault {
		checkSame(t, p, ref, "policy.csv", c.roles, c.method, c.path)
	}
	r := rand.New(rand.NewPCG(1, 2))
	n := 5000
	if testing.Short() || raceEnabled {
		n = 500
	}
	for range n {
		roles, method, path := genRequest(r, rules)
		checkSame(t, p, ref, "policy.csv", roles, method, path)
	}
}

func TestGeneratorCoversTheCases(t *testing.T) {
	// The generator must produce what the fuzz test is meant to cover.
	var midStar, dots, params, denies, cycles, trailing int
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 3))
		rules, _ := genPolicy(r)
		for _, g := range rules {
			if g.ptype != "p" {
				if g.vals[0] == g.vals[1] {
					cycles++
				}
				continue
			}
			pat := g.vals[1]
			if strings.Contains(pat, "/*/") {
				midStar++
			}
			if strings.Contains(pat, ".") {
				dots++
			}
			if strings.Contains(pat, "/:") {
				params++
			}
			if strings.HasSuffix(pat, "/") && pat != "/" {
				trailing++
			}
			if g.vals[3] == "deny" {
				denies++
			}
		}
	}
	for name, n := range map[string]int{"mid star": midStar, "dots": dots, "params": params, "denies": denies, "self links": cycles, "trailing slash": trailing} {
		if n < 10 {
			t.Errorf("generator produced only %d patterns with %s", n, name)
		}
	}
}

// TestLinesSplitAsCasbin: every line is split into the fields Casbin's own
// file adapter (persist.LoadPolicyLine on the trimmed line) finds, but for
// the trimming of each field. Casbin keeps the spaces before a comma ("p ,"
// is an unknown section to it, "admin ," a role with a trailing space); we
// trim them, so Casbin is given the line without them.
func TestLinesSplitAsCasbin(t *testing.T) {
	compared := 0
	defer func() {
		if compared < 1000 {
			t.Errorf("only %d lines compared", compared)
		}
	}()
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 4))
		_, text := genPolicy(r)
		f, err := parse("split.csv", []byte(text))
		if err != nil {
			continue
		}
		byLine := map[int][]string{}
		for _, r := range f.rules {
			byLine[r.Line] = []string{r.Subject, r.Path, r.Methods}
		}
		for _, l := range f.links {
			byLine[l.Line] = []string{l.Role, l.Parent}
		}
		for i, line := range strings.Split(text, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' {
				continue
			}
			m, err := model.NewModelFromString(ModelText)
			if err != nil {
				t.Fatal(err)
			}
			line := spaceBeforeComma.ReplaceAllString(line, ",")
			if err := persist.LoadPolicyLine(line, m); err != nil {
				// Casbin wants the effect: our default, allow.
				if err := persist.LoadPolicyLine(line+",allow", m); err != nil {
					t.Fatalf("casbin: line %q: %v", line, err)
				}
			}
			var got []string
			for _, sec := range []string{"p", "g"} {
				if pol := m[sec][sec].Policy; len(pol) == 1 {
					got = pol[0]
				}
			}
			want := byLine[i+1]
			compared++
			if len(got) < len(want) {
				t.Fatalf("line %d %q: casbin %q, ours %q", i+1, line, got, want)
			}
			for k := range want {
				if strings.TrimSpace(got[k]) != want[k] {
					t.Fatalf("line %d %q: casbin %q, ours %q", i+1, line, got, want)
				}
			}
		}
	}
}

var spaceBeforeComma = regexp.MustCompile(`[ \t]+,`)
