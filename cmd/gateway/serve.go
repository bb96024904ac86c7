package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway"
	"github.com/authgate/gateway/gateway/observe"
)

func newServeCommand(e *env) *cobra.Command {
	var configFile string
	var configTest bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configFile, e.environ)
			if err != nil {
				return err
			}
			if configTest {
				fmt.Fprintln(e.stdout, "configuration ok")
				return nil
			}
			return serve(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file (default ./gateway.yaml if present)")
	cmd.Flags().BoolVar(&configTest, "config-test", false, "load and validate the configuration, then exit")
	return cmd
}

// serve builds the gateway from cfg and runs it until ctx is done.
func serve(ctx context.Context, cfg *config.Config) error {
	logger, err := observe.NewLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer logger.Sync() //nolint:errcheck // nothing to do if stderr is gone

	srv, err := gateway.New(gateway.Options{Config: cfg, Logger: logger})
	if err != nil {
		return err
	}
	for _, u := range cfg.Upstreams {
		logger.Info("upstream", zap.String("name", u.Name), zap.String("prefix", u.Prefix), zap.String("url", u.URL))
	}
	return srv.ListenAndServe(ctx)
}
