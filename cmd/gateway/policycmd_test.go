package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyCheck decides requests through `gateway policy check` over
// cliPolicy (SPEC section 7's example): what it prints and its exit status
// (0 allow, 2 deny, 1 error).
func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	file := writePolicy(t, cliPolicy)
	d := newDeployment(t, backendSQLite)
	env := d.cliEnviron()
	runCLI(t, env, "", "user", "create", "--email", "eve@example.com", "--role", "editor").want(t, 0)
	runCLI(t, env, "", "user", "create", "--email", "max@example.com", "--role", "admin", "--role", "contractor").want(t, 0)
	runCLI(t, env, "", "user", "create", "--email", "nora@example.com", "--role", "user").want(t, 0)
	runCLI(t, env, "", "user", "disable", "nora@example.com").want(t, 0)

	const (
		allow = 0
		deny  = exitDenied
	)
	for _, c := range []struct {
		name         string
		who          string
		method, path string
		code         int
		out          string
		note         string // on standard error
	}{
		{"public path, anonymous", "anonymous", "GET", "/api/health", allow, "allow: line 2: p, anonymous, /api/health, GET", ""},
		{"anonymous lines apply to logged-in users", "user", "GET", "/api/health", allow, "allow: line 2: p, anonymous, /api/health, GET", ""},
		{"anonymous is not authenticated", "anonymous", "GET", "/api/items/1", deny, "deny: no rule allows", ""},
		{"anonymous, other method", "anonymous", "POST", "/api/health", deny, "deny: no rule allows", ""},
		{"authenticated", "authenticated", "POST", "/api/items/1", allow, "allow: line 3: p, authenticated, /api/items/*, (GET)|(POST)", ""},
		{"any role is authenticated", "contractor", "GET", "/api/items/1", allow, "allow: line 3: p, authenticated, /api/items/*, (GET)|(POST)", ""},
		{"own line", "editor", "PUT", "/api/items/42", allow, "allow: line 4: p, editor, /api/items/:id, (PUT)|(DELETE)", ""},
		{"inherited: admin is an editor, the first allowing line decides", "admin", "DELETE", "/api/items/42", allow, "allow: line 4: p, editor, /api/items/:id, (PUT)|(DELETE)", ""},
		{"inherited two levels: editor is a user", "editor", "GET", "/api/profile", allow, "allow: line 10: p, user, /api/profile, GET", ""},
		{"no inheritance upwards", "user", "PUT", "/api/items/42", deny, "deny: no rule allows", ""},
		{":id is one segment", "editor", "PUT", "/api/items/42/x", deny, "deny: no rule allows", ""},
		{":id is not empty", "editor", "DELETE", "/api/items/", deny, "deny: no rule allows", ""},
		{"deny line", "contractor", "GET", "/api/billing/1", deny, "deny: line 7: p, contractor, /api/billing/*, *, deny", ""},
		{"admin everywhere under /api", "admin", "PATCH", "/api/billing/1", allow, "allow: line 5: p, admin, /api/*, *", ""},
		{"admin API", "admin", "GET", "/auth/admin/users", allow, "allow: line 6: p, admin, /auth/admin/*, *", ""},
		{"admin API, not admin", "editor", "GET", "/auth/admin/users", deny, "deny: no rule allows", ""},
		{"query ignored", "anonymous", "GET", "/api/health?x=/api/admin", allow, "allow: line 2: p, anonymous, /api/health, GET", ""},
		{"methods are case-sensitive", "editor", "put", "/api/items/42", deny, "deny: no rule allows", `"put" is not "PUT"`},
		{"role the file does not name", "ghost", "GET", "/api/items/1", allow, "allow: line 3: p, authenticated, /api/items/*, (GET)|(POST)", `no line of ` + file + ` names the role "ghost"`},
		{"path refused before the policy", "admin", "GET", "/api/%2e%2e/auth/admin/users", deny, "deny: the gateway refuses this path with 400 before the policy: ", ""},
		{"@email: the user's roles", "@eve@example.com", "GET", "/api/profile", allow, "allow: line 10: p, user, /api/profile, GET", ""},
		{"@email: email normalised", "@EVE@Example.COM", "DELETE", "/api/items/7", allow, "allow: line 4: p, editor, /api/items/:id, (PUT)|(DELETE)", ""},
		{"@email: the deny line's /* does not cover /api/billing", "@max@example.com", "GET", "/api/billing", allow, "allow: line 5: p, admin, /api/*, *", ""},
		{"@email: a deny role beats admin below", "@max@example.com", "GET", "/api/billing/2024", deny, "deny: line 7: p, contractor, /api/billing/*, *, deny", ""},
		{"@email: disabled user", "@nora@example.com", "GET", "/api/profile", allow, "allow: line 10: p, user, /api/profile, GET", "nora@example.com is disabled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, env, "", "policy", "check", "--file", file, c.who, c.method, c.path).want(t, c.code)
			if got := strings.TrimSuffix(r.stdout, "\n"); got != c.out && !(strings.HasSuffix(c.out, ": ") && strings.HasPrefix(got, c.out)) {
				t.Errorf("printed %q, want %q", r.stdout, c.out)
			}
			if c.note != "" && !strings.Contains(r.stderr, c.note) {
				t.Errorf("standard error %q, want a note %q", r.stderr, c.note)
			}
			if c.note == "" && r.stderr != "" {
				t.Errorf("standard error %q, want nothing", r.stderr)
			}
		})
	}

	t.Run("default file from the configuration", func(t *testing.T) {
		r := runCLI(t, d.cliEnviron("GATEWAY_POLICY_FILE="+file), "", "policy", "check", "admin", "GET", "/auth/admin/users").want(t, allow)
		if r.stdout != "allow: line 6: p, admin, /auth/admin/*, *\n" {
			t.Errorf("printed %q", r.stdout)
		}
		cfg := filepath.Join(t.TempDir(), "gateway.yaml")
		if err := os.WriteFile(cfg, []byte("policy:\n  file: "+file+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		runCLI(t, nil, "", "policy", "check", "--config", cfg, "anonymous", "GET", "/api/items").want(t, deny)
	})

	t.Run("errors", func(t *testing.T) {
		bad := writePolicy(t, "p, admin, /api/*, *\np, admin, /api/(x|y), GET\n")
		for _, c := range []struct {
			name string
			args []string
			want string
		}{
			{"unknown email", []string{"--file", file, "@nobody@example.com", "GET", "/"}, `no such user: "nobody@example.com"`},
			{"empty email", []string{"--file", file, "@", "GET", "/"}, "empty"},
			{"missing file", []string{"--file", filepath.Join(t.TempDir(), "nope.csv"), "admin", "GET", "/"}, "no such file"},
			{"invalid file", []string{"--file", bad, "admin", "GET", "/api/x"}, bad + ":2:"},
			{"too few arguments", []string{"--file", file, "admin", "GET"}, "accepts 3 arg(s)"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := runCLI(t, env, "", append([]string{"policy", "check"}, c.args...)...).want(t, 1)
				if !strings.Contains(r.message(), c.want) {
					t.Errorf("error %q, want it to say %q", r.message(), c.want)
				}
				if r.stdout != "" {
					t.Errorf("printed %q for an error", r.stdout)
				}
			})
		}
	})
}

