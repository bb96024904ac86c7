// Command loadtest measures the gateway's proxy throughput, latency and memory
// against a plain httputil.ReverseProxy, in the same run, interleaved, on the
// same machine.
//
//	go run ./cmd/loadtest [-c 100,1000] [-d 10s] [-rounds 2]
//
// It builds the gateway, starts three kinds of process on loopback ports (a
// small Go upstream, the baseline proxy and the gateway, each in its own
// process), creates and logs in 1,000 users through every gateway (SQLite,
// and PostgreSQL + Redis), drives each proxy with wrk in turn (a Lua script
// cycling the users' tokens), and prints the medians with the
// gateway/baseline ratios. -mode soak runs cookie sessions refreshed at the
// edge mid-run; -mode accounts measures login and refresh latency. See
// README.md in this directory.
//
// The upstream and the baseline are subcommands of this binary:
//
//	loadtest upstream -addr 127.0.0.1:PORT
//	loadtest baseline -addr 127.0.0.1:PORT -target http://127.0.0.1:UPSTREAM
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	var err error
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "upstream":
			err = runUpstream(os.Args[2:])
		case "baseline":
			err = runBaseline(os.Args[2:])
		default:
			err = runHarness(os.Args[1:])
		}
	} else {
		err = runHarness(nil)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// options are the harness's flags.
type options struct {
	conc       []int
	duration   time.Duration
	warmup     time.Duration
	serial     time.Duration
	threads    int
	rounds     int
	path       string
	info       bool
	pooled     bool
	gatewayBin string
	compare    string
	cpuprofile string
	keep       bool

	mode        string // bench, soak or accounts
	deploys     []deployment
	users       int
	setupConc   int
	policyLines int
	postgres    string
	redis       string
	fastHash    bool

	soakDuration time.Duration
	soakConc     int
	soakTTL      time.Duration
	soakSample   time.Duration

	loginClients   int
	refreshClients int
	refreshRate    float64
	accountsD      time.Duration
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: go run ./cmd/loadtest [flags]\n\n"+
			"Measures the gateway against a plain httputil.ReverseProxy with wrk.\n\n")
		fs.PrintDefaults()
	}
	var o options
	conc := fs.String("c", "100,1000", "comma-separated wrk concurrencies (connections)")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "duration of each measured wrk run (whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured wrk run before each measured one (fills connection pools); 0 disables")
	fs.DurationVar(&o.serial, "serial", 5*time.Second, "duration of each serial (c=1) latency run; 0 skips the serial runs")
	fs.IntVar(&o.threads, "t", 2, "wrk threads")
	fs.IntVar(&o.rounds, "rounds", 2, "measured rounds per target and concurrency; the table shows medians")
	fs.StringVar(&o.path, "path", "/api/items/1", "request path sent through every proxy")
	fs.BoolVar(&o.info, "info", true, "also measure a gateway with log.level info (one access line per request, as in production)")
	fs.BoolVar(&o.pooled, "pool-baseline", false, "also measure a second baseline whose ReverseProxy has a BufferPool (a stricter yardstick; ratios stay against the plain baseline)")
	fs.StringVar(&o.gatewayBin, "gateway", "", "use this gateway binary instead of building ./cmd/gateway")
	fs.StringVar(&o.compare, "compare", "", "also measure this second gateway binary (log=warn), e.g. a build of your change, as target \"compare\"")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "directory: enable the gateway's admin listener and save a CPU profile of its first measured run at each concurrency (perturbs those runs slightly)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, config, logs)")
	fs.StringVar(&o.mode, "mode", "bench", "bench: proxy throughput and serial latency against the baseline; soak: cookie sessions refreshed mid-run; accounts: login and refresh p99")
	deploys := fs.String("deploy", "both", "gateway deployments: sqlite (embedded default, SQL sessions), postgres (PostgreSQL + Redis sessions), or both")
	fs.IntVar(&o.users, "users", 1000, "users created and logged in through each gateway (their tokens are cycled by wrk, or drive the soak)")
	fs.IntVar(&o.setupConc, "setup-c", 8, "concurrent requests while creating and logging in the users")
	fs.IntVar(&o.policyLines, "policy-lines", 200, "rules in the generated policy (roles with inheritance, keyMatch2 /:id paths, methods)")
	fs.StringVar(&o.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server for -deploy postgres: the harness creates a database per gateway there and drops it at the end")
	fs.StringVar(&o.redis, "redis", "redis://127.0.0.1:6379/0", "Redis for -deploy postgres: a fresh key prefix per gateway, deleted at the end")
	fs.BoolVar(&o.fastHash, "fast-hash", true, "bench and soak: argon2id at 1 MiB, t=1 so that setting up the users takes seconds (proxied requests never hash); -mode accounts always uses the production cost")
	fs.DurationVar(&o.soakDuration, "soak-d", 60*time.Second, "soak: duration")
	fs.IntVar(&o.soakConc, "soak-c", 1000, "soak: concurrent clients (client i is user i mod -users)")
	fs.DurationVar(&o.soakTTL, "soak-access-ttl", 30*time.Second, "soak: tokens.access_ttl, shorter than -soak-d so that access cookies expire and are refreshed at the edge mid-run")
	fs.DurationVar(&o.soakSample, "soak-sample", 5*time.Second, "soak: RSS sampling period")
	fs.IntVar(&o.loginClients, "login-c", 4, "accounts: concurrent login clients (target p99 < 100ms at 4)")
	fs.IntVar(&o.refreshClients, "refresh-c", 100, "accounts: concurrent refresh clients, each its own session (target p99 < 10ms at 100 with Redis)")
	fs.Float64Var(&o.refreshRate, "refresh-rate", 1000, "accounts: refreshes per second offered in the open-loop refresh run (the -refresh-c clients share them); 0 skips that run")
	fs.DurationVar(&o.accountsD, "accounts-d", 10*time.Second, "accounts: duration of the login run and of the refresh run")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if o.deploys, err = parseDeployments(*deploys); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (subcommands are upstream and baseline)", fs.Args())
	}
	for _, s := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-c: bad concurrency %q", s)
		}
		o.conc = append(o.conc, n)
	}
	switch {
	case o.duration < time.Second || o.duration > 10*time.Minute:
		return nil, errors.New("-d must be between 1s and 10m")
	case o.rounds < 1 || o.rounds > 20:
		return nil, errors.New("-rounds must be between 1 and 20")
	case o.threads < 1:
		return nil, errors.New("-t must be at least 1")
	case !strings.HasPrefix(o.path, "/"):
		return nil, errors.New("-path must start with /")
	case o.warmup < 0 || o.serial < 0:
		return nil, errors.New("-warmup and -serial must not be negative")
	case o.mode != "bench" && o.mode != "soak" && o.mode != "accounts":
		return nil, fmt.Errorf("-mode: unknown mode %q (bench, soak or accounts)", o.mode)
	case o.users < 1 || o.setupConc < 1:
		return nil, errors.New("-users and -setup-c must be at least 1")
	case o.soakDuration < time.Second || o.soakConc < 1 || o.soakSample <= 0 || o.soakTTL < time.Second:
		return nil, errors.New("-soak-d and -soak-access-ttl must be at least 1s, -soak-c at least 1, -soak-sample positive")
	case o.loginClients < 1 || o.refreshClients < 1 || o.accountsD < time.Second:
		return nil, errors.New("-login-c and -refresh-c must be at least 1, -accounts-d at least 1s")
	case o.refreshRate < 0:
		return nil, errors.New("-refresh-rate must not be negative")
	}
	if _, err := generatePolicy(o.policyLines); err != nil {
		return nil, err
	}
	return &o, nil
}

