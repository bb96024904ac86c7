package password

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkVerifyClients is login's hashing under the SPEC 3 target (login
// p99 < 100 ms at 4 concurrent clients): 4 clients verify back to back at
// the production cost, with max_concurrent at the default 2 × CPUs and at
// the number of CPUs. It reports the latency p50 and p99 of a Verify
// (waiting for a slot included), and per verification the GC cycles and
// minor page faults of the process: every hash allocates 19 MiB, which
// becomes garbage at once.
//
//	go test -run '^$' -bench BenchmarkVerifyClients -benchtime 100x -count 5 ./gateway/password
func BenchmarkVerifyClients(b *testing.B) {
	const clients = 4
	for _, slots := range []int{2 * runtime.NumCPU(), runtime.NumCPU()} {
		b.Run(fmt.Sprintf("clients=%d/max_concurrent=%d", clients, slots), func(b *testing.B) {
			cfg := prodCfg()
			cfg.MaxConcurrent = slots
			h := newHasher(b, cfg, nil)
			ctx := context.Background()
			const pw = "correct horse battery staple"
			stored, err := h.Hash(ctx, pw)
			if err != nil {
				b.Fatal(err)
			}
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			faults0 := minorFaults()
			var mu sync.Mutex
			var lat []time.Duration
			work := make(chan struct{})
			var wg sync.WaitGroup
			b.ResetTimer()
			for range clients {
				wg.Go(func() {
					var my []time.Duration
					for range work {
						t0 := time.Now()
						if ok, _, err := h.Verify(ctx, pw, stored); err != nil || !ok {
							b.Errorf("Verify = %v, %v", ok, err)
						}
						my = append(my, time.Since(t0))
					}
					mu.Lock()
					lat = append(lat, my...)
					mu.Unlock()
				})
			}
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(lat[(len(lat)-1)*99/100])/1e6, "p99-ms")
			b.ReportMetric(float64(ms1.NumGC-ms0.NumGC)/float64(b.N), "gc/op")
			b.ReportMetric(float64(minorFaults()-faults0)/float64(b.N), "minflt/op")
		})
	}
}

// minorFaults is the process's minor page faults so far.
func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Minflt
}
