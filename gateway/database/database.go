// Package database opens the gateway's SQL database — an embedded SQLite file
// (the default) or PostgreSQL — behind one database/sql handle, and owns its
// schema: the embedded goose migrations in migrations/{sqlite,postgres}.
//
// What it guarantees:
//   - Open accepts sqlite://PATH, postgres:// and postgresql:// URLs. SQLite
//     runs in WAL mode with foreign keys on, a busy timeout, synchronous=NORMAL
//     and a database file created 0600 in a 0700 directory; it uses the pure-Go
//     driver modernc.org/sqlite, so CGO_ENABLED=0 builds work. PostgreSQL goes
//     through pgx's database/sql driver.
//   - Errors and log-safe strings never contain a password: URLs are passed
//     through Redact before they appear anywhere.
//   - Migrate is idempotent and safe when several replicas start at once on
//     PostgreSQL (a session advisory lock per schema serialises them).
//   - Tx runs a read-write transaction. On SQLite, writers queue in-process
//     for the single write lock instead of spinning on SQLITE_BUSY, and each
//     transaction takes the write lock when it begins (BEGIN IMMEDIATE), so a
//     read-then-write transaction cannot fail half-way with "database is
//     locked".
//   - Feeds (append-only tables read with "seq > N", such as the revocation
//     feed) see rows in commit order when writers call LockFeed; see there.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the SQL flavour behind a DB.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open database: a *sql.DB (embedded, so QueryContext, ExecContext
// and friends are available) plus its Dialect.
//
// Queries in this code base are written with '?' placeholders and passed
// through Rebind, which turns them into $1, $2, ... for PostgreSQL.
type DB struct {
	*sql.DB
	Dialect Dialect

	// writeSlot serialises SQLite write transactions inside this process
	// (nil for PostgreSQL). A channel rather than a sync.Mutex so that a
	// waiter gives up when its context ends.
	writeSlot chan struct{}
	// redacted is the URL with any password masked, for messages.
	redacted string
}

// Open connects to the database named by rawURL and checks that it answers.
// It does not migrate: call Migrate.
//
//   - sqlite://PATH (also sqlite:PATH): PATH is relative to the working
//     directory (sqlite://data/gateway.db) or absolute (sqlite:///var/lib/gw.db).
//     Percent-escapes are decoded; query parameters are refused. The parent
//     directory is created 0700 and the file 0600 (it holds password hashes).
//   - postgres://… or postgresql://…: any libpq/pgx URL. One extra query
//     parameter, pool_max_conns, sets the pool size (default 10 per replica);
//     other parameters go to pgx (sslmode, default_query_exec_mode=simple_protocol
//     behind PgBouncer, search_path, statement_timeout, ...).
func Open(ctx context.Context, rawURL string) (*DB, error) {
	scheme, _, ok := strings.Cut(rawURL, ":")
	if !ok {
		return nil, fmt.Errorf("database: URL %q has no scheme: want sqlite://PATH or postgres://HOST/DB", Redact(rawURL))
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		return openSQLite(ctx, rawURL)
	case "postgres", "postgresql":
		return openPostgres(ctx, rawURL)
	default:
		return nil, fmt.Errorf("database: unsupported scheme %q: want sqlite://PATH or postgres://HOST/DB", scheme)
	}
}

// String returns the database URL with any password masked.
func (db *DB) String() string { return db.redacted }

// Name implements the server's readiness check interface.
func (db *DB) Name() string { return "database" }

// Check implements the server's readiness check interface; it is Ping.
func (db *DB) Check(ctx context.Context) error { return db.Ping(ctx) }

// Ping checks that the database answers a query. The error text has no
// password, but the driver's names the user, database and address: fit
// for the log, not for /readyz, which shows only that the check failed.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("database: %s unavailable: %w", db.Dialect, err)
	}
	return nil
}