// target is one thing wrk is pointed at.
type target struct {
	name    string
	url     string // what wrk requests without a script
	base    string // scheme://host:port
	ready   string // polled until 200 at start-up
	gateway bool
	proc    *child
	admin   string // gateway admin listener, when enabled
	// headers are sent with every request when there is no script.
	headers []string
	// script is the wrk Lua script cycling through the load users'
	// requests (their paths with their Bearer tokens). The proxies and the
	// upstream get the first gateway's script: the same paths and header
	// lengths, so every target reads the same bytes.
	script string
	// users and sessions are the gateway's load users, logged in.
	users    []*loadUser
	sessions []*userSession
	// idleRSS is the process's RSS once ready, before any load.
	idleRSS int64
}

func newTarget(name, addr, path string) *target {
	base := "http://" + addr
	return &target{name: name, url: base + path, base: base, ready: base + path}
}

func runHarness(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("wrk"); err != nil && o.mode == "bench" {
		return errors.New("wrk is not installed; install it (Debian/Ubuntu: `sudo apt-get install -y wrk`, macOS: `brew install wrk`) and run again")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Bound the whole run: every measured, warm-up and serial run, plus
	// generous time for building, starting and setting up the users.
	gateways := len(o.deploys)
	if o.mode == "bench" && o.info {
		gateways *= 2
	}
	if o.mode == "bench" && o.compare != "" {
		gateways++
	}
	var budget time.Duration
	switch o.mode {
	case "bench":
		nTargets := 1 + gateways
		if o.pooled {
			nTargets++
		}
		perRun := o.duration + o.warmup + time.Second
		budget = time.Duration(o.rounds*len(o.conc)*nTargets)*perRun +
			time.Duration(o.rounds*(nTargets+1))*(o.serial+time.Second)
	case "soak":
		budget = time.Duration(gateways) * (o.soakDuration + 10*time.Second)
	case "accounts":
		budget = time.Duration(gateways) * 6 * (o.accountsD + 10*time.Second)
	}
	// Setting up: about a second per 100 users with -fast-hash, and the
	// production cost for -mode accounts.
	budget += 5*time.Minute + time.Duration(gateways*o.users)*50*time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()

	maxC := 1
	for _, c := range o.conc {
		maxC = max(maxC, c)
	}
	if o.mode == "soak" {
		maxC = o.soakConc
	}
	// wrk holds maxC sockets, a proxy holds maxC client plus up to maxC
	// upstream sockets, the upstream maxC.
	limit, warn := raiseFileLimit(uint64(3*maxC + 1024))
	if warn != "" {
		fmt.Fprintln(os.Stderr, warn)
	}

	tmp, err := os.MkdirTemp("", "loadtest-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("temporary files kept in %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	var procs children
	var drops []func(context.Context) error
	defer func() {
		procs.stopAll(5 * time.Second)
		// The databases and Redis keys outlive the processes only until
		// here; drop them even after ^C or a failure.
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, drop := range drops {
			if err := drop(dctx); err != nil {
				fmt.Fprintln(os.Stderr, "warning: removing a load-test database or its Redis keys:", err)
			}
		}
	}()

	accessTTL := budget
	if o.mode == "soak" {
		accessTTL = o.soakTTL
	}
	env, err := setup(ctx, o, tmp, &procs, &drops, accessTTL)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %v", errInterrupted, err)
		}
		return err
	}
	env.fdLimit = limit
	switch o.mode {
	case "soak":
		return soak(ctx, o, env)
	case "accounts":
		return accounts(ctx, o, env)
	}
	return measure(ctx, o, env)
}