// TestPolicyValidate: problems with line numbers and exit 1 for a file the
// gateway would refuse; warnings and exit 0 for a valid one.
func TestPolicyValidate(t *testing.T) {
	t.Parallel()

	t.Run("invalid", func(t *testing.T) {
		file := writePolicy(t, `# two bad lines and a shadowed one
p, admin, /api/*, *
p, admin, /api/(x|y), GET
p, admin, /api/users, GET
g, admin
p, editor, /api/items/:id, PUT, maybe
`)
		r := runCLI(t, nil, "", "policy", "validate", file).want(t, 1)
		for _, want := range []string{
			file + ":3: error: ",
			"    p, admin, /api/(x|y), GET\n",
			file + ":5: error: g line has 1 fields",
			file + `:6: error: unknown effect "maybe"`,
			// Warnings of the valid lines come too.
			file + ":4: warning: shadowed by line 2",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stderr)
			}
		}
		if want := file + " is invalid (3 problems)"; !strings.Contains(r.message(), want) {
			t.Errorf("error %q, want %q", r.message(), want)
		}
		if r.stdout != "" {
			t.Errorf("stdout %q for an invalid file", r.stdout)
		}
	})

	t.Run("valid with warnings", func(t *testing.T) {
		file := writePolicy(t, `p, authenticated, /api/*, GET
p, user, /api/items/1, GET
p, admin, /api/*, *
p, admin, /api/*, *
`)
		r := runCLI(t, nil, "", "policy", "validate", file).want(t, 0)
		for _, want := range []string{
			file + ":2: warning: shadowed by line 1 (p, authenticated, /api/*, GET)",
			file + ":4: warning: duplicate of line 3",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stderr)
			}
		}
		if want := file + ": valid: 4 p lines, 3 roles, 2 warnings\n"; r.stdout != want {
			t.Errorf("stdout %q, want %q", r.stdout, want)
		}
	})

	t.Run("the repository's policy.csv", func(t *testing.T) {
		r := runCLI(t, []string{"GATEWAY_POLICY_FILE=../../policy.csv"}, "", "policy", "validate").want(t, 0)
		if !strings.HasPrefix(r.stdout, "../../policy.csv: valid: ") {
			t.Errorf("stdout %q", r.stdout)
		}
	})

	t.Run("errors", func(t *testing.T) {
		empty := writePolicy(t, "# nothing yet\n")
		r := runCLI(t, nil, "", "policy", "validate", empty).want(t, 1)
		if !strings.Contains(r.stderr, empty+": error: no p line") {
			t.Errorf("empty file: %q", r.stderr)
		}
		r = runCLI(t, nil, "", "policy", "validate", filepath.Join(t.TempDir(), "nope.csv")).want(t, 1)
		if !strings.Contains(r.message(), "no such file") {
			t.Errorf("missing file: %q", r.message())
		}
		runCLI(t, nil, "", "policy", "validate", empty, empty).want(t, 1)
	})
}

