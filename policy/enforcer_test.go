package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// reloadDeadline is SPEC section 7's promise.
const reloadDeadline = 2 * time.Second

const (
	policyA = "p, anonymous, /a, GET\n"
	policyB = "p, anonymous, /a, GET\np, anonymous, /b, GET\n"
)

type harness struct {
	t       *testing.T
	e       *Enforcer
	logs    *observer.ObservedLogs
	reloads atomic.Int64 // OnReload calls with a policy
	refused atomic.Int64 // OnReload calls with an error
}

// start creates an Enforcer over file and runs it until the test ends.
func start(t *testing.T, file string, notify bool) *harness {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	h := &harness{t: t, logs: logs}
	e, err := NewEnforcer(file, Options{
		Logger: zap.New(core),
		OnReload: func(p *Policy, err error) {
			if (p == nil) == (err == nil) {
				t.Errorf("OnReload(%v, %v)", p, err)
			}
			if err != nil {
				h.refused.Add(1)
			} else {
				h.reloads.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.disableNotify = !notify
	h.e = e
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	<-e.watching
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

func (h *harness) allows(path string) bool { return h.e.Decide(nil, "GET", path).Allow }

// within fails the test unless cond becomes true within d, and returns how
// long it took.
func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func writeFile(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEnforcerReloadsAnEdit(t *testing.T) {
	for _, notify := range []bool{true, false} {
		name := "inotify"
		if !notify {
			name = "polling only"
		}
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "policy.csv")
			writeFile(t, file, policyA)
			h := start(t, file, notify)
			if h.allows("/b") {
				t.Fatal("/b allowed before the edit")
			}
			writeFile(t, file, policyB) // in place, as an editor without a backup does
			took := within(t, reloadDeadline, "edit in force", func() bool { return h.allows("/b") })
			t.Logf("edit in force after %v", took)
			s := h.e.Stats()
			if s.Reloads != 1 || s.Failures != 0 || s.LastError != nil || s.Rules != 2 || time.Since(s.LoadedAt) > reloadDeadline {
				t.Errorf("stats %+v", s)
			}
			if h.reloads.Load() != 1 {
				t.Errorf("OnReload called %d times", h.reloads.Load())
			}
			if n := h.logs.FilterMessage("policy reloaded").Len(); n != 1 {
				t.Errorf("%d reload log lines", n)
			}
		})
	}
}

func TestEnforcerReloadsARenameOver(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.csv")
	writeFile(t, file, policyA)
	h := start(t, file, true)
	tmp := filepath.Join(dir, ".policy.csv.swp")
	writeFile(t, tmp, policyB)
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	within(t, reloadDeadline, "renamed file in force", func() bool { return h.allows("/b") })
}

func TestEnforcerKeepsThePolicyOnAnInvalidEdit(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.csv")
	writeFile(t, file, policyA)
	h := start(t, file, true)

	writeFile(t, file, "p, anonymous, /b, GET\np, anonymous, /c, (GET\nq, x\n")
	within(t, reloadDeadline, "refusal", func() bool { return h.e.Stats().Failures == 1 })
	s := h.e.Stats()
	var pe *ParseError
	if !errors.As(s.LastError, &pe) || len(pe.Problems) != 2 || pe.Problems[0].Line != 2 || pe.Problems[1].Line != 3 {
		t.Fatalf("LastError %v", s.LastError)
	}
	if !h.allows("/a") || h.allows("/b") {
		t.Error("the refused file changed the policy in force")
	}
	if s.Reloads != 0 || h.refused.Load() != 1 {
		t.Errorf("stats %+v, refused %d", s, h.refused.Load())
	}
	logged := h.logs.FilterMessage("policy reload refused; the previous policy stays in force").All()
	if len(logged) != 1 || logged[0].Level != zapcore.ErrorLevel ||
		!strings.Contains(logged[0].ContextMap()["error"].(string), "policy.csv:2: METHODS") {
		t.Fatalf("logged %+v", logged)
	}

	// The same bad content is not refused again on every poll.
	time.Sleep(1500 * time.Millisecond)
	if n := h.e.Stats().Failures; n != 1 {
		t.Errorf("%d failures for one bad edit", n)
	}

	// Fixing the file puts it in force and clears the error.
	writeFile(t, file, policyB)
	within(t, reloadDeadline, "fixed file in force", func() bool { return h.allows("/b") })
	if s := h.e.Stats(); s.LastError != nil || s.Reloads != 1 || s.Failures != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestEnforcerRevertToThePolicyInForce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.csv")
	writeFile(t, file, policyA)
	h := start(t, file, true)
	writeFile(t, file, "p, x\n")
	within(t, reloadDeadline, "refusal", func() bool { return h.e.Stats().LastError != nil })
	writeFile(t, file, policyA)
	within(t, reloadDeadline, "error cleared", func() bool { return h.e.Stats().LastError == nil })
	if s := h.e.Stats(); s.Reloads != 0 || s.Failures != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestEnforcerConfigMapSwap reproduces how the kubelet updates a ConfigMap
// volume: the data lives in a timestamped directory, "..data" is a symlink
// to it, and policy.csv is a symlink to "..data/policy.csv". An update
// writes a new directory, points "..data_tmp" at it, renames that over
// "..data" (atomic), and removes the old directory. The file the gateway
// names never changes: only the symlink two levels down does.
func TestEnforcerConfigMapSwap(t *testing.T) {
	for _, notify := range []bool{true, false} {
		t.Run(map[bool]string{true: "inotify", false: "polling only"}[notify], func(t *testing.T) {
			dir := t.TempDir()
			mkData := func(name, content string) {
				if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, name, "policy.csv"), content)
			}
			mkData("..2026_01_01_00_00_00.000000001", policyA)
			if err := os.Symlink("..2026_01_01_00_00_00.000000001", filepath.Join(dir, "..data")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("..data/policy.csv", filepath.Join(dir, "policy.csv")); err != nil {
				t.Fatal(err)
			}
			h := start(t, filepath.Join(dir, "policy.csv"), notify)

			mkData("..2026_01_01_00_05_00.000000002", policyB)
			if err := os.Symlink("..2026_01_01_00_05_00.000000002", filepath.Join(dir, "..data_tmp")); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_00.000000001")); err != nil {
				t.Fatal(err)
			}
			took := within(t, reloadDeadline, "swapped ConfigMap in force", func() bool { return h.allows("/b") })
			t.Logf("swap in force after %v", took)
			if s := h.e.Stats(); s.Reloads != 1 || s.Failures != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestEnforcerDeleteAndRecreate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.csv")
	writeFile(t, file, policyA)
	h := start(t, file, true)
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	within(t, reloadDeadline, "missing file refused", func() bool { return h.e.Stats().Failures == 1 })
	if err := h.e.Stats().LastError; !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LastError %v", err)
	}
	if !h.allows("/a") {
		t.Error("the policy in force was dropped with the file")
	}
	time.Sleep(1200 * time.Millisecond) // a poll or two: still one failure
	writeFile(t, file, policyB)
	within(t, reloadDeadline, "recreated file in force", func() bool { return h.allows("/b") })
	if s := h.e.Stats(); s.Failures != 1 || s.Reloads != 1 || s.LastError != nil {
		t.Errorf("stats %+v", s)
	}
}

func TestEnforcerIgnoresUnchangedContent(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.csv")
	writeFile(t, file, policyA)
	h := start(t, file, true)
	writeFile(t, file, policyA)                                // same bytes
	writeFile(t, filepath.Join(dir, "other.txt"), "unrelated") // same directory
	time.Sleep(1200 * time.Millisecond)
	if s := h.e.Stats(); s.Reloads != 0 || s.Failures != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestEnforcerDecideDuringReloads(t *testing.T) {
	// Run with -race: Decide reads while reloads swap.
	file := filepath.Join(t.TempDir(), "policy.csv")
	writeFile(t, file, policyA)
	e, err := NewEnforcer(file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !e.Decide([]string{"user", Authenticated}, "GET", "/a").Allow {
					t.Error("/a denied during a reload")
					return
				}
			}
		}()
	}
	for i := range 20 {
		content := policyA
		if i%2 == 0 {
			content = policyB
		}
		writeFile(t, file, content)
		if err := e.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if s := e.Stats(); s.Reloads != 20 {
		t.Errorf("stats %+v", s)
	}
}

func TestNewEnforcerRefusesAnInvalidFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.csv")
	writeFile(t, file, "p, a, /x, GET\ng, a\n")
	_, err := NewEnforcer(file, Options{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), file+":2: g line has 1 fields") {
		t.Fatalf("got %v", err)
	}
	if _, err := NewEnforcer(filepath.Join(t.TempDir(), "missing.csv"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestEnforcerRunWithoutDirectory(t *testing.T) {
	// The directory disappears: Run falls back to polling and keeps going.
	dir := filepath.Join(t.TempDir(), "conf")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "policy.csv")
	writeFile(t, file, policyA)
	e, err := NewEnforcer(file, Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	within(t, reloadDeadline, "missing file refused", func() bool { return e.Stats().Failures == 1 })
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, file, policyB)
	within(t, reloadDeadline, "recreated file in force", func() bool { return e.Decide(nil, "GET", "/b").Allow })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
