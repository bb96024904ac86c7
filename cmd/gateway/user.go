package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	osuser "os/user"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authgate/gateway/gateway/account"
	"github.com/authgate/gateway/gateway/problem"
)

// The user commands act on accounts in the configured database through
// auth.Service, as the admin API does: the same checks (email, password
// strength, role names), the same audit events (on standard error, with
// actor_id "cli:<OS user>"), and role changes and disabling published on
// the revocation feed, so that every running gateway refuses the user's
// old access tokens within a second.

func newUserCommand(e *env) *cobra.Command {
	var configFile string
	user := &cobra.Command{
		Use:   "user",
		Short: "Create, list, change and disable accounts in the configured database",
		Long: "The user commands act on the database of the configuration (--config FILE,\n" +
			"else ./gateway.yaml, then GATEWAY_* variables, as serve reads it), applying\n" +
			"any pending migration first. Changes reach running gateways within a second.\n" +
			"ID is a user's id, or their email address.",
	}
	user.PersistentFlags().StringVar(&configFile, "config", "", "YAML configuration file (default ./gateway.yaml if present)")
	user.AddCommand(
		newUserCreateCommand(e, &configFile),
		newUserListCommand(e, &configFile),
		newUserSetRolesCommand(e, &configFile),
		newUserDisableCommand(e, &configFile, true),
		newUserDisableCommand(e, &configFile, false),
	)
	return user
}

func newUserCreateCommand(e *env, configFile *string) *cobra.Command {
	var email, name string
	var roles []string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "create --email E [--role R ...] [--name N] [--password-stdin]",
		Short: "Create an account",
		Long: "create adds an account with the given roles (registration.default_roles when\n" +
			"no --role is given). With --password-stdin the password is the first line of\n" +
			"standard input, its line ending (\\n or \\r\\n) dropped; without it the account\n" +
			"has no password until its owner sets one through a password reset.\n\n" +
			"The first administrator of a fresh install:\n\n" +
			"  printf '%s\\n' \"$ADMIN_PASSWORD\" | gateway user create --email admin@example.com --role admin --password-stdin",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw := ""
			if passwordStdin {
				var err error
				if pw, err = readPasswordLine(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			var rs []string // nil: the default roles
			if cmd.Flags().Changed("role") {
				rs = append([]string{}, roles...)
			}
			ctx := cmd.Context()
			_, c, err := e.commandCore(ctx, *configFile)
			if err != nil {
				return err
			}
			defer c.close()
			u, err := c.auth.CreateUser(ctx, cliActor(), email, pw, name, rs)
			if err != nil {
				return commandError("user create", err)
			}
			fmt.Fprintf(e.stdout, "created user %s (%s, roles: %s)\n", u.ID, u.Email, roleList(u.Roles))
			if pw == "" {
				fmt.Fprintln(e.stderr, "note: the account has no password: its owner sets one with a password reset (/auth/password/forgot)")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "the account's email address (required)")
	cmd.Flags().StringSliceVar(&roles, "role", nil, "a role to give (repeatable, or comma-separated); default registration.default_roles")
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

// maxPasswordLine bounds what --password-stdin reads: far above any
// passwords.max_length, which the password rules then enforce.
const maxPasswordLine = 64 << 10

// readPasswordLine reads the first line of r and drops its line ending
// ("\n" or "\r\n"; a last line without one is taken as it is). An empty
// line is refused: an account without a password is made by leaving out
// --password-stdin, not by accident. A terminal is refused too, since
// what is typed there is echoed: the flag is for a pipe or a file.
func readPasswordLine(r io.Reader) (string, error) {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return "", errors.New("--password-stdin: standard input is a terminal, which would echo the password; " +
				"pipe it in instead, e.g. read -rs PW && printf '%s\\n' \"$PW\" | gateway user create ... --password-stdin")
		}
	}
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordLine+1)).ReadString('\n')
	switch {
	case err == nil:
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	case errors.Is(err, io.EOF) && len(line) > maxPasswordLine:
		return "", fmt.Errorf("--password-stdin: the first line is longer than %d bytes", maxPasswordLine)
	case errors.Is(err, io.EOF):
		// The last line of the input, without a line ending.
	default:
		return "", fmt.Errorf("--password-stdin: reading standard input: %w", err)
	}
	if line == "" {
		return "", errors.New("--password-stdin: the first line of standard input is empty (leave out --password-stdin to create an account without a password)")
	}
	return line, nil
}

func newUserListCommand(e *env, configFile *string) *cobra.Command {
	var pageSize int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every account: id, email, roles, disabled, created",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			_, c, err := e.commandCore(ctx, *configFile)
			if err != nil {
				return err
			}
			defer c.close()
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEMAIL\tROLES\tDISABLED\tCREATED")
			n := 0
			for q := (account.Query{Limit: pageSize}); ; {
				users, next, err := c.users.List(ctx, q)
				if err != nil {
					return fmt.Errorf("user list: %w", err)
				}
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, roleList(u.Roles), yesNo(u.Disabled), u.CreatedAt.UTC().Format(time.RFC3339))
					n++
				}
				if next == "" {
					break
				}
				q.Cursor = next
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintln(e.stderr, "no accounts yet: create one with gateway user create --email E")
			}
			return nil
		},
	}
	// For tests of the paging; the largest page is the fastest.
	cmd.Flags().IntVar(&pageSize, "page-size", account.MaxListLimit, "accounts read per database query")
	_ = cmd.Flags().MarkHidden("page-size")
	return cmd
}

