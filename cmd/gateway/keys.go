package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/authgate/gateway/gateway/token"
)

func newKeysCommand(e *env) *cobra.Command {
	keys := &cobra.Command{
		Use:   "keys",
		Short: "Manage token signing keys",
	}
	var alg, out string
	generate := &cobra.Command{
		Use:   "generate --out DIR [--alg EdDSA|ES256|RS256]",
		Short: "Write a new signing key (PKCS#8 PEM, mode 0600) into DIR",
		Long: "generate writes a new private key into DIR under a name that sorts before\n" +
			"the older generated keys, so that it signs once the gateway restarts while\n" +
			"the older keys still verify the tokens they signed. To roll a key out to\n" +
			"several replicas without a window where one replica cannot verify another's\n" +
			"tokens, see the rotation steps in the README.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			path, kid, err := token.Generate(alg, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s (kid %s)\n", path, kid)
			return nil
		},
	}
	generate.Flags().StringVar(&alg, "alg", "EdDSA", "key algorithm: EdDSA, ES256 or RS256")
	generate.Flags().StringVar(&out, "out", "", "directory to write the key into (created 0700 if missing)")
	keys.AddCommand(generate)
	return keys
}
