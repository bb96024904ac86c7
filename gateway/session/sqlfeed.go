package session

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/gateway/gateway/database"
)

// SQLFeed is a Feed on the table revocation_events of the gateway's SQL
// database, for deployments without Redis.
//
// Publish inserts a row; Run polls "seq > last" every PollInterval (200 ms by
// default), so an event reaches every replica within about 200 ms plus a
// query. Rows become visible in seq order: Publish takes database.LockFeed
// on PostgreSQL (whose sequence numbers are otherwise handed out before
// commit, so a poller could step over a row committed late), and SQLite has
// a single writer. A replica that loses the database keeps its cursor and
// reads on from it when the database is back: nothing is missed.
//
// Run's since is compared with the events' At (the publishers' clocks).
// Old rows are removed by Prune; run it periodically.
type SQLFeed struct {
	db   *database.DB
	opts FeedOptions
	q    struct{ insert, cursor, poll, prune string }
}

var _ Feed = (*SQLFeed)(nil)

// NewSQLFeed returns the feed on db, whose schema must be migrated.
func NewSQLFeed(db *database.DB, o FeedOptions) *SQLFeed {
	f := &SQLFeed{db: db, opts: o.withDefaults(200 * time.Millisecond)}
	f.q.insert = db.Rebind(`INSERT INTO revocation_events (kind, user_id, session_id, stamp, at) VALUES (?, ?, ?, ?, ?)`)
	// The cursor before the first event at or after since; with no such
	// event, the current end of the feed. One statement: one snapshot.
	f.q.cursor = db.Rebind(`SELECT COALESCE(
		(SELECT MIN(seq) - 1 FROM revocation_events WHERE at >= ?),
		(SELECT MAX(seq) FROM revocation_events), 0)`)
	f.q.poll = db.Rebind(`SELECT seq, kind, user_id, session_id, stamp, at FROM revocation_events
		WHERE seq > ? ORDER BY seq LIMIT ` + fmt.Sprint(feedBatch))
	f.q.prune = db.Rebind(`DELETE FROM revocation_events WHERE at < ?`)
	return f
}

// Publish implements Feed.
func (f *SQLFeed) Publish(ctx context.Context, e Event) error {
	if !e.Valid() {
		return fmt.Errorf("session: publish: invalid event (kind %q)", e.Kind)
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	err := f.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := f.db.LockFeed(ctx, tx, "revocation_events"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, f.q.insert, string(e.Kind), e.UserID, e.SessionID, e.Stamp,
			f.db.Timestamp(roundMS(e.At)))
		return err
	})
	if err != nil {
		return fmt.Errorf("session: publish revocation: %w", err)
	}
	return nil
}

// Run implements Feed.
func (f *SQLFeed) Run(ctx context.Context, since time.Time, apply func(Event), caughtUp func()) error {
	bo := backoff{max: f.opts.MaxBackoff}
	last := int64(-1)
	for ctx.Err() == nil {
		if last < 0 {
			if err := f.db.QueryRowContext(ctx, f.q.cursor, f.db.Timestamp(since)).Scan(&last); err != nil {
				last = -1
				if ctx.Err() == nil {
					f.opts.Logger.Warn("revocation feed: cannot start; retrying", zap.Error(err))
					bo.wait(ctx)
				}
				continue
			}
		}
		n, err := f.poll(ctx, &last, apply)
		if err != nil {
			if ctx.Err() == nil {
				f.opts.Logger.Warn("revocation feed: poll failed; retrying", zap.Error(err))
				bo.wait(ctx)
			}
			continue
		}
		bo.reset()
		if n == feedBatch {
			continue // more to read at once
		}
		if caughtUp != nil {
			caughtUp()
			caughtUp = nil
		}
		sleep(ctx, f.opts.PollInterval)
	}
	return ctx.Err()
}

// poll delivers the next batch after *last, advances it, and returns the
// number of rows read.
func (f *SQLFeed) poll(ctx context.Context, last *int64, apply func(Event)) (int, error) {
	rows, err := f.db.QueryContext(ctx, f.q.poll, *last)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var batch []Event
	n := 0
	for rows.Next() {
		n++
		var (
			seq  int64
			kind string
			e    Event
		)
		if err := rows.Scan(&seq, &kind, &e.UserID, &e.SessionID, &e.Stamp, msScanner{&e.At}); err != nil {
			return 0, err
		}
		e.Kind = Kind(kind)
		*last = seq
		if !e.Valid() {
			f.opts.Logger.Warn("revocation feed: skipping event", zap.Int64("seq", seq), zap.Error(errMalformedEvent))
			continue
		}
		batch = append(batch, e)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	// Apply after the rows are closed, so that a slow apply never holds a
	// connection (or, on SQLite, a read snapshot) open.
	_ = rows.Close() // rows.Err was checked; Close only releases the connection
	for _, e := range batch {
		apply(e)
	}
	return n, nil
}

// Prune deletes the events older than before and returns how many. Run it
// periodically with before = now - (access TTL + leeway) - some margin
// (an hour is plenty): older events no longer matter to any View.
func (f *SQLFeed) Prune(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := f.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, f.q.prune, f.db.Timestamp(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("session: prune revocations: %w", err)
	}
	return n, nil
}
