package testenv

// Private servers: a redis-server and a PostgreSQL cluster of the test's
// own, on free loopback ports, that the test may stop and start again on
// the same port (to take a dependency away and bring it back). The shared
// servers of PostgresURL and RedisAddr are never touched.
//
// When redis-server, or initdb/pg_ctl (looked up in
// /usr/lib/postgresql/*/bin, then on PATH), is missing the test is skipped,
// or fails when GATEWAY_TEST_REQUIRE_SERVICES is set.
//
// initdb and postgres refuse to run as root: under root they are run as
// the "postgres" OS user (runuser, else setpriv), in a directory of
// os.TempDir() chowned to it (t.TempDir() is not reachable by that user).
//
// The servers are stopped and their files removed at t's cleanup. A test
// binary that is killed (a -timeout panic) skips cleanups, and the servers
// outlive it: after such a run, look for redis-server and postgres
// processes, and for gwtest-pg-* directories in os.TempDir().

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// privateStartTimeout bounds how long a private server may take to accept
// connections after being started.
const privateStartTimeout = 15 * time.Second

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a moment
// ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// PrivateRedis is a redis-server process of one test (no persistence: data
// written before Stop is gone after Start).
type PrivateRedis struct {
	t   testing.TB
	bin string
	dir string
	// Addr is host:port, the same across Stop and Start.
	Addr string

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed when cmd has exited
	out    *Buffer
}

// StartRedis starts a private redis-server on a free port and waits until
// it answers PING. It is stopped at t's cleanup.
func StartRedis(t testing.TB) *PrivateRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server", err)
		return nil
	}
	r := &PrivateRedis{
		t:    t,
		bin:  bin,
		dir:  t.TempDir(),
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t))),
	}
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// URL is the redis:// URL of the server.
func (r *PrivateRedis) URL() string { return "redis://" + r.Addr }

