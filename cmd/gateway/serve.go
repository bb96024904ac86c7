package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/observe"
	"github.com/authgate/gateway/gateway/session"
)

func newServeCommand(e *env) *cobra.Command {
	var configFile string
	var configTest, skipMigrations bool
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
			return serve(cmd.Context(), cfg, !skipMigrations)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file (default ./gateway.yaml if present)")
	cmd.Flags().BoolVar(&configTest, "config-test", false, "load and validate the configuration, then exit")
	cmd.Flags().BoolVar(&skipMigrations, "skip-migrations", false, "do not apply database migrations at start-up (run `gateway migrate` instead)")
	return cmd
}

// serve builds the gateway from cfg and runs it until ctx is done.
func serve(ctx context.Context, cfg *config.Config, migrate bool) error {
	logger, err := observe.NewLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer logger.Sync() //nolint:errcheck // nothing to do if stderr is gone

	// Background work (the revocation feed, cleanups) ends with the
	// server, after the graceful drain.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	access, stopAccess, err := observe.NewAccessLogger(cfg.Log)
	if err != nil {
		return err
	}
	defer stopAccess() //nolint:errcheck // flushes the last access lines; nothing to do if stderr is gone
	a, err := build(bgCtx, cfg, logger, access, migrate)
	if err != nil {
		return err
	}
	defer a.close()
	for _, u := range cfg.Upstreams {
		logger.Info("upstream", zap.String("name", u.Name), zap.String("prefix", u.Prefix), zap.String("url", u.URL))
	}
	// Start-up leaves garbage the size of one password hash (the
	// argon2id reference hash: memory_kib, 19 MiB by default) plus the
	// migrations' and the policy compiler's. Left to the runtime, that
	// memory stays resident until its scavenger gets to it, minutes later;
	// handing it back now makes the serving process start at its real size.
	debug.FreeOSMemory()
	// Until the revocation view has replayed the feed it cannot tell a
	// revoked access token from a good one, and tokens get 503. On a
	// healthy start that takes milliseconds: wait for it before taking
	// traffic, so that the first requests are not refused for nothing. If
	// the feed is unreachable, serve anyway after viewStartWait: /readyz
	// says so, and tokens get 503 until it is back.
	waitForView(ctx, a.auth.View, viewStartWait)
	return a.server.ListenAndServe(ctx)
}

// viewStartWait bounds how long serve waits for the revocation view's
// replay before it listens.
const viewStartWait = 5 * time.Second

// waitForView returns once v has replayed its feed, within has passed or
// ctx is done, whichever comes first.
func waitForView(ctx context.Context, v *session.View, within time.Duration) {
	deadline := time.Now().Add(within)
	for !v.Ready() && ctx.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}