// TestCLIBinary runs the README's first-admin step with the real binary on
// a fresh directory: the password piped in with a CRLF line ending, the
// embedded database created and migrated, no signing key written. Then a
// gateway on that database logs the admin in, and the binary's exit
// statuses are main's (1 error, 2 deny).
func TestCLIBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	bin := gatewayBinary(t)
	dir := t.TempDir()
	run := func(stdin string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := gatewayCommand(t, bin, dir, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			code = exit.ExitCode()
		case err != nil:
			t.Fatalf("gateway %s: %v", strings.Join(args, " "), err)
		}
		return o.String(), e.String(), code
	}

	admin := testUser{Email: "admin@example.com", Password: newPassword(t)}
	stdout, stderr, code := run(admin.Password+"\r\n", "user", "create", "--email", admin.Email, "--role", "admin", "--password-stdin")
	if code != 0 {
		t.Fatalf("user create: exit %d\n%s%s", code, stdout, stderr)
	}
	res := cliResult{stdout: stdout}
	admin.ID, _, _ = res.created(t)
	if strings.Contains(stdout+stderr, admin.Password) {
		t.Error("user create printed the password")
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "gateway.db")); err != nil {
		t.Errorf("the embedded database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "keys")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("user create wrote signing keys (%v)", err)
	}

	_, stderr, code = run(admin.Password+"\n", "user", "create", "--email", "Admin@Example.com", "--password-stdin")
	if code != 1 || !strings.Contains(stderr, "gateway: user create: email is already registered") {
		t.Errorf("second create: exit %d, %q; want 1 and email is already registered", code, stderr)
	}

	if err := os.WriteFile(filepath.Join(dir, "policy.csv"), []byte(cliPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := run("", "policy", "check", "@"+admin.Email, "GET", "/auth/admin/users"); code != 0 || stdout != "allow: line 6: p, admin, /auth/admin/*, *\n" {
		t.Errorf("policy check @admin: exit %d, %q %q", code, stdout, stderr)
	}
	if stdout, _, code := run("", "policy", "check", "anonymous", "GET", "/auth/admin/users"); code != exitDenied || stdout != "deny: no rule allows\n" {
		t.Errorf("policy check anonymous: exit %d, %q; want %d", code, stdout, exitDenied)
	}

	// A gateway on that database: the password is the line without its CR.
	d := newDeployment(t, backendSQLite)
	d.secret(admin.Password)
	d.storage.DatabaseURL = "sqlite://" + filepath.Join(dir, "data", "gateway.db")
	in := d.start(t, nil)
	if tk := in.login(t, admin); tk.User["id"] != admin.ID {
		t.Errorf("logged in as %v, want %s", tk.User["id"], admin.ID)
	}
	in.send(t, request{method: http.MethodPost, path: "/auth/login",
		json: map[string]any{"email": admin.Email, "password": admin.Password + "\r"}}).
		wantProblem(t, http.StatusUnauthorized, "invalid_credentials")
}
