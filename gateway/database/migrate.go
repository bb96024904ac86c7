package database

import (
	"context"
	"database/sql/driver"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
)

// migrationsFS holds the schema, one directory per dialect. Files are
// numbered NNNN_name.sql (goose's version is the number); a new table gets
// the next free number in both directories.
//
//go:embed migrations
var migrationsFS embed.FS

// Migrate applies every embedded migration that the database lacks. It is
// idempotent (a second call applies nothing) and safe to run from several
// replicas at once on PostgreSQL: it holds a session advisory lock, keyed by
// the current schema, around goose's work, so one replica migrates while the
// others wait and then find nothing to do. goose's own SessionLocker would do
// too, but it polls with pg_try_advisory_lock every few seconds and uses one
// key for the whole database; a blocking pg_advisory_lock hands over at once.
//
// On SQLite, Migrate queues with the process's writers (see Tx); two
// processes migrating one SQLite file at the same moment are not supported
// (the embedded database is single-node).
//
// A database whose schema is newer than this binary's (a rolling upgrade) is
// left alone.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	unlock, err := db.lockMigrations(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("database: migrate %s: %w", db.Dialect, err)
	}
	return nil
}

// SchemaVersion returns the version the database is at and the newest
// version this binary knows. current < latest means Migrate has work to do.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := db.provider()
	if err != nil {
		return 0, 0, err
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, latest, fmt.Errorf("database: read schema version: %w", err)
	}
	return current, latest, nil
}

func (db *DB) provider() (*goose.Provider, error) {
	dialect := goose.DialectSQLite3
	if db.Dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	sub, err := fs.Sub(migrationsFS, "migrations/"+string(db.Dialect))
	if err != nil {
		return nil, fmt.Errorf("database: migrations for %s: %w", db.Dialect, err)
	}
	p, err := goose.NewProvider(dialect, db.DB, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("database: load migrations: %w", err)
	}
	return p, nil
}

// lockMigrations takes the migration lock and returns its release.
func (db *DB) lockMigrations(ctx context.Context) (unlock func(), err error) {
	if db.Dialect != Postgres {
		select {
		case db.writeSlot <- struct{}{}:
			return func() { <-db.writeSlot }, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// A session lock lives on one connection: hold that connection until
	// the end, and let goose work on others from the pool.
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("database: migration lock: %w", err)
	}
	var key int64
	err = conn.QueryRowContext(ctx,
		`SELECT hashtextextended('authgate.migrate@' || coalesce(current_schema(), ''), 0)`).Scan(&key)
	if err == nil {
		_, err = conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key)
	}
	if err != nil {
		_ = conn.Close() // the lock error is the one to report
		return nil, fmt.Errorf("database: migration lock: %w", err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			// Never return a connection that may still hold the lock to
			// the pool: make database/sql discard it, which ends the
			// session and so releases the lock.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close() // releasing; a failed close drops the connection anyway
	}, nil
}
