package policy

import (
	"os"
	"slices"
	"strings"
	"testing"
)

type goldenCase struct {
	name         string
	roles        []string // as the gateway passes them (Decide adds anonymous)
	method, path string
	rule         string // the deciding line's text; "" for none
	allow        bool
}

// loggedIn returns the roles the gateway passes for a logged-in user.
func loggedIn(roles ...string) []string { return append(roles, Authenticated) }

const (
	dHealth    = "p, anonymous, /api/health, GET"
	dDocs      = "p, anonymous, /api/docs, GET"
	dOpenAPI   = "p, anonymous, /api/openapi.json, GET"
	dRoot      = "p, anonymous, /, GET"
	dAssets    = "p, anonymous, /assets/*, GET"
	dItemsStar = "p, authenticated, /api/items/*, (GET)|(POST)"
	dItems     = "p, authenticated, /api/items, (GET)|(POST)"
	dItemsID   = "p, editor, /api/items/:id, (PUT)|(PATCH)|(DELETE)"
	dAdminAPI  = "p, admin, /api/*, *"
	dAdminAuth = "p, admin, /auth/admin/*, *"
	dBilling   = "p, contractor, /api/billing, *, deny"
	dBillingSt = "p, contractor, /api/billing/*, *, deny"
)

// goldenDefault is decided over the repository's policy.csv.
var goldenDefault = []goldenCase{
	// Public paths: for anonymous, and so for everyone.
	{"anonymous health", nil, "GET", "/api/health", dHealth, true},
	{"logged-in health", loggedIn("user"), "GET", "/api/health", dHealth, true},
	{"HEAD is not GET", nil, "HEAD", "/api/health", "", false},
	{"POST health", nil, "POST", "/api/health", "", false},
	{"health trailing slash", nil, "GET", "/api/health/", "", false},
	{"health upper case path", nil, "GET", "/API/health", "", false},
	{"lower case method", nil, "get", "/api/health", "", false},
	{"unanchored method GETX", nil, "GETX", "/api/health", dHealth, true},
	{"docs", nil, "GET", "/api/docs", dDocs, true},
	{"openapi", nil, "GET", "/api/openapi.json", dOpenAPI, true},
	{"dot is any character", nil, "GET", "/api/openapi_json", dOpenAPI, true},
	{"dot is not two characters", nil, "GET", "/api/openapi..json", "", false},
	{"root page", nil, "GET", "/", dRoot, true},
	{"other page", nil, "GET", "/index.html", "", false},
	{"empty path", nil, "GET", "", "", false},
	{"asterisk-form", nil, "OPTIONS", "*", "", false},
	{"root OPTIONS", nil, "OPTIONS", "/", "", false},
	{"asset", nil, "GET", "/assets/app.js", dAssets, true},
	{"asset deep", nil, "GET", "/assets/js/deep/app.js", dAssets, true},
	{"assets dir with slash", nil, "GET", "/assets/", dAssets, true},
	{"assets dir without slash", nil, "GET", "/assets", "", false},
	{"asset POST", nil, "POST", "/assets/x", "", false},
	{"asset encoded dots are not decoded", nil, "GET", "/assets/%2e%2e/secret", dAssets, true},

	// Anonymous only gets the public paths.
	{"anonymous items", nil, "GET", "/api/items", "", false},
	{"anonymous item", nil, "GET", "/api/items/1", "", false},
	{"anonymous admin", nil, "GET", "/auth/admin/users", "", false},

	// Any logged-in user.
	{"user items", loggedIn("user"), "GET", "/api/items", dItems, true},
	{"user items slash", loggedIn("user"), "GET", "/api/items/", dItemsStar, true},
	{"user item", loggedIn("user"), "GET", "/api/items/1", dItemsStar, true},
	{"user create", loggedIn("user"), "POST", "/api/items", dItems, true},
	{"user unanchored XPOST", loggedIn("user"), "XPOST", "/api/items", dItems, true},
	{"user HEAD", loggedIn("user"), "HEAD", "/api/items", "", false},
	{"user PUT", loggedIn("user"), "PUT", "/api/items/1", "", false},
	{"user DELETE", loggedIn("user"), "DELETE", "/api/items/1", "", false},
	{"user encoded slash", loggedIn("user"), "GET", "/api/items%2F1", "", false},
	{"user double slash", loggedIn("user"), "GET", "/api//items", "", false},
	{"user path case", loggedIn("user"), "GET", "/Api/items", "", false},
	{"user dot-dot not cleaned", loggedIn("user"), "GET", "/api/items/../billing", dItemsStar, true},
	{"user admin API", loggedIn("user"), "GET", "/auth/admin/users", "", false},
	{"unknown role still logged in", loggedIn("ghost"), "GET", "/api/items", dItems, true},
	{"no roles at all", []string{Authenticated}, "POST", "/api/items/9", dItemsStar, true},

	// Editors: :id is one non-empty segment.
	{"editor PUT", loggedIn("editor"), "PUT", "/api/items/1", dItemsID, true},
	{"editor PATCH", loggedIn("editor"), "PATCH", "/api/items/abc", dItemsID, true},
	{"editor DELETE encoded", loggedIn("editor"), "DELETE", "/api/items/a%2Fb", dItemsID, true},
	{"editor PUT two segments", loggedIn("editor"), "PUT", "/api/items/1/x", "", false},
	{"editor PUT empty id", loggedIn("editor"), "PUT", "/api/items/", "", false},
	{"editor PUT collection", loggedIn("editor"), "PUT", "/api/items", "", false},
	{"editor GET via authenticated", loggedIn("editor"), "GET", "/api/items/1", dItemsStar, true},
	{"editor elsewhere", loggedIn("editor"), "DELETE", "/api/other", "", false},
	{"editor admin API", loggedIn("editor"), "GET", "/auth/admin/users", "", false},

	// Admins: everything under /api/ and /auth/admin/, editor's and user's
	// lines through g; the first matching line decides.
	{"admin anything", loggedIn("admin"), "DELETE", "/api/other", dAdminAPI, true},
	{"admin custom method", loggedIn("admin"), "PROPFIND", "/api/x", dAdminAPI, true},
	{"admin inherits editor", loggedIn("admin"), "PUT", "/api/items/1", dItemsID, true},
	{"admin first line decides", loggedIn("admin"), "GET", "/api/items/1", dItemsStar, true},
	{"admin /api itself", loggedIn("admin"), "GET", "/api", "", false},
	{"admin /api/", loggedIn("admin"), "GET", "/api/", dAdminAPI, true},
	{"admin encoded slash", loggedIn("admin"), "GET", "/api/items%2F1", dAdminAPI, true},
	{"admin double slash first", loggedIn("admin"), "GET", "//api/x", "", false},
	{"admin users", loggedIn("admin"), "POST", "/auth/admin/users", dAdminAuth, true},
	{"admin user sessions", loggedIn("admin"), "DELETE", "/auth/admin/users/7/sessions", dAdminAuth, true},
	{"admin /auth/admin itself", loggedIn("admin"), "GET", "/auth/admin", "", false},
	{"admin billing", loggedIn("admin"), "GET", "/api/billing/invoices", dAdminAPI, true},
	{"role names are case-sensitive", loggedIn("Admin"), "DELETE", "/api/other", "", false},

	// Contractors: deny beats every allow, their own and inherited.
	{"contractor billing below", loggedIn("contractor"), "GET", "/api/billing/invoices", dBillingSt, false},
	{"contractor billing itself", loggedIn("contractor"), "GET", "/api/billing", dBilling, false},
	{"contractor billing slash", loggedIn("contractor"), "GET", "/api/billing/", dBillingSt, false},
	{"contractor admin billing", loggedIn("admin", "contractor"), "GET", "/api/billing/invoices", dBillingSt, false},
	{"contractor admin billing order", loggedIn("contractor", "admin"), "POST", "/api/billing", dBilling, false},
	{"contractor editor billing", loggedIn("editor", "contractor"), "DELETE", "/api/billing/1", dBillingSt, false},
	{"contractor dot-dot", loggedIn("contractor", "admin"), "GET", "/api/billing/../items", dBillingSt, false},
	{"contractor admin elsewhere", loggedIn("admin", "contractor"), "GET", "/api/items", dItems, true},
	{"contractor items", loggedIn("contractor"), "GET", "/api/items/1", dItemsStar, true},
	{"contractor health", loggedIn("contractor"), "GET", "/api/health", dHealth, true},
	{"contractor billing lookalike", loggedIn("contractor", "admin"), "GET", "/api/billingX", dAdminAPI, true},
}

