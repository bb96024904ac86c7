package main

// Three gateway processes, the real binary, on loopback, sharing PostgreSQL,
// Redis, the keys directory and the policy file, as replicas behind a load
// balancer do (issue 8). What one replica is told must hold on the others:
// revocations within a second (SPEC 5), role changes within a second, the
// abuse limits counted once for all, and a policy change on every replica.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/gateway/internal/testenv"
)

// replicaPolicy is the shared policy.csv: /edit needs the editor role.
const replicaPolicy = `p, authenticated, /api/*, *
p, editor, /edit/*, *
p, admin, /auth/admin/*, *
`

// replicaProc is one gateway process.
type replicaProc struct {
	name string
	url  string
	hc   *http.Client
}

// replicaSet is the shared deployment of the processes.
type replicaSet struct {
	t      *testing.T
	bin    string
	dir    string // the working directory: policy.csv, keys/
	policy string
	upURL  string
	pgURL  string
	redis  string
	prefix string
}

// config writes the configuration of a replica listening on addr and
// returns its path.
func (rs *replicaSet) config(name, addr string) string {
	rs.t.Helper()
	yaml := fmt.Sprintf(`server:
  addr: %q
  admin_addr: ""
  shutdown_timeout: 5s
  # The test sends X-Forwarded-For to act as many clients from one host.
  trusted_proxies: ["127.0.0.1/32"]
upstreams:
  - name: app
    prefix: /
    url: %q
    timeout: 5s
storage:
  database_url: %q
  sessions: redis
  redis:
    url: %q
    key_prefix: %q
tokens:
  keys_dir: %q
cookies:
  secure: false
passwords:
  memory_kib: 1024
  iterations: 1
  max_concurrent: 8
  max_wait: 10s
rate_limits:
  login_per_ip: {limit: 3, window: 1m}
  login_per_account: {limit: 1000, window: 1m}
  login_per_account_ip: {limit: 1000, window: 1m}
  register_per_ip: {limit: 1000, window: 1m}
policy:
  file: %q
  watch: true
log:
  level: warn
`, addr, rs.upURL, rs.pgURL, "redis://"+rs.redis, rs.prefix, filepath.Join(rs.dir, "keys"), rs.policy)
	file := filepath.Join(rs.dir, name+".yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		rs.t.Fatal(err)
	}
	return file
}

// start runs a replica and waits until it is ready. It is stopped (SIGTERM)
// at the end of the test.
func (rs *replicaSet) start(name string) *replicaProc {
	t := rs.t
	t.Helper()
	addr := freeAddr(t)
	cmd := gatewayCommand(t, rs.bin, rs.dir, "serve", "--config", rs.config(name, addr))
	p := &replicaProc{name: name, url: "http://" + addr, hc: newHTTPClient(nil)}
	startProcess(t, "replica "+name, cmd, 10*time.Second, answersOK(p.hc.Get, p.url+"/readyz"))
	return p
}

// call is one request to a replica, from the client address ip (sent as
// X-Forwarded-For; the replicas trust loopback).
type call struct {
	method, path, bearer, ip string
	json                     any
	client                   *http.Client
}

