// Package testenv gives tests real PostgreSQL and Redis servers, isolated per
// test: a fresh schema, or a fresh key prefix, removed when the test ends.
//
// When a server cannot be reached the test is skipped with a message naming
// it — unless GATEWAY_TEST_REQUIRE_SERVICES is set (CI sets it), in which
// case the test fails, so that a broken service never turns into a green run.
//
// Addresses (defaults in brackets):
//
//	GATEWAY_TEST_POSTGRES_URL [postgres://postgres@127.0.0.1:5432/test?sslmode=disable]
//	GATEWAY_TEST_REDIS_ADDR   [127.0.0.1:6379]
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Environment variables read by this package.
const (
	EnvPostgresURL     = "GATEWAY_TEST_POSTGRES_URL"
	EnvRedisAddr       = "GATEWAY_TEST_REDIS_ADDR"
	EnvRequireServices = "GATEWAY_TEST_REQUIRE_SERVICES"

	defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	defaultRedisAddr   = "127.0.0.1:6379"

	// connectTimeout bounds the reachability probe, so that a missing
	// server costs a test two seconds, not a hang.
	connectTimeout = 2 * time.Second
)

// PostgresURL creates a schema of its own for t in the test PostgreSQL
// database and returns a URL whose connections use it (search_path), so that
// tests can migrate and write in parallel without seeing each other. The
// schema and everything in it is dropped at t's cleanup.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		base = defaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		unavailable(t, "PostgreSQL", redactURL(base), err)
		return ""
	}
	defer conn.Close(context.Background())

	schema := "t_" + randomHex(t, 8)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testenv: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("testenv: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("testenv: drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testenv: %s is not a URL: %v", EnvPostgresURL, err)
	}
	q := u.Query()
	// pgx sends unknown URL parameters to the server as settings at
	// connection start-up.
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// RedisAddr returns the address of the test Redis server and a key prefix
// unique to t ("gwtest:<random>:"). Every key under the prefix is deleted at
// t's cleanup (SCAN + DEL), so tests must put their keys under it.
func RedisAddr(t testing.TB) (addr, keyPrefix string) {
	t.Helper()
	addr = os.Getenv(EnvRedisAddr)
	if addr == "" {
		addr = defaultRedisAddr
	}
	client := redis.NewClient(&redis.Options{
		Addr:        addr,
		DialTimeout: connectTimeout,
		MaxRetries:  -1,
	})
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		unavailable(t, "Redis", addr, err)
		return "", ""
	}
	keyPrefix = "gwtest:" + randomHex(t, 8) + ":"
	t.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := deleteByPrefix(ctx, client, keyPrefix); err != nil {
			t.Errorf("testenv: delete redis keys %s*: %v", keyPrefix, err)
		}
	})
	return addr, keyPrefix
}

// deleteByPrefix deletes every key starting with prefix. prefix holds no glob
// metacharacters (it is built by RedisAddr).
func deleteByPrefix(ctx context.Context, client *redis.Client, prefix string) error {
	iter := client.Scan(ctx, 0, prefix+"*", 500).Iterator()
	batch := make([]string, 0, 500)
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := client.Del(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return client.Del(ctx, batch...).Err()
	}
	return nil
}

// RequireServices reports whether GATEWAY_TEST_REQUIRE_SERVICES is set.
func RequireServices() bool { return os.Getenv(EnvRequireServices) != "" }

// Unavailable skips t for want of a prerequisite that is not a service (a
// program on PATH, installed packages, a built example), or fails it when
// GATEWAY_TEST_REQUIRE_SERVICES is set, as in CI, where nothing may be
// skipped silently. why says what is missing and how to get it.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if RequireServices() {
		t.Fatalf("%s, and %s is set", why, EnvRequireServices)
	}
	t.Skipf("%s; skipping (set %s to make this a failure)", why, EnvRequireServices)
}

// unavailable skips t, or fails it when services are required.
func unavailable(t testing.TB, what, where string, err error) {
	t.Helper()
	if RequireServices() {
		t.Fatalf("testenv: %s at %s is unreachable and %s is set: %v", what, where, EnvRequireServices, err)
	}
	t.Skipf("testenv: %s at %s is unreachable, skipping (set %s to make this a failure): %v",
		what, where, EnvRequireServices, err)
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// redactURL masks a password in u for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<" + EnvPostgresURL + ">"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if strings.Contains(u.RawQuery, "password") {
		q := u.Query()
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