const (
	lHealth     = "p, anonymous, /api/health, GET"
	lPublic     = "p, anonymous, /api/public/*, ^(GET|HEAD)$"
	lPublicPost = "p, authenticated, /api/public/*, POST"
	lMe         = "p, authenticated, /api/me, ^(GET|PATCH)$"
	lProject    = "p, viewer, /api/projects/:pid, ^GET$"
	lProjectSt  = "p, viewer, /api/projects/:pid/*, ^GET$"
	lTasks      = "p, member, /api/projects/:pid/tasks, ^(GET|POST)$"
	lTask       = "p, member, /api/projects/:pid/tasks/:tid, ^(PUT|DELETE)$"
	lLead       = "p, lead, /api/projects/:pid/*, *"
	lLeadSecret = "p, lead, /api/projects/:pid/secrets/*, *, deny"
	lBilling    = "p, billing, /api/billing/*, ^GET$"
	lAudit      = "p, auditor, /api/*/audit, ^GET$"
	lOps        = "p, ops, /api/ops/*, *"
	lOpsDown    = "p, ops, /api/ops/shutdown, *, deny"
	lSuspended  = "p, suspended, /*, *, deny"
	lSuper      = "p, superadmin, /*, *"
)

// goldenLarge is decided over testdata/large.csv.
var goldenLarge = []goldenCase{
	{"public GET", nil, "GET", "/api/public/a/b", lPublic, true},
	{"public HEAD", nil, "HEAD", "/api/public/a", lPublic, true},
	{"anchored: GETX refused", nil, "GETX", "/api/public/a", "", false},
	{"public POST needs login", nil, "POST", "/api/public/a", "", false},
	{"public POST logged in", loggedIn(), "POST", "/api/public/a", lPublicPost, true},
	{"me anonymous", nil, "GET", "/api/me", "", false},
	{"me", loggedIn(), "PATCH", "/api/me", lMe, true},
	{"me anchored", loggedIn(), "PATCHX", "/api/me", "", false},
	{"viewer project", loggedIn("viewer"), "GET", "/api/projects/7", lProject, true},
	{"viewer project deep", loggedIn("viewer"), "GET", "/api/projects/7/tasks/3", lProjectSt, true},
	{"viewer no write", loggedIn("viewer"), "POST", "/api/projects/7/tasks", "", false},
	{"viewer empty pid", loggedIn("viewer"), "GET", "/api/projects//tasks", "", false},
	{"member inherits viewer", loggedIn("member"), "GET", "/api/projects/7", lProject, true},
	{"member tasks", loggedIn("member"), "POST", "/api/projects/7/tasks", lTasks, true},
	{"member task", loggedIn("member"), "DELETE", "/api/projects/7/tasks/3", lTask, true},
	{"member task PATCH", loggedIn("member"), "PATCH", "/api/projects/7/tasks/3", "", false},
	{"intern is a member", loggedIn("intern"), "PUT", "/api/projects/7/tasks/3", lTask, true},
	{"lead anything in project", loggedIn("lead"), "PATCH", "/api/projects/7/tasks/3", lLead, true},
	{"lead not the project itself", loggedIn("lead"), "DELETE", "/api/projects/7", "", false},
	{"lead secrets denied", loggedIn("lead"), "GET", "/api/projects/7/secrets/db", lLeadSecret, false},
	{"owner inherits the lead deny", loggedIn("owner"), "GET", "/api/projects/7/secrets/db", lLeadSecret, false},
	{"superadmin inherits it too", loggedIn("superadmin"), "PUT", "/api/projects/7/secrets/db", lLeadSecret, false},
	{"superadmin anything else", loggedIn("superadmin"), "DELETE", "/anything/at/all", lSuper, true},
	{"superadmin first line", loggedIn("superadmin"), "GET", "/api/health", lHealth, true},
	{"billing", loggedIn("billing"), "GET", "/api/billing/2026/01", lBilling, true},
	{"billing write", loggedIn("billing"), "POST", "/api/billing/x", "", false},
	{"audit one level", loggedIn("auditor"), "GET", "/api/projects/audit", lAudit, true},
	{"audit mid star spans segments", loggedIn("auditor"), "GET", "/api/projects/7/audit", lAudit, true},
	{"audit needs a segment slash", loggedIn("auditor"), "GET", "/api/audit", "", false},
	{"audit empty middle", loggedIn("auditor"), "GET", "/api//audit", lAudit, true},
	{"ops", loggedIn("ops"), "POST", "/api/ops/restart", lOps, true},
	{"ops shutdown denied", loggedIn("ops"), "POST", "/api/ops/shutdown", lOpsDown, false},
	{"ops shutdown slash", loggedIn("ops"), "POST", "/api/ops/shutdown/", lOps, true},
	{"suspended health", loggedIn("suspended"), "GET", "/api/health", lSuspended, false},
	{"suspended member", loggedIn("member", "suspended"), "GET", "/api/projects/1", lSuspended, false},
	{"suspended superadmin", loggedIn("superadmin", "suspended"), "GET", "/x", lSuspended, false},
	{"suspended anonymous-only path", loggedIn("suspended"), "GET", "/api/public/x", lSuspended, false},
	{"role only as g parent", loggedIn("suspended-soon"), "GET", "/api/me", lMe, true},
}

