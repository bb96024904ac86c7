// Command loadtest measures the gateway's proxy throughput, latency and memory
// against a plain httputil.ReverseProxy, in the same run, interleaved, on the
// same machine.
//
//	go run ./cmd/loadtest [-c 100,1000] [-d 10s] [-rounds 2]
//
// It builds the gateway, starts three kinds of process on loopback ports (a
// small Go upstream, the baseline proxy and the gateway, each in its own
// process), drives each proxy with wrk in turn, and prints the medians with
// the gateway/baseline ratios. See README.md in this directory.
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
	"slices"
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
	if err := fs.Parse(args); err != nil {
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
	}
	return &o, nil
}

// target is one thing wrk is pointed at.
type target struct {
	name    string
	url     string // what wrk requests
	base    string // scheme://host:port
	ready   string // polled until 200 at start-up
	gateway bool
	proc    *child
	admin   string // gateway admin listener, when enabled
	// headers are sent with every request: the common ones plus, when the
	// gateway needs a login, an Authorization header (the proxies and the
	// upstream get one of the same length, so every target parses the same
	// request).
	headers []string
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
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed; install it (Debian/Ubuntu: `sudo apt-get install -y wrk`, macOS: `brew install wrk`) and run again")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Bound the whole run: every measured, warm-up and serial run, plus
	// generous time for building and starting.
	nTargets := 2
	if o.info {
		nTargets++
	}
	if o.pooled {
		nTargets++
	}
	if o.compare != "" {
		nTargets++
	}
	perRun := o.duration + o.warmup + time.Second
	budget := time.Duration(o.rounds*len(o.conc)*nTargets)*perRun +
		time.Duration(o.rounds*(nTargets+1))*(o.serial+time.Second) + 3*time.Minute
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()

	maxC := 1
	for _, c := range o.conc {
		maxC = max(maxC, c)
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
	defer procs.stopAll(5 * time.Second)

	env, err := setup(ctx, o, tmp, &procs, budget)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %v", errInterrupted, err)
		}
		return err
	}
	env.fdLimit = limit
	return measure(ctx, o, env)
}

// setupResult is what the measurement needs from setup.
type setupResult struct {
	upstream *target
	targets  []*target // baseline first
	logs     map[string]string
	fdLimit  uint64
	gwBin    string
}

