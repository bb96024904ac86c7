package database_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/gateway/gateway/database"
	"github.com/authgate/gateway/internal/testenv"
)

// dialects runs fn once per dialect with a fresh, unmigrated database.
func dialects(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, "sqlite://"+filepath.Join(t.TempDir(), "gw.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, testenv.PostgresURL(t))
	})
}

func open(t *testing.T, url string) *database.DB {
	t.Helper()
	db, err := database.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenSQLiteRelativePathCreatesPrivateFiles(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	db := open(t, "sqlite://data/sub/gateway.db")
	if db.Dialect != database.SQLite {
		t.Fatalf("Dialect = %q, want sqlite", db.Dialect)
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(dir, "data", "sub"):               0o700 | os.ModeDir,
		filepath.Join(dir, "data", "sub", "gateway.db"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if fi.Mode() != want {
			t.Errorf("%s mode %v, want %v", path, fi.Mode(), want)
		}
	}
	if got := db.String(); got != "sqlite://data/sub/gateway.db" {
		t.Errorf("String() = %q", got)
	}
}

func TestOpenSQLiteAbsolutePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "abs", "gw.db")
	open(t, "sqlite://"+path) // "sqlite:///tmp/..."
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created at %s: %v", path, err)
	}
	open(t, "sqlite:"+path) // the short form names the same file
}