func TestGoldenDefault(t *testing.T) {
	runGolden(t, "../policy.csv", goldenDefault, nil)
}

func TestGoldenLarge(t *testing.T) {
	runGolden(t, "testdata/large.csv", goldenLarge, []string{
		"testdata/large.csv:17: warning: can never allow anything: line 16 (p, lead, /api/projects/:pid/secrets/*, *, deny) denies every request it matches",
		`testdata/large.csv:20: warning: PATH "/api/*/audit": a /* before the end matches any number of segments, not one (keyMatch2 makes it .*); use :name for one segment`,
	})
}

func runGolden(t *testing.T, file string, cases []goldenCase, warnings []string) {
	p, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range p.Warnings() {
		got = append(got, w.String())
	}
	if !slices.Equal(got, warnings) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(warnings, "\n"))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			roles := slices.Clone(c.roles)
			d := p.Decide(roles, c.method, c.path)
			if d.Allow != c.allow || d.Rule != c.rule {
				t.Fatalf("Decide(%q, %q, %q) = %+v; want allow=%v by %q", c.roles, c.method, c.path, d, c.allow, c.rule)
			}
			if !slices.Equal(roles, c.roles) {
				t.Errorf("Decide changed its roles argument: %q", roles)
			}
			switch {
			case c.rule == "" && (d.Line != 0 || d.Reason != "no rule allows"):
				t.Errorf("no rule: got line %d, reason %q", d.Line, d.Reason)
			case c.rule != "":
				text := lineText(t, file, d.Line)
				if normalize(text) != c.rule {
					t.Errorf("line %d is %q, not the rule %q", d.Line, text, c.rule)
				}
				verb := "allowed"
				if !c.allow {
					verb = "denied"
				}
				if !strings.HasPrefix(d.Reason, verb+" by line ") {
					t.Errorf("reason %q", d.Reason)
				}
			}
		})
	}
	if len(cases) < 30 {
		t.Errorf("only %d golden cases", len(cases))
	}
}

