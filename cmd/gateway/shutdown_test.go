package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary runs the real gateway binary (gatewayBinary) as a
// subprocess, the way an operator or a container runtime does.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	bin := gatewayBinary(t)

	t.Run("graceful shutdown on SIGTERM", func(t *testing.T) { testGracefulShutdown(t, bin) })
	t.Run("config-test lists every problem", func(t *testing.T) { testConfigTest(t, bin) })
	t.Run("version", func(t *testing.T) {
		out, err := gatewayCommand(t, bin, t.TempDir(), "version").Output()
		if err != nil {
			t.Fatalf("gateway version: %v", err)
		}
		if !strings.HasPrefix(string(out), "gateway ") {
			t.Errorf("gateway version printed %q, want it to start with \"gateway \"", out)
		}
	})
}

// gatewayCommand runs the binary in dir with an environment free of
// GATEWAY_* variables, so that the test's configuration is the only one.
// A command that is not done after a minute is killed.
func gatewayCommand(t *testing.T, bin, dir string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// freeAddr returns a loopback address that nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func testGracefulShutdown(t *testing.T, bin string) {
	const hold = 1500 * time.Millisecond
	const shutdownTimeout = 10 * time.Second

	arrived := make(chan struct{}, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		arrived <- struct{}{}
		select {
		case <-time.After(hold):
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "slow answer")
	}))
	defer upstream.Close()

	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`server:
  addr: %q
  admin_addr: ""
  shutdown_timeout: %s
upstreams:
  - name: app
    prefix: /
    url: %q
    timeout: 5s
log:
  level: warn
`, addr, shutdownTimeout, upstream.URL)
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// Should start-up ever load the policy, everything is allowed here.
	if err := os.WriteFile(filepath.Join(dir, "policy.csv"), []byte("p, anonymous, /*, *\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := gatewayCommand(t, bin, dir, "serve", "--config", filepath.Join(dir, "gateway.yaml"))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("gateway output:\n%s", stderr.String())
		}
	}()

	// Wait until the gateway answers.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("gateway exited before it served: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not answer /healthz: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// One request in flight ...
	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := client.Get(base + "/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{resp.StatusCode, string(b), err}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the upstream")
	}

	// ... when the orchestrator asks the gateway to stop.
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New connections are refused while the old request is still served.
	refusedDuringDrain := false
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			// A connect that races the listener's close can be reset
			// rather than refused: either way nobody is accepting.
			if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("dial after SIGTERM: %v, want connection refused", err)
			}
			select {
			case r := <-inflight:
				inflight <- r // put back for the check below
			default:
				refusedDuringDrain = true
			}
			break
		}
		conn.Close()
		if time.Since(signalled) > shutdownTimeout {
			t.Fatal("the gateway still accepts connections long after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !refusedDuringDrain {
		t.Error("connections were refused only after the in-flight request had finished; want refusal as soon as shutdown starts")
	}

	select {
	case r := <-inflight:
		if r.err != nil || r.status != http.StatusOK || r.body != "slow answer" {
			t.Errorf("in-flight request: %d %q %v, want 200 \"slow answer\"", r.status, r.body, r.err)
		}
	case <-time.After(shutdownTimeout):
		t.Fatal("the in-flight request did not complete")
	}

	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("gateway exited with %v, want status 0", err)
		}
		t.Logf("exited %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
	case <-time.After(shutdownTimeout - time.Since(signalled) + time.Second):
		t.Fatalf("the gateway did not exit within shutdown_timeout (%v)", shutdownTimeout)
	}
}

func testConfigTest(t *testing.T, bin string) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	yaml := `server:
  addr: "127.0.0.1:0"
  shutdown_timout: 5s   # typo: unknown key
  idle_timeout: soon    # not a duration
upstreams:
  - name: app
    prefix: /
    url: http://127.0.0.1:8000
    retries: 3          # unknown key
`
	if err := os.WriteFile(bad, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := gatewayCommand(t, bin, dir, "serve", "--config-test", "--config", bad)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() == 0 {
		t.Fatalf("gateway serve --config-test with a bad file: %v, want a non-zero exit", err)
	}
	msg := stderr.String()
	for _, want := range []string{
		"server.shutdown_timout: unknown key",
		"upstreams[0].retries: unknown key",
		"server.idle_timeout",
		`"soon"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error output lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(stdout.String(), "configuration ok") {
		t.Errorf("stdout says %q for a bad file", stdout.String())
	}
}