// Every pooled connection, not just the first, carries the pragmas.
func TestOpenSQLitePragmasOnEveryConnection(t *testing.T) {
	db := open(t, "sqlite://"+filepath.Join(t.TempDir(), "gw.db"))
	ctx := context.Background()
	var conns []*sql.Conn
	for range 4 {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatalf("Conn: %v", err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"foreign_keys": "1",
			"synchronous":  "1", // NORMAL
			"busy_timeout": "5000",
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("conn %d PRAGMA %s: %v", i, pragma, err)
			}
			if got != want {
				t.Errorf("conn %d PRAGMA %s = %s, want %s", i, pragma, got, want)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestOpenRefusesBadURLsWithoutLeakingPasswords(t *testing.T) {
	const secret = "s3cr3t-pw"
	for _, tc := range []struct {
		name, url, wantErr string
	}{
		{"unknown scheme", "mysql://u:" + secret + "@localhost/db", "unsupported scheme"},
		{"no scheme", "data/gateway.db", "has no scheme"},
		{"sqlite without path", "sqlite://", "needs a file path"},
		{"sqlite memory", "sqlite://:memory:", "needs a file path"},
		{"sqlite query", "sqlite://data/gw.db?mode=ro", "takes no query"},
		{"sqlite escaped question mark", "sqlite://data/g%3Fw.db", "must not contain '?'"},
		{"postgres bad port", "postgres://u:" + secret + "@127.0.0.1:notaport/db", "invalid PostgreSQL URL"},
		{"postgres bad pool size", "postgres://u:" + secret + "@127.0.0.1/db?pool_max_conns=x", "pool_max_conns"},
		{"postgres closed port", "postgres://u:" + secret + "@127.0.0.1:1/db?connect_timeout=2", "connect to postgres://u:xxxxx@127.0.0.1:1/db"},
		{"postgres password param", "postgresql://u@127.0.0.1:1/db?password=" + secret + "&connect_timeout=2", "connect to"},
		{"postgres password with slash", "postgres://u:" + secret + "/x@127.0.0.1:1/db", "database:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			db, err := database.Open(ctx, tc.url)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", tc.url)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:pw@host:5432/db?sslmode=disable", "postgres://u:xxxxx@host:5432/db?sslmode=disable"},
		{"postgres://u@host/db", "postgres://u@host/db"},
		{"postgres://host/db?password=pw&sslmode=require", "postgres://host/db?password=xxxxx&sslmode=require"},
		{"postgres://u:p%40ss@host/db", "postgres://u:xxxxx@host/db"},
		{"postgres://u:pw@host:bad/db", "postgres://u:xxxxx@host:bad/db"},
		{"postgres://u:p/w@host:1/db", "postgres://u:xxxxx@host:1/db"},
		{"sqlite://data/gateway.db", "sqlite://data/gateway.db"},
		{"garbage password=pw", "<unparseable database URL>"},
	} {
		if got := database.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(database.Redact(tc.in), "pw") && strings.Contains(tc.in, ":pw") {
			t.Errorf("Redact(%q) leaks the password", tc.in)
		}
	}
}

func TestRebind(t *testing.T) {
	pg := &database.DB{Dialect: database.Postgres}
	lite := &database.DB{Dialect: database.SQLite}
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{"INSERT INTO t VALUES (?, '?', ?)", "INSERT INTO t VALUES ($1, '?', $2)"},
		{"SELECT 'it''s ?', ? FROM \"we?ird\"", "SELECT 'it''s ?', $1 FROM \"we?ird\""},
		{"SELECT ? -- what?\n, ?", "SELECT $1 -- what?\n, $2"},
		{"SELECT /* ? */ ?", "SELECT /* ? */ $1"},
		{"SELECT '?", "SELECT '?"},
	} {
		if got := pg.Rebind(tc.in); got != tc.want {
			t.Errorf("Rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := lite.Rebind(tc.in); got != tc.in {
			t.Errorf("SQLite Rebind(%q) = %q, want it unchanged", tc.in, got)
		}
	}
}

func TestPing(t *testing.T) {
	dialects(t, func(t *testing.T, url string) {
		db := open(t, url)
		if err := db.Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if db.Name() != "database" || db.Check(context.Background()) != nil {
			t.Fatalf("readiness check: %q %v", db.Name(), db.Check(context.Background()))
		}
		db.Close()
		if err := db.Ping(context.Background()); err == nil {
			t.Fatal("Ping on a closed database succeeded")
		}
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	dialects(t, func(t *testing.T, url string) {
		db := open(t, url)
		ctx := context.Background()
		cur, latest, err := db.SchemaVersion(ctx)
		if err != nil {
			t.Fatalf("SchemaVersion before: %v", err)
		}
		if cur != 0 || latest < 1 {
			t.Fatalf("before Migrate: version %d of %d, want 0 of >= 1", cur, latest)
		}
		for i := range 2 {
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("Migrate #%d: %v", i+1, err)
			}
		}
		cur, latest, err = db.SchemaVersion(ctx)
		if err != nil || cur != latest {
			t.Fatalf("after Migrate: version %d of %d, %v", cur, latest, err)
		}
		for _, table := range []string{"users", "revocation_events"} {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				t.Errorf("table %s: %v", table, err)
			}
		}
		// The account change feed is gone: revocations travel on
		// revocation_events only.
		if _, err := db.ExecContext(ctx, "SELECT 1 FROM user_changes"); err == nil {
			t.Error("table user_changes exists; revocation_events is the only feed")
		}
		// A second handle (another replica) finds nothing to do.
		if err := open(t, url).Migrate(ctx); err != nil {
			t.Fatalf("Migrate from a second handle: %v", err)
		}
	})
}

// Replicas that start together all migrate at once; none may fail.
func TestMigrateConcurrently(t *testing.T) {
	dialects(t, func(t *testing.T, url string) {
		ctx := context.Background()
		handles := []*database.DB{open(t, url)}
		if strings.HasPrefix(url, "postgres") {
			// Separate pools, as separate replicas would have. (Two
			// processes on one SQLite file are not supported.)
			handles = append(handles, open(t, url), open(t, url))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := range 6 {
			db := handles[i%len(handles)]
			wg.Go(func() { errs <- db.Migrate(ctx) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent Migrate: %v", err)
			}
		}
		cur, latest, err := handles[0].SchemaVersion(ctx)
		if err != nil || cur != latest {
			t.Fatalf("after concurrent Migrate: version %d of %d, %v", cur, latest, err)
		}
		// Each migration was recorded once.
		var applied, distinct int
		err = handles[0].QueryRowContext(ctx,
			"SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0").Scan(&applied, &distinct)
		if err != nil || applied != distinct || int64(applied) != latest {
			t.Fatalf("goose_db_version: %d rows, %d versions, latest %d, %v", applied, distinct, latest, err)
		}
	})
}

func TestIsUniqueViolation(t *testing.T) {
	dialects(t, func(t *testing.T, url string) {
		db := open(t, url)
		ctx := context.Background()
		mustExec(t, db, "CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT UNIQUE)")
		mustExec(t, db, "INSERT INTO u (id, email) VALUES (1, 'a')")
		_, err := db.ExecContext(ctx, "INSERT INTO u (id, email) VALUES (2, 'a')")
		if !database.IsUniqueViolation(err) {
			t.Errorf("duplicate email: IsUniqueViolation(%v) = false", err)
		}
		_, err = db.ExecContext(ctx, "INSERT INTO u (id, email) VALUES (1, 'b')")
		if !database.IsUniqueViolation(err) {
			t.Errorf("duplicate primary key: IsUniqueViolation(%v) = false", err)
		}
		_, err = db.ExecContext(ctx, "INSERT INTO nope VALUES (1)")
		if err == nil || database.IsUniqueViolation(err) {
			t.Errorf("missing table: IsUniqueViolation(%v) = true", err)
		}
		if database.IsUniqueViolation(nil) || database.IsUniqueViolation(errors.New("UNIQUE constraint failed")) {
			t.Error("IsUniqueViolation judges by message")
		}
		// Wrapped errors are recognised.
		_, err = db.ExecContext(ctx, "INSERT INTO u (id, email) VALUES (3, 'a')")
		if !database.IsUniqueViolation(fmt.Errorf("create: %w", err)) {
			t.Errorf("wrapped: IsUniqueViolation(%v) = false", err)
		}
	})
}

func TestTxCommitsAndRollsBack(t *testing.T) {
	dialects(t, func(t *testing.T, url string) {
		db := open(t, url)
		ctx := context.Background()
		mustExec(t, db, "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
		insert := db.Rebind("INSERT INTO kv (k, v) VALUES (?, ?)")

		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, insert, "committed", 1)
			return err
		}); err != nil {
			t.Fatalf("Tx: %v", err)
		}
		boom := errors.New("boom")
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, insert, "failed", 1); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("Tx error %v, want boom", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("panic inside Tx was swallowed")
				}
			}()
			_ = db.Tx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, insert, "panicked", 1); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		var keys []string
		rows, err := db.QueryContext(ctx, "SELECT k FROM kv ORDER BY k")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			rows.Scan(&k)
			keys = append(keys, k)
		}
		if strings.Join(keys, ",") != "committed" {
			t.Fatalf("rows after commit, error and panic: %v, want [committed]", keys)
		}
		// The write slot was released by the failed and panicked Tx.
		ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := db.Tx(ctx2, func(*sql.Tx) error { return nil }); err != nil {
			t.Fatalf("Tx after a panic: %v", err)
		}
	})
}

