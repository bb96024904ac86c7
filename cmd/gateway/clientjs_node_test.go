package main

// Issue 9, client.js: its unit tests (gateway/ui/clientjs/test, node:test)
// run under the machine's Node.js against a real gateway started by the
// harness, with two registered users and a short access_ttl so that the
// transparent refresh is exercised.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
	"github.com/authgate/gateway/internal/testenv"
)

// clientJSTests is the directory of client.js's Node tests, from cmd/gateway.
var clientJSTests = filepath.Join("..", "..", "gateway", "ui", "clientjs", "test")

func TestClientJSNode(t *testing.T) {
	node := requireTool(t, "node", "Node.js 20 or later")
	d := newDeployment(t, backendSQLite)
	const accessTTL = 2 * time.Second
	gw := d.start(t, func(c *config.Config) { c.Tokens.AccessTTL = accessTTL })
	u1, u2 := gw.register(t, "carol"), gw.register(t, "dave")

	secrets := filepath.Join(t.TempDir(), "secrets")
	files, err := filepath.Glob(filepath.Join(clientJSTests, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.test.mjs in %s (%v)", clientJSTests, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(),
		"GATEWAY_URL="+gw.URL,
		"GATEWAY_USER_EMAIL="+u1.Email, "GATEWAY_USER_PASSWORD="+u1.Password,
		"GATEWAY_USER2_EMAIL="+u2.Email, "GATEWAY_USER2_PASSWORD="+u2.Password,
		"GATEWAY_SECRETS_FILE="+secrets,
		fmt.Sprintf("GATEWAY_ACCESS_TTL_SECONDS=%d", int(accessTTL/time.Second)),
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()

	// Every cookie value the tests saw is a token: none may be in a log
	// (checked at the deployment's cleanup).
	if b, err := os.ReadFile(secrets); err == nil {
		d.secret(strings.Fields(string(b))...)
	} else if runErr == nil {
		t.Errorf("the tests recorded no cookie: %v", err)
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("node --test did not finish within 2m:\n%s", out.Bytes())
	case runErr != nil:
		t.Fatalf("node --test: %v\n%s", runErr, out.Bytes())
	}
	t.Logf("node --test:\n%s", out.Bytes())
}

// requireTool returns the path of the program name, or skips t (fails it
// when GATEWAY_TEST_REQUIRE_SERVICES is set, as in CI) when it is missing.
func requireTool(t *testing.T, name, what string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Unavailable(t, fmt.Sprintf("%s (%s) is not on PATH", name, what))
	}
	return p
}
