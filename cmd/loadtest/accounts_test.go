package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestOpenLoopCountsLateness: in an open loop, a call that holds its
// client past the next calls' due times makes them late, and their
// latencies count from when they were due, not from when they were sent;
// a closed loop has no due times. (Only lower bounds are asserted: a call
// cannot be sent before the previous one returned, however slow the
// machine.)
func TestOpenLoopCountsLateness(t *testing.T) {
	var calls atomic.Int64
	res := runClients(context.Background(), 1, 300*time.Millisecond, 20*time.Millisecond, func(context.Context, int) (int, error) {
		if calls.Add(1) == 1 {
			time.Sleep(70 * time.Millisecond)
		}
		return 200, nil
	})
	// Due at 0, 20, 40, 60 ms...: the first call returns at 70 ms or
	// later, so the calls due at 20, 40 and 60 ms are sent at 70 ms or
	// later: lags of at least 50, 30 and 10 ms, and latencies as long.
	if len(res.lat) < 4 || len(res.lag) < len(res.lat) {
		t.Fatalf("%d latencies, %d lags: want at least 4 calls", len(res.lat), len(res.lag))
	}
	if got := res.lag[len(res.lag)-1]; got < 50*time.Millisecond {
		t.Errorf("largest lag %s, want at least 50ms", got)
	}
	long := 0
	for _, l := range res.lat {
		if l >= 10*time.Millisecond {
			long++
		}
	}
	if long < 4 {
		t.Errorf("%d latencies of 10ms or more, want at least 4 (the slow call and the three it delayed): %v", long, res.lat)
	}

	closed := runClients(context.Background(), 2, 50*time.Millisecond, 0, func(context.Context, int) (int, error) {
		time.Sleep(time.Millisecond)
		return 200, nil
	})
	if len(closed.lat) == 0 || len(closed.lag) != 0 {
		t.Errorf("closed loop: %d latencies, %d lags; want some latencies and no lags", len(closed.lat), len(closed.lag))
	}
}