func lineText(t *testing.T, file string, n int) string {
	t.Helper()
	lines := strings.Split(string(mustRead(t, file)), "\n")
	if n < 1 || n > len(lines) {
		t.Fatalf("line %d out of range", n)
	}
	return lines[n-1]
}

func normalize(line string) string {
	fields := strings.Split(line, ",")
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	return strings.Join(fields, ", ")
}

func mustRead(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenLargeMatchesCasbin(t *testing.T) {
	p, ref, _ := loadWithReference(t, "testdata/large.csv")
	for _, c := range goldenLarge {
		checkSame(t, p, ref, "large.csv", c.roles, c.method, c.path)
	}
}

func TestDecideRolesAreAdditive(t *testing.T) {
	// Decide adds anonymous itself; passing it again changes nothing.
	p := mustParse(t, "p, anonymous, /a, GET\np, authenticated, /b, GET\n")
	for _, roles := range [][]string{nil, {}, {Anonymous}, {Anonymous, Anonymous}, {"", "x"}} {
		if d := p.Decide(roles, "GET", "/a"); !d.Allow {
			t.Errorf("%q: /a denied", roles)
		}
		if d := p.Decide(roles, "GET", "/b"); d.Allow {
			t.Errorf("%q: /b allowed without authenticated", roles)
		}
	}
	if d := p.Decide([]string{Authenticated}, "GET", "/b"); !d.Allow || d.Line != 2 {
		t.Errorf("authenticated: %+v", d)
	}
}

func TestDecideManyRolesAndSubjects(t *testing.T) {
	// More roles than Decide's stack buffer, and a node with more subjects
	// than it scans linearly.
	var b strings.Builder
	var roles []string
	for i := range 40 {
		role := "r" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		roles = append(roles, role)
		b.WriteString("p, " + role + ", /api/*, ^GET$\n")
	}
	b.WriteString("p, rz, /api/secret, *, deny\n")
	p := mustParse(t, b.String())
	if d := p.Decide(roles, "GET", "/api/x"); !d.Allow || d.Line != 1 {
		t.Errorf("all roles: %+v", d)
	}
	if d := p.Decide(roles[39:], "GET", "/api/x"); !d.Allow || d.Line != 40 {
		t.Errorf("last role: %+v", d)
	}
	if d := p.Decide(roles, "GET", "/api/secret"); d.Allow || d.Line != 41 {
		t.Errorf("deny: %+v", d)
	}
	if d := p.Decide(roles, "POST", "/api/x"); d.Allow {
		t.Errorf("POST: %+v", d)
	}
}

func mustParse(t testing.TB, text string) *Policy {
	t.Helper()
	p, err := Parse("test.csv", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
