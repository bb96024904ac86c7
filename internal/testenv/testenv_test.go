package testenv_test

import (
	"context"
	"net/url"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/authgate/gateway/internal/testenv"
)

func TestPostgresURLIsolatesAndCleansUp(t *testing.T) {
	ctx := context.Background()
	var schema string
	t.Run("inner", func(t *testing.T) {
		u := testenv.PostgresURL(t)
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatalf("current_schema: %v", err)
		}
		parsed, _ := url.Parse(u)
		if want := parsed.Query().Get("search_path"); schema != want || schema == "" {
			t.Fatalf("current_schema() = %q, want the test schema %q", schema, want)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE probe (x int)"); err != nil {
			t.Fatalf("create table in test schema: %v", err)
		}
		other := testenv.PostgresURL(t)
		if other == u {
			t.Fatalf("two calls returned the same URL %q", u)
		}
	})
	if schema == "" {
		return // skipped
	}
	// After the subtest's cleanup the schema is gone.
	base := os.Getenv(testenv.EnvPostgresURL)
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Skipf("cannot reconnect to check cleanup: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&n); err != nil {
		t.Fatalf("query: %v", err)
	}
	if n != 0 {
		t.Fatalf("schema %s still exists after cleanup", schema)
	}
}

func TestRedisAddrCleansUpPrefix(t *testing.T) {
	ctx := context.Background()
	var addr, prefix string
	t.Run("inner", func(t *testing.T) {
		addr, prefix = testenv.RedisAddr(t)
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		pipe := c.Pipeline()
		for i := range 1200 { // more than one SCAN/DEL batch
			pipe.Set(ctx, prefix+strconv.Itoa(i), "v", 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("set: %v", err)
		}
		_, other := testenv.RedisAddr(t)
		if other == prefix {
			t.Fatalf("two calls returned the same prefix %q", prefix)
		}
	})
	if prefix == "" {
		return // skipped
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	n := 0
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan: %v", err)
	}
	if n != 0 {
		t.Fatalf("%d keys under %s survived cleanup", n, prefix)
	}
}
