package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is one process the harness started and must stop.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser // closing it tells our own subcommands to exit
	log   string         // file with the child's stdout and stderr
	done  chan struct{}  // closed when the process has exited
	err   error          // Wait's result, valid after done
}

// children tracks every started process so that all of them are stopped on
// every exit path (normal end, error, SIGINT/SIGTERM).
type children struct {
	mu    sync.Mutex
	procs []*child
}

// start launches name with args, writing its output to logPath. The child
// gets its own process group (a terminal's ^C reaches only the harness, which
// then stops the children in order) and is killed by the kernel if the
// harness dies without cleaning up.
func (cs *children) start(name, dir, logPath string, env []string, bin string, args ...string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, log: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	cs.mu.Lock()
	cs.procs = append(cs.procs, c)
	cs.mu.Unlock()
	return c, nil
}

// stopAll asks every child to stop (SIGTERM, stdin closed), waits up to
// grace, then kills what is left. It is safe to call more than once.
func (cs *children) stopAll(grace time.Duration) {
	cs.mu.Lock()
	procs := cs.procs
	cs.procs = nil
	cs.mu.Unlock()
	for _, c := range procs {
		_ = c.stdin.Close()
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(grace)
	for _, c := range procs {
		select {
		case <-c.done:
		case <-deadline:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// waitReady polls url until it answers 200, the child exits, or timeout.
func (c *child) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if c.exited() {
			return fmt.Errorf("%s exited during start-up (%v); its log:\n%s", c.name, c.err, tail(c.log, 30))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready at %s after %s (last: %v); its log:\n%s", c.name, url, timeout, last, tail(c.log, 30))
}

// memory is a process's resident set size now and at its peak, in bytes,
// and the two main parts of RSS now: anonymous memory (heap, stacks) and
// pages of mapped files (above all the program's own executable, which a
// larger binary has more of).
type memory struct{ RSS, HWM, Anon, File int64 }

// readMemory reads VmRSS, VmHWM, RssAnon and RssFile from /proc/PID/status.
func readMemory(pid int) (memory, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		dst := map[string]*int64{"VmRSS": &m.RSS, "VmHWM": &m.HWM, "RssAnon": &m.Anon, "RssFile": &m.File}[key]
		if !ok || dst == nil {
			continue
		}
		fields := strings.Fields(val) // "12345 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return memory{}, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, key, val)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return memory{}, err
		}
		*dst = kb << 10
	}
	if m.RSS == 0 {
		return memory{}, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return m, sc.Err()
}

// readCPU returns the user+system CPU time pid has used, from
// /proc/PID/stat (in USER_HZ ticks, which Linux fixes at 100 per second for
// user space).
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	const userHZ = 100
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// freeLoopbackAddr returns a currently free 127.0.0.1 port. The gateway
// takes its address from configuration, so the port is chosen here and
// released just before the child binds it.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit. Calling
// Setrlimit explicitly also makes the children (wrk, the servers) inherit the
// raised limit: otherwise os/exec restores the original soft limit for them.
// It returns the resulting soft limit and a warning when it is below need.
func raiseFileLimit(need uint64) (uint64, string) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Sprintf("warning: cannot read the file-descriptor limit: %v", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		if lim.Cur < need {
			return lim.Cur, fmt.Sprintf("warning: cannot raise the file-descriptor limit (%v); it is %d, c=1000 needs about %d: expect socket errors", err, lim.Cur, need)
		}
		return lim.Cur, ""
	}
	if lim.Cur < need {
		return lim.Cur, fmt.Sprintf("warning: the hard file-descriptor limit is %d, the largest -c needs about %d: expect socket errors (raise it with `ulimit -Hn` as root)", lim.Cur, need)
	}
	return lim.Cur, ""
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// fileSize is the size of path, 0 if it cannot be read.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

var errInterrupted = errors.New("interrupted")