func newUserSetRolesCommand(e *env, configFile *string) *cobra.Command {
	var none bool
	cmd := &cobra.Command{
		Use:   "set-roles ID ROLE... | set-roles --none ID",
		Short: "Replace an account's roles",
		Long: "set-roles replaces the account's roles with the ROLEs given. Its access tokens\n" +
			"that carry the old roles are refused by every gateway within a second; clients\n" +
			"refresh and get the new ones. Removing every role takes --none, so that a\n" +
			"forgotten argument cannot strip an account (which keeps the built-in\n" +
			"\"authenticated\" role).",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, roles := args[0], args[1:]
			switch {
			case none && len(roles) > 0:
				return errors.New("user set-roles: --none removes every role: give no ROLE with it")
			case !none && len(roles) == 0:
				return errors.New("user set-roles: give the new roles after the ID (to remove every role, use --none)")
			}
			roles = append([]string{}, roles...) // never nil: no roles at all
			ctx := cmd.Context()
			_, c, err := e.commandCore(ctx, *configFile)
			if err != nil {
				return err
			}
			defer c.close()
			before, err := c.findUser(ctx, ref)
			if err != nil {
				return commandError("user set-roles", err)
			}
			u, err := c.auth.SetRoles(ctx, cliActor(), before.ID, roles)
			if err != nil {
				return commandError("user set-roles", err)
			}
			fmt.Fprintf(e.stdout, "user %s (%s): roles %s (were %s)\n", u.ID, u.Email, roleList(u.Roles), roleList(before.Roles))
			return nil
		},
	}
	cmd.Flags().BoolVar(&none, "none", false, "remove every role")
	return cmd
}

// newUserDisableCommand returns `user disable` (disable true) or `user
// enable`.
func newUserDisableCommand(e *env, configFile *string, disable bool) *cobra.Command {
	verb, short := "enable", "Let a disabled account log in again"
	if disable {
		verb, short = "disable", "Refuse an account's logins and end its sessions everywhere"
	}
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, c, err := e.commandCore(ctx, *configFile)
			if err != nil {
				return err
			}
			defer c.close()
			u, err := c.findUser(ctx, args[0])
			if err != nil {
				return commandError("user "+verb, err)
			}
			// Also when the account already is in that state: disabling
			// twice ends any session made meanwhile, enabling twice is
			// harmless.
			if u, err = c.auth.SetDisabled(ctx, cliActor(), u.ID, disable); err != nil {
				return commandError("user "+verb, err)
			}
			if disable {
				fmt.Fprintf(e.stdout, "disabled user %s (%s): its sessions are ended and every gateway refuses its access tokens within a second\n", u.ID, u.Email)
			} else {
				fmt.Fprintf(e.stdout, "enabled user %s (%s)\n", u.ID, u.Email)
			}
			return nil
		},
	}
}

// errNoSuchUser is what findUser answers for an unknown id or email.
var errNoSuchUser = errors.New("no such user")

// findUser finds a user by id, or by email when ref contains an "@" (ids
// are UUIDs).
func (c *core) findUser(ctx context.Context, ref string) (account.User, error) {
	var u account.User
	var err error
	if strings.Contains(ref, "@") {
		u, err = c.users.ByEmail(ctx, ref)
	} else {
		u, err = c.users.ByID(ctx, ref)
	}
	if errors.Is(err, account.ErrNotFound) {
		return u, fmt.Errorf("%w: %q", errNoSuchUser, ref)
	}
	return u, err
}

// commandError turns the service's answer into a message for an operator:
// the fields and what is wrong with them for a refused input, the cause for
// a technical failure (which the HTTP API logs rather than tells).
func commandError(verb string, err error) error {
	p := problem.As(err)
	if p == nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	msg := p.Detail
	if len(p.Errors) > 0 {
		var parts []string
		for _, field := range slices.Sorted(maps.Keys(p.Errors)) {
			if field == "roles" { // the message names them already
				parts = append(parts, p.Errors[field])
				continue
			}
			parts = append(parts, field+" "+p.Errors[field])
		}
		msg = strings.Join(parts, "; ")
	}
	if p.Err != nil {
		return fmt.Errorf("%s: %s: %w", verb, msg, p.Err)
	}
	return fmt.Errorf("%s: %s", verb, msg)
}

// cliActor names the operator in the audit log: "cli:" and the OS user.
func cliActor() string {
	if u, err := osuser.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

func roleList(roles []string) string {
	if len(roles) == 0 {
		return "none"
	}
	return strings.Join(roles, ",")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
