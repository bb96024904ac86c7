package main

import (
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/authgate/gateway/internal/testenv"
)

// startProcess starts cmd, a server the test runs as a subprocess (a
// gateway replica, the FastAPI example), with its output captured, and
// waits until ready reports true. It fails t if cmd cannot start, exits
// before it is ready, or is not ready within 30 s. At t's cleanup the
// process gets SIGTERM, then SIGKILL after grace, and its output is logged
// if t failed. name identifies the process in those messages.
func startProcess(t *testing.T, name string, cmd *exec.Cmd, grace time.Duration, ready func() bool) *testenv.Buffer {
	t.Helper()
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		select {
		case <-exited:
			t.Fatalf("%s exited before it was ready:\n%s", name, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 30 s:\n%s", name, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return out
}

// answersOK returns a readiness check for startProcess: a GET of url with
// get answers 200.
func answersOK(get func(url string) (*http.Response, error), url string) func() bool {
	return func() bool {
		res, err := get(url)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}
}
