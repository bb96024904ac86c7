package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/database"
)

func newMigrateCommand(e *env) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations (serve also does, unless --skip-migrations)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configFile, e.environ)
			if err != nil {
				return err
			}
			db, err := database.Open(cmd.Context(), cfg.Storage.DatabaseURL)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.Migrate(cmd.Context()); err != nil {
				return err
			}
			current, _, err := db.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "database %s at schema version %d\n", db, current)
			return nil
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file (default ./gateway.yaml if present)")
	return cmd
}
