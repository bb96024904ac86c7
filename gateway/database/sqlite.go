package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLite pool and lock settings.
//
// SQLite has one writer at a time; in WAL mode readers do not block it nor
// each other. So the pool holds a few connections for concurrent reads
// (logins look users up while a refresh writes), while writes queue on DB.Tx's
// in-process slot, which is cheaper and fairer than letting N connections spin
// on SQLITE_BUSY with SQLite's 1, 2, 5, 10 ... ms back-off.
const (
	sqliteMaxConns = 8
	// sqliteBusyTimeoutMS bounds the wait for another process's write lock.
	sqliteBusyTimeoutMS = 5000
)

// sqlitePragmas run on every new connection. journal_mode=WAL persists in the
// file; the others are per connection. synchronous=NORMAL is durable against
// process crashes in WAL mode and loses at most the last transactions on
// power loss, the usual trade for a WAL database.
var sqlitePragmas = []string{
	fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMS),
	"journal_mode(WAL)",
	"foreign_keys(1)",
	"synchronous(NORMAL)",
}

func openSQLite(ctx context.Context, rawURL string) (*DB, error) {
	path, err := sqlitePath(rawURL)
	if err != nil {
		return nil, err
	}
	if err := prepareSQLiteFile(path); err != nil {
		return nil, err
	}

	q := url.Values{}
	for _, p := range sqlitePragmas {
		q.Add("_pragma", p)
	}
	// Every read-write transaction starts with BEGIN IMMEDIATE (read-only
	// ones stay deferred), so that a transaction that reads, then writes,
	// cannot hit SQLITE_BUSY on the lock upgrade, which busy_timeout does not
	// retry.
	q.Set("_txlock", "immediate")
	sqlDB, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("database: open sqlite %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(sqliteMaxConns)
	sqlDB.SetMaxIdleConns(sqliteMaxConns)
	sqlDB.SetConnMaxLifetime(0) // a local file: nothing to rebalance

	db := &DB{
		DB:        sqlDB,
		Dialect:   SQLite,
		writeSlot: make(chan struct{}, 1),
		redacted:  "sqlite://" + path,
	}
	if err := db.Ping(ctx); err != nil {
		_ = sqlDB.Close() // the Ping error is the one to report
		return nil, fmt.Errorf("database: open sqlite %s: %w", path, err)
	}
	return db, nil
}

// sqlitePath extracts the file path of sqlite://PATH or sqlite:PATH.
func sqlitePath(rawURL string) (string, error) {
	_, rest, _ := strings.Cut(rawURL, ":")
	rest = strings.TrimPrefix(rest, "//")
	if strings.ContainsAny(rest, "?#") {
		return "", errors.New("database: sqlite URL takes no query or fragment: want sqlite://PATH")
	}
	p, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("database: sqlite URL has a bad escape: %w", err)
	}
	if p == "" || p == ":memory:" || strings.HasPrefix(p, "file:") {
		return "", errors.New("database: sqlite URL needs a file path: want sqlite://PATH")
	}
	if strings.ContainsRune(p, 0) {
		return "", errors.New("database: sqlite path contains a NUL byte")
	}
	// A '?' in the decoded path would be taken for the driver's parameters.
	if strings.ContainsRune(p, '?') {
		return "", errors.New("database: sqlite path must not contain '?'")
	}
	return filepath.Clean(p), nil
}

// prepareSQLiteFile creates the parent directory (0700) and an empty database
// file (0600) if they do not exist. SQLite would create the file with 0644
// minus umask, and gives its -wal and -shm companions the database file's
// mode, so creating it first keeps all three private.
func prepareSQLiteFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("database: create directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the operator's storage.database_url
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, fs.ErrExist):
		return nil
	default:
		return fmt.Errorf("database: create %s: %w", path, err)
	}
}
