package database

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL pool settings for one gateway replica.
//
// The gateway's database work is short statements (a user lookup per login,
// a row per refresh with SQL sessions, the revocation-feed poll), and password
// hashing — the slow part of a login — happens outside any connection. Ten
// connections per replica keep 2×CPU concurrent logins plus the feed poller
// busy without queueing, and leave room for ten replicas under PostgreSQL's
// default max_connections of 100. Override with ?pool_max_conns=N.
const (
	pgDefaultMaxConns = 10
	pgConnMaxIdleTime = 5 * time.Minute
	// pgConnMaxLifetime recycles connections so that a replica reconnects
	// to a new primary or a rebalanced pooler within this time.
	pgConnMaxLifetime = 30 * time.Minute
)

func openPostgres(ctx context.Context, rawURL string) (*DB, error) {
	redacted := Redact(rawURL)
	connURL, maxConns, err := takePoolParams(rawURL)
	if err != nil {
		return nil, fmt.Errorf("database: %s: %w", redacted, err)
	}
	cfg, err := pgx.ParseConfig(connURL)
	if err != nil {
		return nil, fmt.Errorf("database: invalid PostgreSQL URL %s: %s", redacted, safeReason(err, rawURL))
	}
	sqlDB := stdlib.OpenDB(*cfg)
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	sqlDB.SetConnMaxIdleTime(pgConnMaxIdleTime)
	sqlDB.SetConnMaxLifetime(pgConnMaxLifetime)

	db := &DB{DB: sqlDB, Dialect: Postgres, redacted: redacted}
	if err := db.Ping(ctx); err != nil {
		_ = sqlDB.Close() // the Ping error is the one to report
		return nil, fmt.Errorf("database: connect to %s: %s", redacted, safeReason(err, rawURL))
	}
	return db, nil
}

// takePoolParams removes the gateway's own pool_max_conns parameter from the
// URL (pgx would send it to the server as a setting, which fails) and
// returns its value, or the default.
func takePoolParams(rawURL string) (string, int, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Let pgx report the syntax problem (its messages are redacted).
		return rawURL, pgDefaultMaxConns, nil
	}
	q := u.Query()
	v := q.Get("pool_max_conns")
	if v == "" {
		return rawURL, pgDefaultMaxConns, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 2 || n > 1000 {
		// At least 2: Migrate holds one connection for its lock while
		// goose works on another.
		return "", 0, fmt.Errorf("pool_max_conns must be an integer from 2 to 1000, not %q", v)
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, nil
}

// safeReason returns err's text unless it would reveal the URL's password,
// in which case a generic text.
func safeReason(err error, rawURL string) string {
	var pe *url.Error
	if errors.As(err, &pe) {
		err = pe.Err
	}
	msg := err.Error()
	if pw := passwordOf(rawURL); pw != "" && strings.Contains(msg, pw) {
		return "malformed URL or connection failure (details withheld: they contain the password)"
	}
	return msg
}

// Redact returns rawURL with the password (user info or a password query
// parameter) replaced by "xxxxx". It never fails: an unparseable URL is masked
// by hand.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return redactByHand(rawURL)
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactByHand masks "scheme://user:SECRET@host..." when url.Parse failed.
// The user info is taken to end at the last '@' before any query, so that an
// unescaped '/' or '@' inside the password is masked too.
func redactByHand(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		if strings.ContainsAny(s, "@ ") || strings.Contains(s, "password") {
			return "<unparseable database URL>"
		}
		return s
	}
	user, pw, at := splitUserInfo(s[i+3:])
	if pw == "" {
		if strings.Contains(s, "password") {
			return "<unparseable database URL>"
		}
		return s
	}
	return s[:i+3] + user + ":xxxxx" + s[i+3+at:]
}

// splitUserInfo returns the user and password of an authority-and-rest
// string and the index of the '@' that ends the user info.
func splitUserInfo(rest string) (user, pw string, at int) {
	head := rest
	if end := strings.IndexAny(head, "?#"); end >= 0 {
		head = head[:end]
	}
	at = strings.LastIndex(head, "@")
	if at < 0 {
		return "", "", -1
	}
	user, pw, _ = strings.Cut(head[:at], ":")
	return user, pw, at
}

// passwordOf extracts the password of rawURL, best effort.
func passwordOf(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
		return u.Query().Get("password")
	}
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return ""
	}
	_, pw, _ := splitUserInfo(rawURL[i+3:])
	return pw
}