// Read-modify-write transactions from many goroutines neither fail with
// "database is locked" nor lose updates.
func TestTxConcurrentReadModifyWrite(t *testing.T) {
	dialects(t, func(t *testing.T, url string) {
		db := open(t, url)
		ctx := context.Background()
		mustExec(t, db, "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
		mustExec(t, db, "INSERT INTO counter (id, n) VALUES (1, 0)")
		sel := "SELECT n FROM counter WHERE id = 1"
		if db.Dialect == database.Postgres {
			sel += " FOR UPDATE"
		}
		upd := db.Rebind("UPDATE counter SET n = ? WHERE id = 1")
		const workers, rounds = 8, 15
		var wg sync.WaitGroup
		errs := make(chan error, workers*rounds)
		for range workers {
			wg.Go(func() {
				for range rounds {
					errs <- db.Tx(ctx, func(tx *sql.Tx) error {
						var n int
						if err := tx.QueryRowContext(ctx, sel).Scan(&n); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, upd, n+1)
						return err
					})
				}
			})
		}
		// Readers outside transactions run meanwhile.
		for range 50 {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1").Scan(&n); err != nil {
				t.Errorf("concurrent read: %v", err)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("Tx: %v", err)
			}
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1").Scan(&n); err != nil || n != workers*rounds {
			t.Fatalf("counter = %d, %v; want %d", n, err, workers*rounds)
		}
	})
}