// setup builds the gateway and starts the upstream, the baseline and the
// gateway(s), each on its own loopback port, and waits until all answer.
func setup(ctx context.Context, o *options, tmp string, procs *children, accessTTL time.Duration) (*setupResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	gwBin := o.gatewayBin
	if gwBin == "" {
		gwBin = filepath.Join(tmp, "gateway")
		fmt.Printf("building the gateway: go build -o %s ./cmd/gateway\n", gwBin)
		build := exec.CommandContext(ctx, "go", "build", "-o", gwBin, "github.com/authgate/gateway/cmd/gateway")
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
	if o.pooled {
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

	type gatewaySpec struct{ name, id, bin, level string }
	gateways := []gatewaySpec{{"gateway", "gateway-warn", gwBin, "warn"}}
	if o.info {
		gateways = append(gateways, gatewaySpec{"gateway log=info", "gateway-info", gwBin, "info"})
	}
	if o.compare != "" {
		gateways = append(gateways, gatewaySpec{"compare", "gateway-compare", o.compare, "warn"})
	}
	for _, g := range gateways {
		gwAddr, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		adminAddr := ""
		if o.cpuprofile != "" && g.id == "gateway-warn" {
			if adminAddr, err = freeLoopbackAddr(); err != nil {
				return nil, err
			}
		}
		// Each gateway has its own working directory: its own database
		// and signing keys under ./data, as a fresh install has.
		dir := filepath.Join(tmp, g.id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
		// The policy lets the logged-in load user through; a realistic
		// 200-line policy is issue 8's addition (decisions are flat in the
		// policy's size, see policy's benchmarks).
		if err := os.WriteFile(filepath.Join(dir, "policy.csv"), []byte(loadPolicy), 0o600); err != nil {
			return nil, err
		}
		cfgPath := filepath.Join(dir, "gateway.yaml")
		if err := os.WriteFile(cfgPath, []byte(gatewayConfig(gwAddr, adminAddr, "http://"+upAddr, g.level, accessTTL)), 0o600); err != nil {
			return nil, err
		}
		gw, err := start(g.id, dir, g.bin, "serve", "--config", cfgPath)
		if err != nil {
			return nil, err
		}
		t := newTarget(g.name, gwAddr, o.path)
		t.proc, t.admin, t.gateway = gw, adminAddr, true
		t.ready = t.base + "/readyz"
		res.targets = append(res.targets, t)
	}

	for _, t := range append([]*target{res.upstream}, res.targets...) {
		if err := t.proc.waitReady(ctx, t.ready, 20*time.Second); err != nil {
			return nil, err
		}
		if m, err := readMemory(t.proc.pid()); err == nil {
			t.idleRSS = m.RSS
		}
	}

	// Log in where the gateway requires it. The other targets send the
	// first gateway's header, so that every target reads the same bytes.
	var auth string
	for _, t := range res.targets {
		t.headers = headers
		if !t.gateway {
			continue
		}
		h, err := credentials(ctx, t.base, o.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		if h != "" {
			t.headers = append(slices.Clip(headers), h)
			if auth == "" {
				auth = h
				fmt.Println("the gateway requires a login: each gateway target sends the Bearer token of a user registered for this run")
			}
		}
	}
	for _, t := range append([]*target{res.upstream}, res.targets...) {
		if !t.gateway {
			t.headers = headers
			if auth != "" {
				t.headers = append(slices.Clip(headers), auth)
			}
		}
	}
	return res, nil
}

// gatewayConfig is the generated configuration: the upstream on "/", no
// admin listener unless profiling, the given log level, and access tokens
// that outlive the run. Everything else is the built-in default (SQLite and
// keys under ./data of the working directory). Issue 8 adds PostgreSQL
// and Redis here.
func gatewayConfig(addr, adminAddr, upstream, level string, accessTTL time.Duration) string {
	return fmt.Sprintf(`# generated by cmd/loadtest
server:
  addr: %q
  admin_addr: %q
upstreams:
  - name: app
    prefix: /
    url: %q
tokens:
  access_ttl: %s
log:
  level: %s
  format: json
`, addr, adminAddr, upstream, accessTTL, level)
}

// loadPolicy is the gateway's policy during the load test.
const loadPolicy = `# generated by cmd/loadtest
p, authenticated, /*, *
`

// headers are sent on every request, like a typical API client's.
var headers = []string{"Accept: application/json", "User-Agent: authgate-loadtest/1"}

// measure runs the rounds, prints each run as it completes, then the table.
func measure(ctx context.Context, o *options, env *setupResult) error {
	fmt.Printf("\nmachine: %d CPUs shared by wrk (-t %d), the upstream and the proxies; open-file limit %d\n",
		numCPU(), o.threads, env.fdLimit)
	fmt.Printf("load: wrk %s per run after a %s warm-up, %d round(s), path %s, targets interleaved (order reverses each round)\n\n",
		o.duration, o.warmup, o.rounds, o.path)

	results := map[key][]sample{}
	run := func(t *target, c, threads int, d time.Duration) error {
		if o.warmup > 0 && c > 1 {
			if _, _, err := runWrk(ctx, wrkOptions{URL: t.url, Connections: c, Threads: threads, Duration: o.warmup, Headers: t.headers}); err != nil {
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
		res, _, err := runWrk(ctx, wrkOptions{URL: t.url, Connections: c, Threads: threads, Duration: d, Headers: t.headers})
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
		fmt.Printf("  c=%-5d %-18s rps %7.0f  p50 %8s  p99 %8s  errors %-5d RSS %9s  CPU/req %6s  loadavg %s\n",
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
		if size := fileSize(env.logs["gateway-info"]); size > 0 {
			fmt.Printf("\nthe log=info gateway wrote %s of access log to a file during the runs\n", fmtMiB(size))
		}
	}
	if o.cpuprofile != "" {
		fmt.Printf("\nCPU and heap profiles of the gateway (log=warn), from its first measured run at each c, are in %s:\n", o.cpuprofile)
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
