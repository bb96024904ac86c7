package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The gateway binary is built once per `go test` process and shared by the
// tests that run it as a subprocess (TestBinary, TestCLIBinary,
// TestReplicaProcesses): each build takes seconds on CI, and they all test
// the same source.
var gatewayBin struct {
	once sync.Once
	dir  string // removed by TestMain
	path string
	err  error
}

// TestMain removes the shared gateway binary after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if gatewayBin.dir != "" {
		_ = os.RemoveAll(gatewayBin.dir)
	}
	os.Exit(code)
}

// gatewayBinary returns the path of the gateway binary, building it on first
// use. It is built without -race even under `go test -race`: the binary is
// the system under test, not the test, and a race build is several times
// slower.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	gatewayBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "gateway-bin-")
		if err != nil {
			gatewayBin.err = err
			return
		}
		gatewayBin.dir = dir
		bin := filepath.Join(dir, "gateway")
		built := time.Now()
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			gatewayBin.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		t.Logf("go build took %v", time.Since(built).Round(time.Millisecond))
		gatewayBin.path = bin
	})
	if gatewayBin.err != nil {
		t.Fatal(gatewayBin.err)
	}
	return gatewayBin.path
}