// setupResult is what the measurement needs from setup.
type setupResult struct {
	upstream *target
	targets  []*target // baseline(s) first, then the gateways
	logs     map[string]string
	fdLimit  uint64
	gwBin    string
}

// baseline is the plain proxy's target (bench and accounts modes), nil if
// none was started.
func (r *setupResult) baseline() *target {
	for _, t := range r.targets {
		if t.name == "baseline" {
			return t
		}
	}
	return nil
}

// gateways are the gateway targets.
func (r *setupResult) gateways() []*target {
	var out []*target
	for _, t := range r.targets {
		if t.gateway {
			out = append(out, t)
		}
	}
	return out
}

// setup builds the gateway and starts the upstream, the baseline (bench
// mode) and the gateway(s), each on its own loopback port, waits until all
// answer, and creates and logs in the load users of every gateway.
func setup(ctx context.Context, o *options, tmp string, procs *children, drops *[]func(context.Context) error, accessTTL time.Duration) (*setupResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	gwBin := o.gatewayBin
	if gwBin == "" {
		gwBin = filepath.Join(tmp, "gateway")
		// Static, as the Dockerfile builds it: what is measured is what
		// ships (a cgo build also maps libc and the dynamic loader).
		fmt.Printf("building the gateway: CGO_ENABLED=0 go build -o %s ./cmd/gateway\n", gwBin)
		build := exec.CommandContext(ctx, "go", "build", "-o", gwBin, "github.com/authgate/gateway/cmd/gateway")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("building the gateway: %w", err)
		}
	}
	// The children get the harness's environment minus GATEWAY_* overrides,
	// so that the generated configuration is exactly what is measured.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			env = append(env, kv)
		}
	}
	policyText, err := generatePolicy(o.policyLines)
	if err != nil {
		return nil, err
	}

	res := &setupResult{logs: map[string]string{}, gwBin: gwBin}
	start := func(name, dir, bin string, args ...string) (*child, error) {
		logPath := filepath.Join(tmp, name+".log")
		res.logs[name] = logPath
		return procs.start(name, dir, logPath, env, bin, args...)
	}

	upAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	up, err := start("upstream", tmp, self, "upstream", "-watch-stdin", "-addr", upAddr)
	if err != nil {
		return nil, err
	}
	res.upstream = newTarget("upstream (direct)", upAddr, o.path)
	res.upstream.proc = up

	// The accounts mode reads its refresh runs against the same loops
	// through the plain proxy.
	if o.mode == "bench" || o.mode == "accounts" {
		blAddr, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		bl, err := start("baseline", tmp, self, "baseline", "-watch-stdin", "-addr", blAddr, "-target", "http://"+upAddr)
		if err != nil {
			return nil, err
		}
		t := newTarget("baseline", blAddr, o.path)
		t.proc = bl
		res.targets = append(res.targets, t)
		if o.pooled && o.mode == "bench" {
			addr, err := freeLoopbackAddr()
			if err != nil {
				return nil, err
			}
			p, err := start("baseline-pool", tmp, self, "baseline", "-watch-stdin", "-pool", "-addr", addr, "-target", "http://"+upAddr)
			if err != nil {
				return nil, err
			}
			t := newTarget("baseline+pool", addr, o.path)
			t.proc = p
			res.targets = append(res.targets, t)
		}
	}

	type gatewaySpec struct {
		name, id, bin, level string
		deploy               deployment
	}
	var gateways []gatewaySpec
	for i, d := range o.deploys {
		gateways = append(gateways, gatewaySpec{"gateway " + d.label(), "gateway-" + string(d), gwBin, "warn", d})
		if o.mode == "bench" && o.info {
			gateways = append(gateways, gatewaySpec{"gateway " + d.label() + " log=info", "gateway-" + string(d) + "-info", gwBin, "info", d})
		}
		if o.mode == "bench" && o.compare != "" && i == 0 {
			gateways = append(gateways, gatewaySpec{"compare " + d.label(), "gateway-" + string(d) + "-compare", o.compare, "warn", d})
		}
	}
	for i, g := range gateways {
		gwAddr, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		adminAddr := ""
		if (o.cpuprofile != "" && i == 0) || o.mode == "accounts" {
			if adminAddr, err = freeLoopbackAddr(); err != nil {
				return nil, err
			}
		}
		st, err := newStorage(ctx, g.deploy, o)
		if err != nil {
			return nil, err
		}
		*drops = append(*drops, st.drop)
		// Each gateway has its own working directory: its own database
		// and signing keys under ./data, as a fresh install has.
		dir := filepath.Join(tmp, g.id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "policy.csv"), []byte(policyText), 0o600); err != nil {
			return nil, err
		}
		cfgPath := filepath.Join(dir, "gateway.yaml")
		cfg := gatewayConfig(gatewaySettings{addr: gwAddr, adminAddr: adminAddr, upstream: "http://" + upAddr,
			level: g.level, accessTTL: accessTTL, storage: st, fastHash: o.fastHash && o.mode != "accounts"})
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		adminEmail, adminPW, err := bootstrapAdmin(ctx, g.bin, dir, cfgPath, env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g.name, err)
		}
		gw, err := start(g.id, dir, g.bin, "serve", "--config", cfgPath)
		if err != nil {
			return nil, err
		}
		t := newTarget(g.name, gwAddr, o.path)
		t.proc, t.admin, t.gateway = gw, adminAddr, true
		t.ready = t.base + "/readyz"
		if err := gw.waitReady(ctx, t.ready, 30*time.Second); err != nil {
			return nil, err
		}
		nUsers := o.users
		if o.mode == "accounts" {
			// Production hashing: only as many users as login clients.
			nUsers = min(o.users, o.loginClients)
		}
		t0 := time.Now()
		if t.users, err = createUsers(ctx, t.base, adminEmail, adminPW, nUsers, o.setupConc); err != nil {
			return nil, fmt.Errorf("%s: creating the load users: %w", g.name, err)
		}
		created := time.Since(t0)
		toLogIn := t.users
		if o.mode == "accounts" {
			// One session per refresh client.
			toLogIn = make([]*loadUser, o.refreshClients)
			for i := range toLogIn {
				toLogIn[i] = t.users[i%len(t.users)]
			}
		}
		t0 = time.Now()
		if t.sessions, err = loginUsers(ctx, t.base, toLogIn, o.setupConc, o.mode == "soak"); err != nil {
			return nil, fmt.Errorf("%s: logging the load users in: %w", g.name, err)
		}
		fmt.Printf("%s: %d users created in %s and %d sessions logged in in %s through the gateway (%d at a time), %d-rule policy\n",
			g.name, len(t.users), created.Round(time.Millisecond), len(t.sessions), time.Since(t0).Round(time.Millisecond), o.setupConc, o.policyLines)
		if o.mode == "bench" {
			if t.script, err = writeLuaScript(tmp, g.id, t.sessions); err != nil {
				return nil, err
			}
		}
		res.targets = append(res.targets, t)
	}

	for _, t := range append([]*target{res.upstream}, res.targets...) {
		if err := t.proc.waitReady(ctx, t.ready, 20*time.Second); err != nil {
			return nil, err
		}
		if m, err := readMemory(t.proc.pid()); err == nil {
			t.idleRSS = m.RSS
		}
		t.headers = headers
	}
	// The upstream and the proxies replay the first gateway's requests.
	if gws := res.gateways(); len(gws) > 0 {
		for _, t := range append([]*target{res.upstream}, res.targets...) {
			if !t.gateway {
				t.script = gws[0].script
			}
		}
	}
	return res, nil
}

