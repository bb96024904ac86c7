package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/authgate/gateway/config"
)

// TestRedisCallsEndWithTheirContext: a Redis that accepts connections and
// never answers (a partition) must not hold a call past its context's
// deadline: /readyz gives each ping 500 ms and the account endpoints have
// their own bound. go-redis ignores the context's deadline for reads
// unless told otherwise, and waited its own 3 s read timeout (5 s with
// retries seen in an audit), for both the url and the addrs forms.
func TestRedisCallsEndWithTheirContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() }) // accepted, never answered
		}
	}()
	addr := ln.Addr().String()
	for name, cfg := range map[string]config.Redis{
		"url":   {URL: "redis://" + addr},
		"addrs": {Addrs: []string{addr}},
	} {
		t.Run(name, func(t *testing.T) {
			rdb, err := redisClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err = rdb.Ping(ctx).Err()
			if took := time.Since(start); err == nil || took > 2*time.Second {
				t.Errorf("PING to a silent Redis: %v after %v; want an error soon after the 200ms deadline", err, took)
			}
		})
	}
}
