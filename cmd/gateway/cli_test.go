package main

// Tests of the user and policy commands, run in-process through
// newRootCommand as main runs them, against the harness's deployments
// (harness_test.go): the commands and a running gateway share the storage,
// as an operator's shell and the replicas do.

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/internal/testenv"
)

// cliResult is one run of the command line.
type cliResult struct {
	args           []string
	stdout, stderr string
	err            error
	code           int // the exit status main gives
}

// runCLI runs the gateway command line with args, environ and stdin, as
// main does, and returns what it printed and its exit status.
func runCLI(t testing.TB, environ []string, stdin string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr testenv.Buffer
	root := newRootCommand(&stdout, &stderr, environ)
	root.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	root.SetIn(strings.NewReader(stdin))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	r := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err}
	if err != nil {
		r.code = exitCode(err)
	}
	return r
}

// want fails t unless the command exited with code.
func (r cliResult) want(t testing.TB, code int) cliResult {
	t.Helper()
	if r.code != code {
		t.Fatalf("gateway %s: exit status %d (%v), want %d\nstdout:\n%s\nstderr:\n%s",
			strings.Join(r.args, " "), r.code, r.err, code, r.stdout, r.stderr)
	}
	return r
}

// message is what main prints on standard error besides the command's own
// output: the error.
func (r cliResult) message() string {
	if r.err == nil {
		return ""
	}
	return r.err.Error()
}

// cliEnviron is the environment that points the commands at d's storage,
// with the harness's small argon2 parameters.
func (d *deployment) cliEnviron(extra ...string) []string {
	env := []string{
		"GATEWAY_STORAGE_DATABASE_URL=" + d.storage.DatabaseURL,
		"GATEWAY_STORAGE_SESSIONS=" + d.storage.Sessions,
		"GATEWAY_TOKENS_KEYS_DIR=" + d.keysDir,
		"GATEWAY_PASSWORDS_MEMORY_KIB=1024",
		"GATEWAY_PASSWORDS_ITERATIONS=1",
	}
	if d.storage.Redis.URL != "" {
		env = append(env,
			"GATEWAY_STORAGE_REDIS_URL="+d.storage.Redis.URL,
			"GATEWAY_STORAGE_REDIS_KEY_PREFIX="+d.storage.Redis.KeyPrefix)
	}
	return append(env, extra...)
}

var createdLine = regexp.MustCompile(`^created user ([0-9a-f-]{36}) \((\S+), roles: (\S+)\)\n$`)

// created parses the answer of `user create`: id, email, roles.
func (r cliResult) created(t testing.TB) (id, email, roles string) {
	t.Helper()
	m := createdLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("user create printed %q, want \"created user ID (EMAIL, roles: R)\"", r.stdout)
	}
	return m[1], m[2], m[3]
}

// storedUser reads a user from the database the gateway uses.
func (in *instance) storedUser(t testing.TB, id string) account.User {
	t.Helper()
	u, err := in.app.auth.Users.ByID(context.Background(), id)
	if err != nil {
		t.Fatalf("ByID(%s): %v", id, err)
	}
	return u
}

// cliPolicy is SPEC section 7's example with two more lines. Line numbers
// matter: the tests expect them.
const cliPolicy = `# SPEC section 7
p, anonymous,     /api/health,      GET
p, authenticated, /api/items/*,     (GET)|(POST)
p, editor,        /api/items/:id,   (PUT)|(DELETE)
p, admin,         /api/*,           *
p, admin,         /auth/admin/*,    *
p, contractor,    /api/billing/*,   *,   deny
g, admin, editor
g, editor, user
p, user,          /api/profile,     GET
`

func writePolicy(t testing.TB, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUserCommands runs every user command against each backend, with a
// gateway serving the same storage. The backends run one after the other
// and not in parallel with other tests, so that the 1 s revocation
// deadline measures the feed, not the machine's load (as TestReplicas).
func TestUserCommands(t *testing.T) {
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) { testUserCommands(t, backend) })
	}
}