// headers are sent on every request, like a typical API client's.
var headers = []string{"Accept: application/json", "User-Agent: authgate-loadtest/1"}

// measure runs the rounds, prints each run as it completes, then the table.
func measure(ctx context.Context, o *options, env *setupResult) error {
	fmt.Printf("\nmachine: %d CPUs shared by wrk (-t %d), the upstream and the proxies; open-file limit %d\n",
		numCPU(), o.threads, env.fdLimit)
	fmt.Printf("load: wrk %s per run after a %s warm-up, %d round(s), targets interleaved (order reverses each round)\n",
		o.duration, o.warmup, o.rounds)
	if gws := env.gateways(); len(gws) > 0 {
		fmt.Printf("requests: a Lua script cycles through the %d load users' Bearer tokens and paths (their team's /api/svcN/items/:id or reports/:year);\n"+
			"the upstream and the proxies replay the first gateway's requests\n\n", len(gws[0].sessions))
	}

	results := map[key][]sample{}
	run := func(t *target, c, threads int, d time.Duration) error {
		if o.warmup > 0 && c > 1 {
			if _, _, err := runWrk(ctx, wrkOptions{URL: t.url, Connections: c, Threads: threads, Duration: o.warmup, Headers: t.headers, Script: t.script}); err != nil {
				return interrupted(ctx, err)
			}
		}
		var prof chan error
		if t.admin != "" && o.cpuprofile != "" && len(results[key{t.name, c}]) == 0 && c > 1 {
			prof = make(chan error, 1)
			secs := max(1, int(d/time.Second)-2)
			out := filepath.Join(o.cpuprofile, fmt.Sprintf("gateway-c%d.pprof", c))
			go func() { prof <- fetchProfile(ctx, t.admin, "profile", secs, out) }()
		}
		cpu0, err := readCPU(t.proc.pid())
		if err != nil {
			return err
		}
		res, _, err := runWrk(ctx, wrkOptions{URL: t.url, Connections: c, Threads: threads, Duration: d, Headers: t.headers, Script: t.script})
		if err != nil {
			return interrupted(ctx, err)
		}
		cpu1, err := readCPU(t.proc.pid())
		if err != nil {
			return err
		}
		if prof != nil {
			if err := <-prof; err != nil {
				fmt.Fprintln(os.Stderr, "warning: CPU profile:", err)
			}
			out := filepath.Join(o.cpuprofile, fmt.Sprintf("gateway-c%d.heap", c))
			if err := fetchProfile(ctx, t.admin, "heap", 0, out); err != nil {
				fmt.Fprintln(os.Stderr, "warning: heap profile:", err)
			}
		}
		if t.proc.exited() {
			return fmt.Errorf("%s exited during the run (%v); its log:\n%s", t.name, t.proc.err, tail(t.proc.log, 30))
		}
		mem, err := readMemory(t.proc.pid())
		if err != nil {
			return err
		}
		s := sample{wrk: res, mem: mem, cpu: cpu1 - cpu0}
		results[key{t.name, c}] = append(results[key{t.name, c}], s)
		fmt.Printf("  c=%-5d %-26s rps %7.0f  p50 %8s  p99 %8s  errors %-5d RSS %9s  CPU/req %6s  loadavg %s\n",
			c, t.name, res.RPS, fmtDur(res.P(50)), fmtDur(res.P(99)), res.Errors(), fmtMiB(mem.RSS), fmtDur(s.cpuPerRequest()), loadavg())
		if res.Errors() > 0 {
			fmt.Printf("          errors: connect %d, read %d, write %d, timeout %d, non-2xx/3xx %d\n",
				res.Connect, res.Read, res.Write, res.Timeout, res.Non2xx3xx)
		}
		time.Sleep(500 * time.Millisecond) // let the sockets of the run close
		return nil
	}

	// Concurrencies in the given order, all rounds of one before the next,
	// so that the RSS after a c=100 run is not inflated by an earlier
	// c=1000 run. Within a round every target runs once; the order reverses
	// every round so that no target always runs first or last.
	orderOf := func(round int, ts []*target) []*target {
		if round%2 == 0 {
			return reversed(ts)
		}
		return ts
	}
	for _, c := range o.conc {
		for round := 1; round <= o.rounds; round++ {
			fmt.Printf("c=%d round %d/%d\n", c, round, o.rounds)
			for _, t := range orderOf(round, env.targets) {
				if err := run(t, c, o.threads, o.duration); err != nil {
					return err
				}
			}
		}
	}
	if o.serial > 0 {
		for round := 1; round <= o.rounds; round++ {
			fmt.Printf("serial round %d/%d\n", round, o.rounds)
			for _, t := range orderOf(round, append([]*target{env.upstream}, env.targets...)) {
				if err := run(t, 1, 1, o.serial); err != nil {
					return err
				}
			}
		}
	}

	fmt.Println()
	printTable(os.Stdout, o, env, results)
	printMemory(os.Stdout, env)
	if o.info {
		for _, d := range o.deploys {
			if size := fileSize(env.logs["gateway-"+string(d)+"-info"]); size > 0 {
				fmt.Printf("\nthe %s log=info gateway wrote %s of access log to a file during the runs\n", d.label(), fmtMiB(size))
			}
		}
	}
	if o.cpuprofile != "" {
		fmt.Printf("\nCPU and heap profiles of the first gateway (log=warn), from its first measured run at each c, are in %s:\n", o.cpuprofile)
		for _, c := range o.conc {
			fmt.Printf("  go tool pprof -top %s\n", filepath.Join(o.cpuprofile, fmt.Sprintf("gateway-c%d.pprof", c)))
			fmt.Printf("  go tool pprof -top -sample_index=inuse_space %s\n", filepath.Join(o.cpuprofile, fmt.Sprintf("gateway-c%d.heap", c)))
		}
	}
	return nil
}