// Rebind rewrites the '?' placeholders of query into PostgreSQL's $1, $2, ...
// (SQLite takes '?' as is). Question marks inside single-quoted string
// literals, double-quoted identifiers and comments are left alone. Rebind is
// meant to run once per query text, at construction time, not per call.
func (db *DB) Rebind(query string) string {
	if db.Dialect != Postgres {
		return query
	}
	return rebindDollar(query)
}

func rebindDollar(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			// Copy the literal or identifier through its closing quote; a
			// doubled quote is an escaped one and simply reopens it.
			end := strings.IndexByte(q[i+1:], c)
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end+2])
			i += end + 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end+1])
			i += end
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end+4])
			i += end + 3
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Tx runs fn inside a read-write transaction and commits when fn returns nil;
// it rolls back when fn returns an error or panics. fn must use tx, never db,
// for its statements (on SQLite another connection would wait for the write
// lock that this transaction holds).
//
// SQLite allows one writer at a time. Tx makes the writers of this process
// queue on a Go channel (a fair, immediate hand-off) and begins with BEGIN
// IMMEDIATE, so the write lock is taken up front; busy_timeout then only
// arbitrates between processes (for example `gateway user disable` while
// `gateway serve` runs). Plain autocommit statements outside Tx are still
// correct — they wait under busy_timeout — but should be rare.
func (db *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	if db.writeSlot != nil {
		select {
		case db.writeSlot <- struct{}{}:
			defer func() { <-db.writeSlot }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// LockFeed must be called inside Tx by every transaction that appends to the
// feed table named feed, right before the INSERT, so that feed sequence
// numbers become visible in commit order.
//
// Why: a reader polls "rows with seq > last seen". On PostgreSQL, sequence
// numbers are handed out at INSERT but become visible at COMMIT, so without
// ordering a reader could see seq 11, move its cursor past 10 and never see
// 10 when it commits a moment later — a missed revocation. LockFeed takes a
// transaction-scoped advisory lock (per feed and schema), so that whoever draws
// a sequence number commits before the next writer can draw one. Writers to
// one feed are serialised for the short rest of their transaction only.
// SQLite has a single writer already; LockFeed is a no-op there.
func (db *DB) LockFeed(ctx context.Context, tx *sql.Tx, feed string) error {
	if db.Dialect != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx,
		`SELECT pg_advisory_xact_lock(hashtextextended('authgate.feed.' || $1 || '@' || coalesce(current_schema(), ''), 0))`, feed)
	if err != nil {
		return fmt.Errorf("database: lock feed %s: %w", feed, err)
	}
	return nil
}

// IsUniqueViolation reports whether err is a UNIQUE (or primary key)
// constraint violation, for either driver. It inspects the drivers' error
// codes, not their messages.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return false
}

// Timestamp converts t into the value stored in a timestamp column: a UTC
// time.Time for PostgreSQL (timestamptz), and for SQLite fixed-width UTC text
// with microseconds ("2006-01-02T15:04:05.000000Z"), whose text order is time
// order. Both keep microseconds; t is truncated to them, so callers that want
// to return what was stored should truncate too (see Now).
func (db *DB) Timestamp(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if db.Dialect == Postgres {
		return t
	}
	return t.Format(sqliteTimeLayout)
}

// Now returns the current time as the database will store it: UTC,
// truncated to microseconds.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

// ScanTime returns a sql.Scanner that reads a timestamp column written with
// Timestamp, from either dialect, into *dst (in UTC).
func ScanTime(dst *time.Time) sql.Scanner { return timeScanner{dst} }

type timeScanner struct{ dst *time.Time }

func (s timeScanner) Scan(v any) error {
	switch v := v.(type) {
	case time.Time:
		*s.dst = v.UTC()
		return nil
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	default:
		return fmt.Errorf("database: cannot scan %T into a timestamp", v)
	}
}

func (s timeScanner) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("database: bad timestamp %q: %w", v, err)
	}
	*s.dst = t.UTC()
	return nil
}