func (p *replicaProc) do(t *testing.T, c call) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if c.json != nil {
		b, err := json.Marshal(c.json)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(c.method, p.url+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.json != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.ip != "" {
		req.Header.Set("X-Forwarded-For", c.ip)
	}
	hc := p.hc
	if c.client != nil {
		hc = c.client
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", p.name, c.method, c.path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m
}

// want fails t unless the call is answered with status.
func (p *replicaProc) want(t *testing.T, c call, status int) map[string]any {
	t.Helper()
	got, m := p.do(t, c)
	if got != status {
		t.Fatalf("%s: %s %s: status %d, want %d (%v)", p.name, c.method, c.path, got, status, m)
	}
	return m
}

// ipCounter hands out a fresh client address per login, so that only the
// rate-limit check counts against one address's login_per_ip.
type ipCounter struct {
	mu sync.Mutex
	n  int
}

func (c *ipCounter) next() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return fmt.Sprintf("10.1.%d.%d", c.n/250, c.n%250+1)
}

// pollUntil polls cond every 10 ms and returns how long after since it
// held; it fails t once within has passed since since.
func pollUntil(t *testing.T, since time.Time, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	for !cond() {
		if time.Since(since) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(since)
}

func TestReplicaProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway binary and runs three processes")
	}
	rs := &replicaSet{t: t, dir: t.TempDir()}
	rs.pgURL = testenv.PostgresURL(t)
	rs.redis, rs.prefix = testenv.RedisAddr(t)
	rs.bin = gatewayBinary(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream ok")
	}))
	defer up.Close()
	rs.upURL = up.URL
	rs.policy = filepath.Join(rs.dir, "policy.csv")
	if err := os.WriteFile(rs.policy, []byte(replicaPolicy), 0o600); err != nil {
		t.Fatal(err)
	}

	// A first, alone: it migrates the database and generates the signing
	// key that B and C then load.
	a := rs.start("A")
	b, c := rs.start("B"), rs.start("C")
	all := []*replicaProc{a, b, c}

	// The administrator, created with the CLI on the shared database.
	adminPW := newPassword(t)
	create := gatewayCommand(t, rs.bin, rs.dir, "user", "create", "--config", filepath.Join(rs.dir, "A.yaml"),
		"--email", "root@example.com", "--role", "admin", "--password-stdin")
	create.Stdin = strings.NewReader(adminPW + "\n")
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("gateway user create: %v\n%s", err, out)
	}

	ips := &ipCounter{}
	register := func(p *replicaProc, local string) (id, email, pw string) {
		t.Helper()
		email, pw = local+"-"+randomHex(t, 4)+"@example.com", newPassword(t)
		m := p.want(t, call{method: http.MethodPost, path: "/auth/register", ip: ips.next(),
			json: map[string]any{"email": email, "password": pw}}, http.StatusCreated)
		return m["user"].(map[string]any)["id"].(string), email, pw
	}
	login := func(p *replicaProc, email, pw string) (access, refresh string) {
		t.Helper()
		m := p.want(t, call{method: http.MethodPost, path: "/auth/login", ip: ips.next(),
			json: map[string]any{"email": email, "password": pw}}, http.StatusOK)
		return m["access_token"].(string), m["refresh_token"].(string)
	}

	t.Run("login on A, refresh on B, logout on C", func(t *testing.T) {
		_, email, pw := register(a, "rita")
		access1, refresh1 := login(a, email, pw)
		for _, p := range all {
			p.want(t, call{method: http.MethodGet, path: "/api/warm", bearer: access1}, http.StatusOK)
		}
		m := b.want(t, call{method: http.MethodPost, path: "/auth/refresh", json: map[string]any{"refresh_token": refresh1}}, http.StatusOK)
		access2 := m["access_token"].(string)
		for _, p := range all {
			p.want(t, call{method: http.MethodGet, path: "/api/warm2", bearer: access2}, http.StatusOK)
		}
		c.want(t, call{method: http.MethodPost, path: "/auth/logout", bearer: access2}, http.StatusNoContent)
		loggedOut := time.Now()
		for _, p := range []*replicaProc{a, b} {
			for i, tok := range []string{access1, access2} {
				took := pollUntil(t, loggedOut, revocationDeadline, p.name+" refuses the logged-out session's token", func() bool {
					st, _ := p.do(t, call{method: http.MethodGet, path: "/api/poll", bearer: tok})
					return st == http.StatusUnauthorized
				})
				t.Logf("replica %s refused access token %d %v after the logout on C", p.name, i+1, took)
			}
		}
	})

	t.Run("role change on A is in force on C", func(t *testing.T) {
		id, email, pw := register(a, "sven")
		oldAccess, _ := login(c, email, pw)
		// The same user in a browser on C, in cookie mode.
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		browser := newHTTPClient(jar)
		c.want(t, call{method: http.MethodPost, path: "/auth/login", ip: ips.next(), client: browser,
			json: map[string]any{"email": email, "password": pw, "cookie": true}}, http.StatusOK)
		c.want(t, call{method: http.MethodGet, path: "/edit/1", bearer: oldAccess}, http.StatusForbidden)
		c.want(t, call{method: http.MethodGet, path: "/edit/1", client: browser}, http.StatusForbidden)

		adminAccess, _ := login(a, "root@example.com", adminPW)
		a.want(t, call{method: http.MethodPatch, path: "/auth/admin/users/" + id, bearer: adminAccess,
			json: map[string]any{"roles": []string{"user", "editor"}}}, http.StatusOK)
		took := pollUntil(t, time.Now(), revocationDeadline, "C lets the browser (refreshed at the edge) edit", func() bool {
			st, _ := c.do(t, call{method: http.MethodGet, path: "/edit/2", client: browser})
			return st == http.StatusOK
		})
		t.Logf("the role change on A was in force on C after %v", took)
		c.want(t, call{method: http.MethodGet, path: "/edit/3", bearer: oldAccess}, http.StatusUnauthorized)
	})

	t.Run("login rate limit is shared", func(t *testing.T) {
		// login_per_ip is 3 per minute: one wrong attempt on each replica
		// from one address uses it up on all three.
		const ip = "10.9.9.9"
		bad := map[string]any{"email": "nobody@example.com", "password": "Wrong-password-123"}
		for _, p := range all {
			p.want(t, call{method: http.MethodPost, path: "/auth/login", ip: ip, json: bad}, http.StatusUnauthorized)
		}
		for _, p := range all {
			p.want(t, call{method: http.MethodPost, path: "/auth/login", ip: ip, json: bad}, http.StatusTooManyRequests)
		}
		// Another address is not affected.
		a.want(t, call{method: http.MethodPost, path: "/auth/login", ip: "10.9.9.10", json: bad}, http.StatusUnauthorized)
	})

	t.Run("policy file change reaches every replica", func(t *testing.T) {
		for _, p := range all {
			p.want(t, call{method: http.MethodGet, path: "/news/1"}, http.StatusUnauthorized)
		}
		// Replaced the way editors and config managers do: a new file
		// renamed over the old one.
		tmp := rs.policy + ".new"
		if err := os.WriteFile(tmp, []byte(replicaPolicy+"p, anonymous, /news/*, GET\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, rs.policy); err != nil {
			t.Fatal(err)
		}
		// SPEC 7: reloaded within 2 s of a change.
		changed := time.Now()
		for _, p := range all {
			took := pollUntil(t, changed, 2*time.Second, p.name+" applies the new policy", func() bool {
				st, _ := p.do(t, call{method: http.MethodGet, path: "/news/1"})
				return st == http.StatusOK
			})
			t.Logf("replica %s applied the new policy after %v", p.name, took)
		}
	})
}
