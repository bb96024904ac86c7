package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newRootCommand(stdout, stderr io.Writer, environ []string) *cobra.Command {
	e := &env{stdout: stdout, stderr: stderr, environ: environ}
	root := &cobra.Command{
		Use:           "gateway",
		Short:         "Authentication gateway: login, tokens and role-based access in front of your API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServeCommand(e),
		newDemoCommand(e),
		newMigrateCommand(e),
		newUserCommand(e),
		newPolicyCommand(e),
		newKeysCommand(e),
		newVersionCommand(e),
		newHealthcheckCommand(e),
	)
	return root
}
