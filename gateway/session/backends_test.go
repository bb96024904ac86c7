package session

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/gateway/gateway/database"
	"github.com/authgate/gateway/internal/testenv"
)

// A backend is one real backing store that the contract suites run on. Each
// call of open returns a new handle (its own connection pool or client) on
// the same data, so that tests can act from two "replicas".
type backend struct {
	name string
	// setup prepares a fresh, empty backing store for t.
	setup func(t testing.TB) backendInstance
}

type backendInstance struct {
	openStore func(o Options) Store
	openFeed  func(o FeedOptions) Feed
	// dump returns every stored value of the session tables or keys, as
	// text (binary values both raw and hex-encoded).
	dump func() []string
}

func backends() []backend {
	bs := []backend{
		{name: "sqlite", setup: setupSQLite},
		{name: "postgres", setup: setupPostgres},
		{name: "redis", setup: setupRedis},
	}
	if os.Getenv(envRedisCluster) != "" {
		bs = append(bs, backend{name: "redis-cluster", setup: setupRedisCluster})
	}
	return bs
}

func sqlBackends() []backend { return backends()[:2] }

// envRedisCluster, when set to comma-separated addresses of a Redis Cluster,
// adds a "redis-cluster" backend to the contract suites: it proves that no
// command or script crosses hash slots. CI does not run a cluster; the
// suites' single-node runs cover everything else.
const envRedisCluster = "GATEWAY_TEST_REDIS_CLUSTER"

func setupRedisCluster(t testing.TB) backendInstance {
	addrs := strings.Split(os.Getenv(envRedisCluster), ",")
	prefix := "gwtest:" + newID() + ":"
	client := func() *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		t.Cleanup(func() { c.Close() })
		return c
	}
	admin := client()
	if err := admin.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis cluster %v: %v", addrs, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_ = admin.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			keys, err := c.Keys(ctx, prefix+"*").Result()
			for _, k := range keys {
				c.Del(ctx, k)
			}
			return err
		})
	})
	return backendInstance{
		openStore: func(o Options) Store {
			s, err := NewRedisStore(client(), prefix, o)
			if err != nil {
				t.Fatalf("NewRedisStore: %v", err)
			}
			return s
		},
		openFeed: func(o FeedOptions) Feed { return NewRedisFeed(client(), prefix, o) },
		dump: func() []string {
			var mu sync.Mutex
			var out []string
			_ = admin.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
				d := dumpRedis(t, c, prefix)
				mu.Lock()
				out = append(out, d...)
				mu.Unlock()
				return nil
			})
			return out
		},
	}
}

func setupSQLite(t testing.TB) backendInstance {
	return sqlInstance(t, "sqlite://"+filepath.Join(t.TempDir(), "gateway.db"))
}

func setupPostgres(t testing.TB) backendInstance {
	return sqlInstance(t, testenv.PostgresURL(t))
}

func sqlInstance(t testing.TB, url string) backendInstance {
	t.Helper()
	open := func() *database.DB {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db, err := database.Open(ctx, url)
		if err != nil {
			t.Fatalf("database.Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	first := open()
	if err := first.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	var once sync.Once
	handle := func() *database.DB {
		// The first handle is the migrated one; later ones are new pools.
		var db *database.DB
		once.Do(func() { db = first })
		if db == nil {
			db = open()
		}
		return db
	}
	return backendInstance{
		openStore: func(o Options) Store {
			s, err := NewSQLStore(handle(), o)
			if err != nil {
				t.Fatalf("NewSQLStore: %v", err)
			}
			return s
		},
		openFeed: func(o FeedOptions) Feed { return NewSQLFeed(handle(), o) },
		dump:     func() []string { return dumpSQL(t, first) },
	}
}

func dumpSQL(t testing.TB, db *database.DB) []string {
	t.Helper()
	var out []string
	for _, table := range []string{"sessions", "refresh_tokens", "user_stamps", "revocation_events"} {
		rows, err := db.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					out = append(out, string(b), hex.EncodeToString(b))
					continue
				}
				out = append(out, fmt.Sprint(v))
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		rows.Close()
	}
	return out
}

func setupRedis(t testing.TB) backendInstance {
	addr, prefix := testenv.RedisAddr(t)
	client := func() *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		return c
	}
	admin := client()
	return backendInstance{
		openStore: func(o Options) Store {
			s, err := NewRedisStore(client(), prefix, o)
			if err != nil {
				t.Fatalf("NewRedisStore: %v", err)
			}
			return s
		},
		openFeed: func(o FeedOptions) Feed { return NewRedisFeed(client(), prefix, o) },
		dump:     func() []string { return dumpRedis(t, admin, prefix) },
	}
}

func dumpRedis(t testing.TB, c *redis.Client, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatalf("dump redis: %v", err)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, k)
		switch typ := c.Type(ctx, k).Val(); typ {
		case "string":
			out = append(out, c.Get(ctx, k).Val())
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				out = append(out, f, v)
			}
		case "zset":
			out = append(out, c.ZRange(ctx, k, 0, -1).Val()...)
		case "stream":
			for _, m := range c.XRange(ctx, k, "-", "+").Val() {
				out = append(out, fmt.Sprint(m.Values))
			}
		default:
			t.Fatalf("dump redis: key %s has unexpected type %s", k, typ)
		}
	}
	return out
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: roundMS(time.Now())} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}
