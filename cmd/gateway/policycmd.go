package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/database"
	"github.com/authgate/gateway/gateway/proxy"
	"github.com/authgate/gateway/policy"
)

// Exit statuses of `gateway policy check`: 0 allow, exitDenied deny, 1 an
// error (as for every command). A deny is not 1 so that a script or a CI
// job that asserts "this role must not reach that path" cannot mistake a
// typo in the file name, a broken policy or an unknown email for the
// answer it wants.
const exitDenied = 2

// errDenied is the error behind exit status exitDenied; the decision itself
// is on standard output.
var errDenied = errors.New("policy check: denied")

func newPolicyCommand(e *env) *cobra.Command {
	var configFile string
	p := &cobra.Command{
		Use:   "policy",
		Short: "Check a policy file and what it decides",
	}
	p.PersistentFlags().StringVar(&configFile, "config", "", "YAML configuration file (default ./gateway.yaml if present); gives policy.file and, for @EMAIL, the database")
	p.AddCommand(newPolicyCheckCommand(e, &configFile), newPolicyValidateCommand(e, &configFile))
	return p
}

func newPolicyCheckCommand(e *env, configFile *string) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "check [--file F] ROLE|@EMAIL METHOD PATH",
		Short: "Print allow or deny for a request, and the policy line that decides it",
		Long: "check decides METHOD PATH as the gateway would for\n" +
			"  ROLE       a logged-in user whose only role is ROLE (plus the built-in\n" +
			"             \"authenticated\" and \"anonymous\"); ROLE \"anonymous\" is a request\n" +
			"             without a login;\n" +
			"  @EMAIL     that user, with the roles stored in the configured database.\n" +
			"It prints \"allow: line N: RULE\", \"deny: line N: RULE\" (a deny line) or\n" +
			"\"deny: no rule allows\". PATH is the raw request path; a query is ignored, as\n" +
			"the gateway ignores it, and a path the gateway refuses with 400 is a deny.\n\n" +
			"Exit status: 0 allow, 2 deny, 1 error (bad arguments, an invalid policy file,\n" +
			"an unknown email).",
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			subject, method, target := args[0], args[1], args[2]
			email, byEmail := strings.CutPrefix(subject, "@")
			if subject == "" || byEmail && email == "" {
				return errors.New("policy check: ROLE or @EMAIL is empty")
			}
			var cfg *config.Config
			if file == "" || byEmail {
				var err error
				if cfg, err = config.Load(*configFile, e.environ); err != nil {
					return err
				}
			}
			if file == "" {
				file = cfg.Policy.File
			}
			pol, err := policy.Load(file)
			if err != nil {
				return err
			}

			var roles []string // a request without a login: Decide adds anonymous
			switch {
			case byEmail:
				u, err := lookupUser(cmd.Context(), cfg, email)
				if err != nil {
					return err
				}
				roles = append(slices.Clone(u.Roles), policy.Authenticated)
				if u.Disabled {
					fmt.Fprintf(e.stderr, "note: %s is disabled: the gateway refuses its logins and tokens, whatever the policy says\n", u.Email)
				}
			case subject == policy.Anonymous:
			case subject == policy.Authenticated:
				roles = []string{policy.Authenticated}
			default:
				roles = []string{subject, policy.Authenticated}
				if !slices.Contains(pol.Roles(), subject) {
					fmt.Fprintf(e.stderr, "note: no line of %s names the role %q\n", file, subject)
				}
			}
			if up := strings.ToUpper(method); up != method {
				fmt.Fprintf(e.stderr, "note: methods are case-sensitive: %q is not %q\n", method, up)
			}

			path, _, err := proxy.CheckTarget(target)
			if err != nil {
				fmt.Fprintf(e.stdout, "deny: the gateway refuses this path with 400 before the policy: %v\n", err)
				return &exitError{code: exitDenied, err: errDenied}
			}
			d := pol.Decide(roles, method, path)
			verdict := "deny"
			if d.Allow {
				verdict = "allow"
			}
			if d.Line > 0 {
				fmt.Fprintf(e.stdout, "%s: line %d: %s\n", verdict, d.Line, d.Rule)
			} else {
				fmt.Fprintf(e.stdout, "%s: %s\n", verdict, d.Reason)
			}
			if !d.Allow {
				return &exitError{code: exitDenied, err: errDenied}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "policy file (default: policy.file of the configuration)")
	return cmd
}

// lookupUser finds the user with email in the configured database, applying
// any pending migration first as every command that opens it does.
func lookupUser(ctx context.Context, cfg *config.Config, email string) (account.User, error) {
	db, err := database.Open(ctx, cfg.Storage.DatabaseURL)
	if err != nil {
		return account.User{}, err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return account.User{}, err
	}
	u, err := account.NewSQLStore(db).ByEmail(ctx, email)
	if errors.Is(err, account.ErrNotFound) {
		return u, fmt.Errorf("policy check: %w: %q", errNoSuchUser, email)
	}
	return u, err
}

func newPolicyValidateCommand(e *env, configFile *string) *cobra.Command {
	return &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a policy file: every problem with its line number, and warnings",
		Long: "validate reads FILE (default: policy.file of the configuration) as the gateway\n" +
			"would load it. Every problem is printed with its line number, and the exit\n" +
			"status is 1: the gateway refuses such a file whole (a running one keeps its\n" +
			"previous policy). Warnings (lines shadowed by others, role cycles, method\n" +
			"patterns wider than they look) are printed too, but the file is valid: exit 0.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var file string
			if len(args) == 1 {
				file = args[0]
			} else {
				cfg, err := config.Load(*configFile, e.environ)
				if err != nil {
					return err
				}
				file = cfg.Policy.File
			}
			warnings, err := policy.Validate(file)
			var pe *policy.ParseError
			if errors.As(err, &pe) {
				for _, p := range pe.Problems {
					if p.Line == 0 {
						fmt.Fprintf(e.stderr, "%s: error: %s\n", file, p.Msg)
						continue
					}
					fmt.Fprintf(e.stderr, "%s:%d: error: %s\n    %s\n", file, p.Line, p.Msg, p.Text)
				}
			}
			for _, w := range warnings {
				fmt.Fprintln(e.stderr, w)
			}
			switch {
			case pe != nil:
				return &exitError{code: 1, err: fmt.Errorf("%s is invalid (%s): the gateway would refuse it", file, count(len(pe.Problems), "problem"))}
			case err != nil:
				return err
			}
			pol, err := policy.Load(file)
			if err != nil {
				return err // changed since Validate read it
			}
			fmt.Fprintf(e.stdout, "%s: valid: %s, %s, %s\n", file, count(len(pol.Rules()), "p line"),
				count(len(pol.Roles()), "role"), count(len(warnings), "warning"))
			return nil
		},
	}
}

// count is "1 thing" or "N things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
