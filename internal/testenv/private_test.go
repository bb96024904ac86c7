package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/authgate/gateway/internal/testenv"
)

// TestPrivateRedisStopStart: the private server answers, refuses
// connections once stopped, and answers again on the same address once
// started again.
func TestPrivateRedisStopStart(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	if r.Addr == "127.0.0.1:6379" {
		t.Fatalf("the private Redis took the shared server's address")
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return c.Ping(ctx).Err()
	}
	if err := ping(); err != nil {
		t.Fatalf("PING after start: %v", err)
	}
	r.Stop()
	if err := ping(); err == nil {
		t.Fatalf("PING succeeds after Stop")
	}
	r.Start()
	if err := ping(); err != nil {
		t.Fatalf("PING after restart on %s: %v", r.Addr, err)
	}
}

// TestPrivatePostgresStopStart: the same for the private PostgreSQL, whose
// data survive the restart.
func TestPrivatePostgresStopStart(t *testing.T) {
	t.Parallel()
	p := testenv.StartPostgres(t)
	if p.Port == 5432 {
		t.Fatalf("the private PostgreSQL took the shared server's port")
	}
	ctx := context.Background()
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, p.URL())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE TABLE kept (x int)"); err != nil {
		t.Fatalf("after start: %v", err)
	}
	p.Stop()
	if err := exec("SELECT 1"); err == nil {
		t.Fatalf("a connection succeeds after Stop")
	}
	p.Start()
	if err := exec("SELECT count(*) FROM kept"); err != nil {
		t.Fatalf("after restart on port %d: %v", p.Port, err)
	}
}