// A waiter for the SQLite write slot gives up with its context.
func TestTxHonoursContextWhileQueued(t *testing.T) {
	db := open(t, "sqlite://"+filepath.Join(t.TempDir(), "gw.db"))
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Tx(context.Background(), func(*sql.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := db.Tx(ctx, func(*sql.Tx) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued Tx error %v, want DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("holder Tx: %v", err)
	}
}

// Writers that call LockFeed make a "seq > last" poller see every row: none
// is skipped because a lower seq committed after a higher one.
func TestLockFeedPollerSeesEveryRow(t *testing.T) {
	dialects(t, func(t *testing.T, url string) {
		db := open(t, url)
		ctx := context.Background()
		if db.Dialect == database.Postgres {
			mustExec(t, db, "CREATE TABLE feed (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, w INTEGER NOT NULL)")
		} else {
			mustExec(t, db, "CREATE TABLE feed (seq INTEGER PRIMARY KEY AUTOINCREMENT, w INTEGER NOT NULL)")
		}
		insert := db.Rebind("INSERT INTO feed (w) VALUES (?)")
		poll := db.Rebind("SELECT seq FROM feed WHERE seq > ? ORDER BY seq")
		const writers, rows = 6, 25
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for range rows {
					err := db.Tx(ctx, func(tx *sql.Tx) error {
						if err := db.LockFeed(ctx, tx, "feed"); err != nil {
							return err
						}
						if _, err := tx.ExecContext(ctx, insert, w); err != nil {
							return err
						}
						time.Sleep(time.Duration(w%3) * time.Millisecond) // widen the race
						return nil
					})
					if err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
				}
			})
		}
		stop := make(chan struct{})
		go func() { wg.Wait(); close(stop) }()
		seen := map[int64]bool{}
		var last int64
		pollOnce := func() {
			r, err := db.QueryContext(ctx, poll, last)
			if err != nil {
				t.Fatalf("poll: %v", err)
			}
			defer r.Close()
			for r.Next() {
				var seq int64
				r.Scan(&seq)
				seen[seq] = true
				last = seq
			}
		}
		for running := true; running; {
			select {
			case <-stop:
				running = false
			default:
			}
			pollOnce()
		}
		pollOnce()
		if len(seen) != writers*rows {
			t.Fatalf("poller saw %d rows, want %d: a row committed behind the cursor", len(seen), writers*rows)
		}
	})
}

func TestTimestampRoundTrip(t *testing.T) {
	dialects(t, func(t *testing.T, url string) {
		db := open(t, url)
		ctx := context.Background()
		col := "TEXT"
		if db.Dialect == database.Postgres {
			col = "TIMESTAMPTZ"
		}
		mustExec(t, db, "CREATE TABLE ts (id INTEGER PRIMARY KEY, at "+col+" NOT NULL)")
		in := time.Date(2031, 2, 3, 4, 5, 6, 789123456, time.FixedZone("X", 5*3600))
		want := in.UTC().Truncate(time.Microsecond)
		if _, err := db.ExecContext(ctx, db.Rebind("INSERT INTO ts (id, at) VALUES (1, ?)"), db.Timestamp(in)); err != nil {
			t.Fatal(err)
		}
		var got time.Time
		if err := db.QueryRowContext(ctx, "SELECT at FROM ts").Scan(database.ScanTime(&got)); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Fatalf("round trip %v, want %v (UTC)", got, want)
		}
		if now := database.Now(); now.Location() != time.UTC || now.Nanosecond()%1000 != 0 {
			t.Fatalf("Now() = %v, want UTC microseconds", now)
		}
	})
}

func mustExec(t *testing.T, db *database.DB, q string) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