func testUserCommands(t *testing.T, backend string) {
	d := newDeployment(t, backend)
	policyFile := writePolicy(t, cliPolicy)
	env := d.cliEnviron("GATEWAY_POLICY_FILE=" + policyFile)
	run := func(stdin string, args ...string) cliResult {
		t.Helper()
		return runCLI(t, env, stdin, args...)
	}
	tag := randomHex(t, 4)
	admin := testUser{Email: "admin-" + tag + "@example.com", Password: newPassword(t)}
	d.secret(admin.Password)

	// The first administrator of a fresh install, before any gateway has
	// migrated the database: the command migrates it. The email is
	// normalised, the CRLF of a Windows-made file dropped.
	r := run(admin.Password+"\r\n", "user", "create", "--email", "  ADMIN-"+tag+"@Example.com ",
		"--role", "admin", "--name", "Ada", "--password-stdin").want(t, 0)
	id, email, roles := r.created(t)
	admin.ID = id
	if email != admin.Email || roles != "admin" {
		t.Fatalf("created %s with roles %s, want %s with admin", email, roles, admin.Email)
	}
	if strings.Contains(r.stdout+r.stderr, admin.Password) {
		t.Fatal("user create printed the password")
	}
	if !strings.Contains(r.stderr, `"admin_create_user"`) || !strings.Contains(r.stderr, `"actor_id":"cli`) {
		t.Errorf("user create wrote no audit line with the CLI as actor:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "no password") {
		t.Errorf("user create with a password says there is none:\n%s", r.stderr)
	}
	if _, err := os.Stat(d.keysDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("user create touched keys_dir (%v): a command signs nothing", err)
	}

	in := d.start(t, nil)
	ctx := context.Background()

	t.Run("create with a password", func(t *testing.T) {
		tk := in.login(t, admin)
		if got := anyStrings(tk.User["roles"]); !slices.Equal(got, []string{"admin"}) {
			t.Errorf("login answer roles %v, want [admin]", got)
		}
		if u := in.storedUser(t, admin.ID); u.Name != "Ada" || u.Disabled {
			t.Errorf("stored user %+v, want name Ada, enabled", u)
		}
		// The line ending was dropped, not kept: with the CR the password
		// is wrong.
		in.send(t, request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": admin.Email, "password": admin.Password + "\r"}}).
			wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
		// A password piped without any line ending is taken whole.
		u := testUser{Email: "nolf-" + tag + "@example.com", Password: newPassword(t)}
		d.secret(u.Password)
		run(u.Password, "user", "create", "--email", u.Email, "--password-stdin").want(t, 0)
		in.login(t, u)
		// Only the first line is read.
		v := testUser{Email: "lines-" + tag + "@example.com", Password: newPassword(t)}
		d.secret(v.Password)
		run(v.Password+"\nsecond line\n", "user", "create", "--email", v.Email, "--password-stdin").want(t, 0)
		in.login(t, v)
	})

	var bob testUser
	t.Run("create without a password", func(t *testing.T) {
		bob = testUser{Email: "bob-" + tag + "@example.com", Password: newPassword(t)}
		r := run("", "user", "create", "--email", bob.Email).want(t, 0)
		var roles string
		bob.ID, _, roles = r.created(t)
		if roles != "user" {
			t.Errorf("roles %s, want the default roles (user)", roles)
		}
		if !strings.Contains(r.stderr, "no password") {
			t.Errorf("no note that the account has no password:\n%s", r.stderr)
		}
		if u := in.storedUser(t, bob.ID); u.PasswordHash != "" || !slices.Equal(u.Roles, []string{"user"}) {
			t.Errorf("stored user: hash %q, roles %v; want no hash, [user]", u.PasswordHash, u.Roles)
		}
		// Nobody logs in to it, whatever the password.
		in.send(t, request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": bob.Email, "password": bob.Password}}).
			wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
	})

	t.Run("create refusals", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			stdin string
			args  []string
			want  string
		}{
			{"email taken, other spelling", admin.Password + "\n", []string{"--email", strings.ToUpper(admin.Email), "--password-stdin"}, "email is already registered"},
			{"email taken, no password", "", []string{"--email", bob.Email}, "email is already registered"},
			{"invalid email", "", []string{"--email", "not-an-email"}, "email must contain an @"},
			{"weak password", "short\r\n", []string{"--email", "weak-" + tag + "@example.com", "--password-stdin"}, "password must be at least 12 characters"},
			{"empty password line", "\n", []string{"--email", "empty-" + tag + "@example.com", "--password-stdin"}, "first line of standard input is empty"},
			{"nothing on stdin", "", []string{"--email", "eof-" + tag + "@example.com", "--password-stdin"}, "first line of standard input is empty"},
			{"invalid role", "", []string{"--email", "role-" + tag + "@example.com", "--role", "bad role"}, "role names are"},
			{"no email", "", []string{"--role", "admin"}, `"email" not set`},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := run(c.stdin, append([]string{"user", "create"}, c.args...)...).want(t, 1)
				if !strings.Contains(r.message(), c.want) {
					t.Errorf("error %q, want it to say %q", r.message(), c.want)
				}
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
			})
		}
		for _, e := range []string{"weak-", "empty-", "eof-", "role-"} {
			if _, err := in.app.auth.Users.ByEmail(ctx, e+tag+"@example.com"); !errors.Is(err, account.ErrNotFound) {
				t.Errorf("a refused create left an account %s...: %v", e, err)
			}
		}
	})

	t.Run("list", func(t *testing.T) {
		// One account per page: every page is listed.
		r := run("", "user", "list", "--page-size", "1").want(t, 0)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"ID", "EMAIL", "ROLES", "DISABLED", "CREATED"}) {
			t.Errorf("header %q", lines[0])
		}
		if len(lines) != 1+4 {
			t.Fatalf("%d lines, want a header and 4 accounts:\n%s", len(lines), r.stdout)
		}
		rows := map[string][]string{}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) != 5 {
				t.Fatalf("row %q: want 5 columns", l)
			}
			if _, err := time.Parse(time.RFC3339, f[4]); err != nil {
				t.Errorf("row %q: created %v", l, err)
			}
			rows[f[1]] = f
		}
		for email, want := range map[string][]string{
			admin.Email: {admin.ID, admin.Email, "admin", "no"},
			bob.Email:   {bob.ID, bob.Email, "user", "no"},
		} {
			if got := rows[email]; got == nil || !slices.Equal(got[:4], want) {
				t.Errorf("row of %s: %v, want %v", email, got, want)
			}
		}
	})

	t.Run("set-roles", func(t *testing.T) {
		u := in.register(t, "dora")
		tk := in.login(t, u)
		in.get(t, "/api/cli/roles/0", tk.Access).wantStatus(t, http.StatusOK)

		r := run("", "user", "set-roles", u.ID, "editor", "contractor").want(t, 0)
		took := eventually(t, revocationDeadline, "the gateway refuses the token with the old roles", func() bool {
			return in.get(t, "/api/cli/roles/poll", tk.Access).status == http.StatusUnauthorized
		})
		t.Logf("the gateway refused the stale token %v after the command", took)
		if want := "roles editor,contractor (were user)"; !strings.Contains(r.stdout, want) {
			t.Errorf("set-roles printed %q, want it to say %q", r.stdout, want)
		}
		if got := in.storedUser(t, u.ID).Roles; !slices.Equal(got, []string{"editor", "contractor"}) {
			t.Errorf("stored roles %v, want [editor contractor]", got)
		}
		fresh := in.login(t, u)
		in.get(t, "/api/cli/roles/1", fresh.Access).wantStatus(t, http.StatusOK)
		if got := d.up.last(t, "/api/cli/roles/1").Header.Get("X-Auth-User-Roles"); got != "editor,contractor" {
			t.Errorf("the upstream saw roles %q, want editor,contractor", got)
		}

		// By email; then --none removes every role.
		run("", "user", "set-roles", strings.ToUpper(u.Email), "user").want(t, 0)
		if got := in.storedUser(t, u.ID).Roles; !slices.Equal(got, []string{"user"}) {
			t.Errorf("stored roles %v after set-roles by email, want [user]", got)
		}
		run("", "user", "set-roles", "--none", u.ID).want(t, 0)
		if got := in.storedUser(t, u.ID).Roles; len(got) != 0 {
			t.Errorf("stored roles %v after --none, want none", got)
		}

		for _, c := range []struct {
			name string
			args []string
			want string
		}{
			{"no roles", []string{u.ID}, "use --none"},
			{"--none and roles", []string{"--none", u.ID, "admin"}, "give no ROLE"},
			{"invalid role", []string{u.ID, "ad min"}, "role names are"},
			{"unknown id", []string{"00000000-0000-4000-8000-000000000000", "admin"}, "no such user"},
			{"unknown email", []string{"nobody-" + tag + "@example.com", "admin"}, "no such user"},
			{"no id", nil, "requires at least 1 arg"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := run("", append([]string{"user", "set-roles"}, c.args...)...).want(t, 1)
				if !strings.Contains(r.message(), c.want) {
					t.Errorf("error %q, want it to say %q", r.message(), c.want)
				}
			})
		}
		if got := in.storedUser(t, u.ID).Roles; len(got) != 0 {
			t.Errorf("a refused set-roles changed the roles to %v", got)
		}
	})

	t.Run("disable and enable", func(t *testing.T) {
		u := in.register(t, "erin")
		tk := in.login(t, u)
		in.get(t, "/api/cli/disable/0", tk.Access).wantStatus(t, http.StatusOK)

		r := run("", "user", "disable", u.ID).want(t, 0)
		took := eventually(t, revocationDeadline, "the gateway refuses the disabled user's token", func() bool {
			return in.get(t, "/api/cli/disable/poll", tk.Access).status == http.StatusUnauthorized
		})
		t.Logf("the gateway refused the token %v after `user disable`", took)
		if !strings.Contains(r.stdout, "disabled user "+u.ID) {
			t.Errorf("disable printed %q", r.stdout)
		}
		if !in.storedUser(t, u.ID).Disabled {
			t.Error("the stored user is not disabled")
		}
		in.refresh(t, tk.Refresh).wantProblem(t, http.StatusUnauthorized, "invalid_token")
		in.send(t, request{method: http.MethodPost, path: "/auth/login",
			json: map[string]any{"email": u.Email, "password": u.Password}}).
			wantProblem(t, http.StatusForbidden, "account_disabled")

		run("", "user", "enable", u.Email).want(t, 0)
		if in.storedUser(t, u.ID).Disabled {
			t.Error("the stored user is still disabled")
		}
		in.get(t, "/api/cli/disable/1", in.login(t, u).Access).wantStatus(t, http.StatusOK)

		r = run("", "user", "disable", "00000000-0000-4000-8000-000000000000").want(t, 1)
		if !strings.Contains(r.message(), "no such user") {
			t.Errorf("disable of an unknown id: %q", r.message())
		}
		run("", "user", "enable").want(t, 1)
	})

	t.Run("policy check @email", func(t *testing.T) {
		// A user with an allowing and a denying role.
		r := run("", "user", "create", "--email", "mixed-"+tag+"@example.com", "--role", "admin,contractor").want(t, 0)
		if _, _, roles := r.created(t); roles != "admin,contractor" {
			t.Fatalf("roles %s, want admin,contractor", roles)
		}
		for _, c := range []struct {
			who, method, path string
			code              int
			out               string
		}{
			{"@" + admin.Email, "DELETE", "/auth/admin/users/1", 0, "allow: line 6: p, admin, /auth/admin/*, *\n"},
			{"@" + strings.ToUpper(admin.Email), "GET", "/api/x", 0, "allow: line 5: p, admin, /api/*, *\n"},
			{"@" + bob.Email, "GET", "/api/profile", 0, "allow: line 10: p, user, /api/profile, GET\n"},
			{"@" + bob.Email, "GET", "/auth/admin/users", 2, "deny: no rule allows\n"},
			{"@mixed-" + tag + "@example.com", "GET", "/api/billing/1", 2, "deny: line 7: p, contractor, /api/billing/*, *, deny\n"},
		} {
			r := run("", "policy", "check", c.who, c.method, c.path).want(t, c.code)
			if r.stdout != c.out {
				t.Errorf("policy check %s %s %s printed %q, want %q", c.who, c.method, c.path, r.stdout, c.out)
			}
		}
		r = run("", "policy", "check", "@nobody-"+tag+"@example.com", "GET", "/api/x").want(t, 1)
		if !strings.Contains(r.message(), "no such user") {
			t.Errorf("unknown email: %q", r.message())
		}
	})
}
