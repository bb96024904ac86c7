package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/gateway/whoami"
)

func newDemoCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the gateway in front of a built-in whoami upstream (the quick start)",
		Long: "demo starts the gateway with the built-in defaults in front of a \"whoami\"\n" +
			"upstream that answers every request with the method, path and headers it\n" +
			"received, so you can see what an upstream behind the gateway is told.\n" +
			"Cookies are not marked Secure, so that plain http://localhost works. Its\n" +
			"policy makes / public and everything else need a login.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			up := &http.Server{Handler: whoami.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				if err := up.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					fmt.Fprintln(e.stderr, "whoami:", err)
				}
			}()
			defer up.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // best effort at exit

			policyFile := filepath.Join(os.TempDir(), fmt.Sprintf("gateway-demo-policy-%d.csv", os.Getpid()))
			if err := os.WriteFile(policyFile, []byte(demoPolicy), 0o600); err != nil {
				return err
			}
			defer os.Remove(policyFile)

			env := append([]string{
				"GATEWAY_UPSTREAMS=" + fmt.Sprintf(`[{"name":"whoami","prefix":"/","url":"http://%s"}]`, ln.Addr()),
				"GATEWAY_POLICY_FILE=" + policyFile,
				"GATEWAY_COOKIES_SECURE=false",
				"GATEWAY_LOG_FORMAT=console",
			}, e.environ...) // the user's own GATEWAY_* settings win
			cfg, err := config.Load("", env)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "gateway demo: open http://localhost%s/ (whoami upstream on %s)\n", displayPort(cfg.Server.Addr), ln.Addr())
			return serve(ctx, cfg, true)
		},
	}
}

// demoPolicy makes the whoami page public and everything else need a login.
const demoPolicy = `# gateway demo: the front page is public, the rest needs a login.
p, anonymous,     /,              GET
p, authenticated, /*,             *
p, admin,         /auth/admin/*,  *
`

func displayPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return ":" + port
}