// Start starts the server again on its port (a no-op while it runs) and
// waits until it answers PING.
func (r *PrivateRedis) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	_, port, _ := net.SplitHostPort(r.Addr)
	cmd := exec.Command(r.bin,
		"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", r.dir, "--loglevel", "warning")
	r.out = &Buffer{}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("testenv: start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r.cmd, r.exited = cmd, exited

	client := redis.NewClient(&redis.Options{Addr: r.Addr, DialTimeout: time.Second, MaxRetries: -1})
	defer client.Close()
	deadline := time.Now().Add(privateStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := client.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-exited:
			r.cmd = nil
			r.t.Fatalf("testenv: redis-server on %s exited at start: %s", r.Addr, strings.TrimSpace(r.out.String()))
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("testenv: redis-server on %s does not answer after %v: %v\n%s", r.Addr, privateStartTimeout, err, strings.TrimSpace(r.out.String()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the server (as a crash would) and waits until it has exited,
// so that its port no longer accepts connections. A no-op when stopped.
func (r *PrivateRedis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// PrivatePostgres is a PostgreSQL cluster of one test, made by initdb
// (trust authentication, superuser "postgres") and run by pg_ctl.
type PrivatePostgres struct {
	t      testing.TB
	bin    string   // the directory of initdb, pg_ctl
	asUser []string // the command prefix that runs a program as the postgres user, or nil
	dir    string   // the cluster's own directory: data/, the socket, the log
	Port   int

	mu      sync.Mutex
	running bool
}

// StartPostgres creates a cluster in a fresh directory, starts it on a free
// port and waits until it accepts connections. It is stopped and removed at
// t's cleanup.
func StartPostgres(t testing.TB) *PrivatePostgres {
	t.Helper()
	bin, err := postgresBinDir()
	if err != nil {
		missing(t, "initdb and pg_ctl (in /usr/lib/postgresql/*/bin or on PATH)", err)
		return nil
	}
	p := &PrivatePostgres{t: t, bin: bin, Port: FreePort(t)}

	// As root, run as the postgres user in a directory it owns.
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(t, "the postgres OS user (initdb refuses to run as root)", err)
			return nil
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		switch {
		case lookPath("runuser") != "":
			p.asUser = []string{lookPath("runuser"), "-u", "postgres", "--"}
		case lookPath("setpriv") != "":
			p.asUser = []string{lookPath("setpriv"), "--reuid=" + u.Uid, "--regid=" + u.Gid, "--clear-groups", "--"}
		default:
			missing(t, "runuser or setpriv (to run initdb as postgres, not root)", errors.New("not on PATH"))
			return nil
		}
	}
	p.dir, err = os.MkdirTemp("", "gwtest-pg-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		p.Stop()
		if err := os.RemoveAll(p.dir); err != nil {
			t.Errorf("testenv: remove %s: %v", p.dir, err)
		}
	})
	if uid >= 0 {
		if err := os.Chown(p.dir, uid, gid); err != nil {
			t.Fatalf("testenv: chown %s to postgres: %v", p.dir, err)
		}
	}

	if out, err := p.run("initdb", "-D", p.dataDir(), "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	p.Start()
	return p
}

// URL is a connection URL of the cluster's "postgres" database.
func (p *PrivatePostgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
}

// Start starts the server on its port (a no-op while it runs) and waits
// until a connection succeeds.
func (p *PrivatePostgres) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off",
		p.Port, p.dir)
	if out, err := p.run("pg_ctl", "-D", p.dataDir(), "-l", p.logFile(), "-o", opts,
		"-w", "-t", strconv.Itoa(int(privateStartTimeout/time.Second)), "start"); err != nil {
		p.t.Fatalf("testenv: pg_ctl start: %v\n%s\n%s", err, out, p.log())
	}
	p.running = true
	deadline := time.Now().Add(privateStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, p.URL())
		if err == nil {
			conn.Close(ctx)
			cancel()
			return
		}
		cancel()
		if time.Now().After(deadline) {
			p.t.Fatalf("testenv: PostgreSQL on port %d refuses connections after %v: %v\n%s", p.Port, privateStartTimeout, err, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts the server down (fast mode: sessions are ended, as when a
// database is taken away) and waits until it has. A no-op when stopped.
func (p *PrivatePostgres) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return
	}
	if out, err := p.run("pg_ctl", "-D", p.dataDir(), "-m", "fast", "-w", "stop"); err != nil {
		// Cleanup calls Stop too: Errorf, not Fatalf.
		p.t.Errorf("testenv: pg_ctl stop: %v\n%s\n%s", err, out, p.log())
		return
	}
	p.running = false
}

func (p *PrivatePostgres) dataDir() string { return filepath.Join(p.dir, "data") }
func (p *PrivatePostgres) logFile() string { return filepath.Join(p.dir, "postgres.log") }

// log returns the end of the server's log, for failure messages.
func (p *PrivatePostgres) log() string {
	b, _ := os.ReadFile(p.logFile())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// run runs a program of the PostgreSQL installation (as the postgres user
// under root) in the cluster's directory and returns its output.
func (p *PrivatePostgres) run(program string, args ...string) (string, error) {
	argv := append(slices.Clone(p.asUser), filepath.Join(p.bin, program))
	argv = append(argv, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*privateStartTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = p.dir
	// The server started by pg_ctl writes to the log file (-l), not to
	// these pipes, so CombinedOutput does not wait for it.
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// postgresBinDir returns the directory holding initdb and pg_ctl: the
// newest /usr/lib/postgresql/N/bin (Debian, Ubuntu), else the PATH's.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return "", err
	}
	d := filepath.Dir(initdb)
	if !isExecutable(filepath.Join(d, "pg_ctl")) {
		return "", fmt.Errorf("no pg_ctl beside %s", initdb)
	}
	return d, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func lookPath(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return p
}

// missing skips t for want of what, or fails it when services are required.
func missing(t testing.TB, what string, err error) {
	t.Helper()
	if RequireServices() {
		t.Fatalf("testenv: %s not found and %s is set: %v", what, EnvRequireServices, err)
	}
	t.Skipf("testenv: %s not found, skipping (set %s to make this a failure): %v", what, EnvRequireServices, err)
}
