package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// key identifies one cell of the table: a target at a concurrency.
type key struct {
	target string
	conc   int
}

// sample is one measured run.
type sample struct {
	wrk *wrkResult
	mem memory        // of the target's process right after the run
	cpu time.Duration // CPU time the target's process used during the run
}

// cpuPerRequest is the target process's CPU time per completed request: a
// measure of its cost that other load on the machine disturbs much less
// than rps or latency.
func (s sample) cpuPerRequest() time.Duration {
	if s.wrk.Requests == 0 {
		return 0
	}
	return s.cpu / time.Duration(s.wrk.Requests)
}

// summary is the medians of a cell's samples (errors are summed).
type summary struct {
	rps      float64
	p50, p99 time.Duration
	errors   int64
	rss      int64
	anon     int64
	cpuReq   time.Duration
	n        int
}

func summarize(ss []sample) summary {
	var rps, p50, p99, rss, anon, cpu []float64
	var s summary
	for _, x := range ss {
		rps = append(rps, x.wrk.RPS)
		p50 = append(p50, float64(x.wrk.P(50)))
		p99 = append(p99, float64(x.wrk.P(99)))
		rss = append(rss, float64(x.mem.RSS))
		anon = append(anon, float64(x.mem.Anon))
		cpu = append(cpu, float64(x.cpuPerRequest()))
		s.errors += x.wrk.Errors()
	}
	s.rps = median(rps)
	s.p50 = time.Duration(median(p50))
	s.p99 = time.Duration(median(p99))
	s.rss = int64(median(rss))
	s.anon = int64(median(anon))
	s.cpuReq = time.Duration(median(cpu))
	s.n = len(ss)
	return s
}

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// printTable writes the load table (medians, ratios against the baseline at
// the same concurrency) and the serial latency table.
func printTable(w io.Writer, o *options, env *setupResult, results map[key][]sample) {
	fmt.Fprintf(w, "RESULTS: median of %d round(s) of %s each; errors = sum over the rounds (socket errors + non-2xx/3xx);\n"+
		"RSS = VmRSS right after the run, anon = its anonymous part (RssAnon: heap and stacks, without the executable's pages);\n"+
		"CPU/req = the proxy process's CPU time per request; ratios = gateway / baseline at the same c\n",
		o.rounds, o.duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tc\trps\tp50\tp99\terrors\tRSS\tanon\tCPU/req\trps ratio\tp99 ratio\tRSS ratio\tanon ratio\tCPU/req ratio\t")
	for _, c := range o.conc {
		base := summarize(results[key{"baseline", c}])
		for _, t := range env.targets {
			s := summarize(results[key{t.name, c}])
			ratios := "-\t-\t-\t-\t-"
			if t.name != "baseline" {
				ratios = fmt.Sprintf("%.1f%%\t%.2fx\t%.2fx\t%.2fx\t%.2fx",
					100*s.rps/base.rps, float64(s.p99)/float64(base.p99), float64(s.rss)/float64(base.rss),
					float64(s.anon)/float64(base.anon), float64(s.cpuReq)/float64(base.cpuReq))
			}
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n",
				t.name, c, s.rps, fmtDur(s.p50), fmtDur(s.p99), s.errors, fmtMiB(s.rss), fmtMiB(s.anon), fmtDur(s.cpuReq), ratios)
		}
	}
	tw.Flush()

	if o.serial <= 0 {
		return
	}
	fmt.Fprintf(w, "\nSERIAL (c=1, %s per run): median p50/p99; \"added p50\" is relative to the baseline proxy and to the upstream alone\n", o.serial)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\trps\tp50\tp99\terrors\tadded p50 vs baseline\tadded p50 vs upstream\t")
	base := summarize(results[key{"baseline", 1}])
	direct := summarize(results[key{env.upstream.name, 1}])
	for _, t := range append([]*target{env.upstream}, env.targets...) {
		s := summarize(results[key{t.name, 1}])
		vsBase := "-"
		if t.name != "baseline" && t != env.upstream {
			vsBase = fmtMicros(s.p50 - base.p50)
		}
		vsDirect := "-"
		if t != env.upstream {
			vsDirect = fmtMicros(s.p50 - direct.p50)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t\n", t.name, s.rps, fmtDur(s.p50), fmtDur(s.p99), s.errors, vsBase, vsDirect)
	}
	tw.Flush()

}

// printMemory writes each process's RSS when idle (before any load), now and
// at its peak.
func printMemory(w io.Writer, env *setupResult) {
	fmt.Fprintln(w, "\nMEMORY per process: RSS idle before the first run, RSS now (after all runs) = anonymous + file pages, peak RSS (VmHWM)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tidle\tnow\tanon\tfile\tpeak\t")
	for _, t := range append([]*target{env.upstream}, env.targets...) {
		if m, err := readMemory(t.proc.pid()); err == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", t.name, fmtMiB(t.idleRSS), fmtMiB(m.RSS), fmtMiB(m.Anon), fmtMiB(m.File), fmtMiB(m.HWM))
		}
	}
	tw.Flush()
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 10*time.Microsecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func fmtMicros(d time.Duration) string {
	return fmt.Sprintf("%+.0fµs", float64(d)/float64(time.Microsecond))
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func numCPU() int { return runtime.NumCPU() }

// loadavg is the 1-minute load average, to spot runs disturbed by other
// work on the machine.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
