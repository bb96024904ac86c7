package session

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkViewCheck measures the per-request revocation check with a view
// holding 10,000 revoked sessions and 10,000 user stamps (a busy window).
func BenchmarkViewCheck(b *testing.B) {
	v := benchView(b)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := v.Check("user-42", "live-session", 7); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := v.Check("user-42", "live-session", 7); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("parallel-with-writer", func(b *testing.B) {
		// One event applied per millisecond meanwhile: far more than a real
		// feed carries.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					v.Apply(Event{Kind: KindSessionRevoked, UserID: "w", SessionID: fmt.Sprint("w", i)})
				}
			}
		}()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := v.Check("user-42", "live-session", 7); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

func benchView(b *testing.B) *View {
	v, err := NewView(ViewOptions{AccessTTL: 15 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10_000 {
		v.Apply(Event{Kind: KindSessionRevoked, UserID: fmt.Sprint("user-", i), SessionID: newID()})
		v.Apply(Event{Kind: KindUserStamp, UserID: fmt.Sprint("user-", i), Stamp: 7})
	}
	return v
}

// BenchmarkRotate measures one refresh (a rotation of the newest token) on
// each backend, serially, and reports the p50 and p99 latency besides the
// mean (ns/op).
func BenchmarkRotate(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			inst := be.setup(b)
			clk := newClock()
			s := inst.openStore(Options{IdleTTL: testIdle, MaxTTL: 30 * 24 * time.Hour, ReuseGrace: testGrace, Now: clk.Now})
			ctx := context.Background()
			_, tok, err := s.Create(ctx, NewSession{UserID: "bench"}, clk.Now())
			if err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			for b.Loop() {
				now := clk.Add(time.Millisecond)
				start := time.Now()
				_, tok, err = s.Rotate(ctx, tok, now)
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