// fetchProfile saves a profile (kind "profile": CPU for secs seconds;
// "heap": in-use memory now) from the gateway's admin listener to out.
func fetchProfile(ctx context.Context, admin, kind string, secs int, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	url := fmt.Sprintf("http://%s/debug/pprof/%s", admin, kind)
	if secs > 0 {
		url += fmt.Sprintf("?seconds=%d", secs)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs+30)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("the run exceeded its time budget: %w", err)
		}
		return errInterrupted
	}
	return err
}

func reversed(ts []*target) []*target {
	out := make([]*target, len(ts))
	for i, t := range ts {
		out[len(ts)-1-i] = t
	}
	return out
}

// soak runs the soak against every gateway in turn and prints each result.
func soak(ctx context.Context, o *options, env *setupResult) error {
	failed := false
	for _, t := range env.gateways() {
		fmt.Printf("\nsoak %s: %s at c=%d, %d users in cookie mode, access_ttl %s, loadavg %s\n",
			t.name, o.soakDuration, o.soakConc, len(t.sessions), o.soakTTL, loadavg())
		r := runSoak(ctx, t, t.sessions, o.soakConc, o.soakDuration, o.soakSample, "gw_access")
		if ctx.Err() != nil {
			return interrupted(ctx, ctx.Err())
		}
		if t.proc.exited() {
			return fmt.Errorf("%s exited during the soak (%v); its log:\n%s", t.name, t.proc.err, tail(t.proc.log, 30))
		}
		if !r.print(os.Stdout, t.name) {
			failed = true
		}
	}
	if failed {
		fmt.Println("\nSOAK: target NOT met (zero errors, zero users logged out, stable RSS)")
	} else {
		fmt.Println("\nSOAK: target met (zero errors, zero users logged out, stable RSS)")
	}
	return nil
}

// accounts measures login and refresh latency on every gateway in turn, at
// the production argon2id cost. Right before each gateway run it measures
// the same loop without the gateway's work, as a floor to read the run
// against on this shared machine: the hashing alone before the login run,
// the same clients through the plain proxy before each refresh run.
func accounts(ctx context.Context, o *options, env *setupResult) error {
	fmt.Printf("\nACCOUNTS: %s per run, production argon2id cost (gateway defaults), %d CPUs\n", o.accountsD, numCPU())
	fmt.Println("closed loop: each client calls again as soon as its call returns; open loop: calls due at a fixed rate, latency counted from when each was due")
	fmt.Println("floors: argon2id = the gateway's password hasher alone in the harness, no HTTP; proxy = GET through the plain ReverseProxy, same clients and loop")
	proxy := env.baseline()
	for _, t := range env.gateways() {
		fmt.Printf("%s (loadavg %s)\n", t.name, loadavg())
		hashing, err := measureHashing(ctx, o.loginClients, o.accountsD)
		if err != nil {
			return err
		}
		hashing.print(os.Stdout)
		before, _ := scrapeMetrics(ctx, t.admin)
		r := measureLogin(ctx, t.base, t.users, o.loginClients, o.accountsD)
		r.floor = &hashing
		r.print(os.Stdout)
		after, err := scrapeMetrics(ctx, t.admin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "warning: reading the gateway's metrics:", err)
		}
		printLoginExplained(os.Stdout, before, after, len(r.lat)+int(r.overloaded+r.errs))
		printInsideGateway(os.Stdout, "auth:/auth/login", before, after, r)
		if ctx.Err() != nil {
			return interrupted(ctx, ctx.Err())
		}
		rates := []float64{0}
		if o.refreshRate > 0 {
			rates = append(rates, o.refreshRate)
		}
		for _, rate := range rates {
			floor := measureProxy(ctx, proxy.url, o.refreshClients, rate, o.accountsD)
			floor.print(os.Stdout)
			before, _ := scrapeMetrics(ctx, t.admin)
			r := measureRefresh(ctx, t.base, t.sessions, o.refreshClients, rate, o.accountsD)
			after, _ := scrapeMetrics(ctx, t.admin)
			r.floor = &floor
			r.print(os.Stdout)
			printInsideGateway(os.Stdout, "auth:/auth/refresh", before, after, r)
			if ctx.Err() != nil {
				return interrupted(ctx, ctx.Err())
			}
		}
		if m, err := readMemory(t.proc.pid()); err == nil {
			fmt.Printf("  RSS now %s, peak %s\n", fmtMiB(m.RSS), fmtMiB(m.HWM))
		}
	}
	return nil
}
