package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authgate/gateway/gateway/database"
)

// SQLStore keeps sessions in the gateway's SQL database (SQLite or
// PostgreSQL), in the tables of migration 0002_sessions: sessions,
// refresh_tokens (hash -> session, generation, issue time) and user_stamps.
//
// Rotate runs in one read-write transaction (database.DB.Tx): on PostgreSQL
// it locks the session row with SELECT ... FOR UPDATE, so a concurrent
// Rotate of the same session waits and then sees the advanced generation; on
// SQLite the transaction begins with BEGIN IMMEDIATE (the database package
// opens SQLite with _txlock=immediate and queues the process's writers), so
// it holds the single write lock from its first read. Either way two
// rotations of one token are serialised: one advances, the other (within
// the grace) gets a sibling.
//
// Revoked and expired sessions stay in the table until Cleanup deletes them
// (their tokens go with them, ON DELETE CASCADE); run Cleanup periodically.
type SQLStore struct {
	db   *database.DB
	opts Options
	q    sqlQueries
}

var _ Store = (*SQLStore)(nil)

// sqlQueries are the statements, rebound once for the dialect.
type sqlQueries struct {
	insertSession, insertToken, rotateLookup, advance, touch, revokeOne string
	undo, deleteToken                                                   string
	get, list, revoke, revokeUser, stamp, bump, cleanup                 string
}

const sessionColumns = `s.id, s.user_id, s.user_agent, s.ip, s.generation, s.created_at,
	s.last_used_at, s.idle_expires_at, s.absolute_expires_at, s.rotated_at`

// liveWhere selects live sessions; its parameters are now, now, now-MaxTTL.
const liveWhere = `s.revoked_at IS NULL AND s.idle_expires_at > ? AND s.absolute_expires_at > ? AND s.created_at > ?`

// deadWhere selects sessions Cleanup may delete; same parameters.
const deadWhere = `s.revoked_at IS NOT NULL OR s.idle_expires_at <= ? OR s.absolute_expires_at <= ? OR s.created_at <= ?`

// cleanupBatch bounds the rows one Cleanup transaction deletes, so that
// SQLite's single write lock is never held for long.
const cleanupBatch = 1000

// NewSQLStore returns a store on db, whose schema must be migrated
// (database.DB.Migrate).
func NewSQLStore(db *database.DB, o Options) (*SQLStore, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	lock := ""
	if db.Dialect == database.Postgres {
		lock = " FOR UPDATE OF s"
	}
	r := db.Rebind
	return &SQLStore{db: db, opts: o, q: sqlQueries{
		insertSession: r(`INSERT INTO sessions (id, user_id, user_agent, ip, generation, created_at,
			last_used_at, idle_expires_at, absolute_expires_at, rotated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		insertToken: r(`INSERT INTO refresh_tokens (hash, session_id, generation, issued_at) VALUES (?, ?, ?, ?)`),
		// The stamp comes from a subquery, not a join: FOR UPDATE then
		// locks the token and session rows only, never the user's stamp.
		rotateLookup: r(`SELECT t.generation, ` + sessionColumns + `,
			CASE WHEN s.revoked_at IS NULL THEN 0 ELSE 1 END,
			COALESCE((SELECT u.stamp FROM user_stamps u WHERE u.user_id = s.user_id), 0)
			FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = ?` + lock),
		advance: r(`UPDATE sessions SET generation = ?, rotated_at = ?, last_used_at = ?,
			idle_expires_at = ?, absolute_expires_at = ? WHERE id = ?`),
		touch:     r(`UPDATE sessions SET last_used_at = ?, idle_expires_at = ?, absolute_expires_at = ? WHERE id = ?`),
		revokeOne: r(`UPDATE sessions SET revoked_at = ? WHERE id = ?`),
		// The compare-and-set of UndoRotate: the row as the advance left
		// it (a later rotation or sibling moves last_used_at), and live.
		undo: r(`UPDATE sessions AS s SET generation = ?, rotated_at = ? WHERE s.id = ? AND s.generation = ?
			AND s.rotated_at = ? AND s.last_used_at = ? AND ` + liveWhere),
		deleteToken: r(`DELETE FROM refresh_tokens WHERE hash = ? AND session_id = ?`),
		get:         r(`SELECT ` + sessionColumns + ` FROM sessions s WHERE s.id = ? AND ` + liveWhere),
		list: r(`SELECT ` + sessionColumns + ` FROM sessions s WHERE s.user_id = ? AND ` + liveWhere +
			` ORDER BY s.created_at DESC, s.id DESC`),
		revoke: r(`UPDATE sessions AS s SET revoked_at = ? WHERE s.id = ? AND ` + liveWhere),
		revokeUser: r(`UPDATE sessions AS s SET revoked_at = ? WHERE s.user_id = ? AND s.id <> ? AND ` + liveWhere +
			` RETURNING id`),
		stamp: r(`SELECT stamp FROM user_stamps WHERE user_id = ?`),
		bump: r(`INSERT INTO user_stamps (user_id, stamp) VALUES (?, 1)
			ON CONFLICT (user_id) DO UPDATE SET stamp = user_stamps.stamp + 1 RETURNING stamp`),
		cleanup: r(`DELETE FROM sessions WHERE id IN (SELECT s.id FROM sessions s WHERE ` + deadWhere +
			` ORDER BY s.id LIMIT ` + fmt.Sprint(cleanupBatch) + `)`),
	}}, nil
}

// liveArgs are liveWhere's (and deadWhere's) parameters.
func (s *SQLStore) liveArgs(now time.Time) []any {
	ts := s.db.Timestamp
	return []any{ts(now), ts(now), ts(now.Add(-s.opts.MaxTTL))}
}

// Create implements Store.
func (s *SQLStore) Create(ctx context.Context, n NewSession, now time.Time) (*Session, string, error) {
	if n.UserID == "" {
		return nil, "", errors.New("session: Create needs a user id")
	}
	now = roundMS(now)
	sess := s.opts.newSession(n, now)
	tok, h := newToken()
	ts := s.db.Timestamp
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.relaxCommit(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.insertSession, sess.ID, sess.UserID, sess.UserAgent, sess.IP,
			sess.Generation, ts(sess.CreatedAt), ts(sess.LastUsedAt), ts(sess.IdleExpiresAt),
			ts(sess.AbsoluteExpiresAt), ts(sess.RotatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q.insertToken, h[:], sess.ID, sess.Generation, ts(now))
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("session: create: %w", err)
	}
	return sess, tok, nil
}

// Rotate implements Store.
func (s *SQLStore) Rotate(ctx context.Context, token string, now time.Time) (*Session, string, error) {
	h, ok := parseToken(token)
	if !ok {
		return nil, "", ErrInvalid
	}
	now = roundMS(now)
	var (
		sess    Session
		newTok  string
		outcome error // ErrInvalid, ErrExpired or ErrReused; committed all the same
	)
	ts := s.db.Timestamp
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var tokenGen int64
		var revoked int
		dst := append([]any{&tokenGen}, sessionDest(&sess)...)
		err := tx.QueryRowContext(ctx, s.q.rotateLookup, h[:]).Scan(append(dst, &revoked, &sess.UserStamp)...)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			outcome = ErrInvalid
			return nil
		case err != nil:
			return err
		case revoked != 0:
			outcome = ErrInvalid
			return nil
		case !s.opts.live(&sess, now):
			outcome = ErrExpired
			return nil
		}
		r := decideRotation(tokenGen, &sess, now, s.opts.ReuseGrace)
		switch r {
		case rotateInvalid:
			outcome = ErrInvalid
			return nil
		case rotateReuse:
			outcome = ErrReused
			_, err := tx.ExecContext(ctx, s.q.revokeOne, ts(now), sess.ID)
			return err
		case rotateAdvance:
			s.opts.apply(&sess, r, now)
			_, err = tx.ExecContext(ctx, s.q.advance, sess.Generation, ts(sess.RotatedAt), ts(sess.LastUsedAt),
				ts(sess.IdleExpiresAt), ts(sess.AbsoluteExpiresAt), sess.ID)
		case rotateSibling:
			s.opts.apply(&sess, r, now)
			_, err = tx.ExecContext(ctx, s.q.touch, ts(sess.LastUsedAt), ts(sess.IdleExpiresAt),
				ts(sess.AbsoluteExpiresAt), sess.ID)
		}
		if err != nil {
			return err
		}
		if err := s.relaxCommit(ctx, tx); err != nil {
			return err
		}
		var newHash tokenHash
		newTok, newHash = newToken()
		_, err = tx.ExecContext(ctx, s.q.insertToken, newHash[:], sess.ID, sess.Generation, ts(now))
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("session: rotate: %w", err)
	}
	if outcome == ErrReused {
		// Name the revoked session, so that the caller can publish its
		// revocation and its access tokens stop too.
		return &Session{ID: sess.ID, UserID: sess.UserID}, "", outcome
	}
	if outcome != nil {
		return nil, "", outcome
	}
	return &sess, newTok, nil
}

// UndoRotate implements Store: one transaction of a conditional UPDATE of
// the session and a DELETE of the new token's record. It commits
// synchronously (no relaxCommit): losing an undo to a crash would bring the
// reuse trap back.
func (s *SQLStore) UndoRotate(ctx context.Context, sess *Session, newToken string, now time.Time) (bool, error) {
	h, ok := parseToken(newToken)
	if sess == nil || !sess.advanced || !ok {
		return false, nil
	}
	now = roundMS(now)
	ts := s.db.Timestamp
	var n int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		args := append([]any{sess.Generation - 1, ts(sess.prevRotatedAt), sess.ID, sess.Generation,
			ts(sess.RotatedAt), ts(sess.LastUsedAt)}, s.liveArgs(now)...)
		res, err := tx.ExecContext(ctx, s.q.undo, args...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q.deleteToken, h[:], sess.ID)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("session: undo rotate: %w", err)
	}
	return n == 1, nil
}

// relaxCommit lets the current PostgreSQL transaction commit without
// waiting for its WAL flush (SET LOCAL synchronous_commit = off). Only
// logins and accepted rotations use it: they are the bulk of the writes,
// and a flush costs a disk sync (milliseconds) per refresh. What a database
// crash can lose is the last few hundred milliseconds of them, and the cost
// of that is a client whose newest token is unknown, who must log in again;
// nothing that was refused becomes accepted. Revocations (Revoke,
// RevokeUser, reuse detection) and stamp bumps stay synchronous: losing one
// would bring a logged-out session back. SQLite (WAL, synchronous=NORMAL)
// has no per-commit sync to skip.
func (s *SQLStore) relaxCommit(ctx context.Context, tx *sql.Tx) error {
	if s.db.Dialect != database.Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`)
	return err
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, id string) (*Session, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	var sess Session
	args := append([]any{id}, s.liveArgs(roundMS(s.opts.Now()))...)
	err := s.db.QueryRowContext(ctx, s.q.get, args...).Scan(sessionDest(&sess)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("session: get: %w", err)
	}
	s.opts.normalize(&sess)
	return &sess, nil
}

// ListByUser implements Store.
func (s *SQLStore) ListByUser(ctx context.Context, userID string) ([]Session, error) {
	args := append([]any{userID}, s.liveArgs(roundMS(s.opts.Now()))...)
	rows, err := s.db.QueryContext(ctx, s.q.list, args...)
	if err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var sess Session
		if err := rows.Scan(sessionDest(&sess)...); err != nil {
			return nil, fmt.Errorf("session: list: %w", err)
		}
		s.opts.normalize(&sess)
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	return out, nil
}

// Revoke implements Store.
func (s *SQLStore) Revoke(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	now := roundMS(s.opts.Now())
	var n int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.revoke, append([]any{s.db.Timestamp(now), id}, s.liveArgs(now)...)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("session: revoke: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// RevokeUser implements Store; one UPDATE ... RETURNING.
func (s *SQLStore) RevokeUser(ctx context.Context, userID, exceptID string) ([]string, error) {
	now := roundMS(s.opts.Now())
	var ids []string
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		ids = ids[:0]
		args := append([]any{s.db.Timestamp(now), userID, exceptID}, s.liveArgs(now)...)
		rows, err := tx.QueryContext(ctx, s.q.revokeUser, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("session: revoke user: %w", err)
	}
	return ids, nil
}

// UserStamp implements Store.
func (s *SQLStore) UserStamp(ctx context.Context, userID string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, s.q.stamp, userID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("session: user stamp: %w", err)
	}
	return n, nil
}

// BumpUserStamp implements Store; one upsert.
func (s *SQLStore) BumpUserStamp(ctx context.Context, userID string) (int64, error) {
	var n int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, s.q.bump, userID).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("session: bump user stamp: %w", err)
	}
	return n, nil
}

// Ping implements Store.
func (s *SQLStore) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// Cleanup deletes the sessions that can no longer be used at now (revoked,
// idle- or absolutely expired) with their refresh tokens, in batches of
// cleanupBatch rows per transaction, and returns how many sessions it
// deleted. Run it periodically (every few minutes) on one or all replicas;
// concurrent runs are harmless.
func (s *SQLStore) Cleanup(ctx context.Context, now time.Time) (int64, error) {
	now = roundMS(now)
	var total int64
	for {
		var n int64
		err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, s.q.cleanup, s.liveArgs(now)...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("session: cleanup: %w", err)
		}
		total += n
		if n < cleanupBatch {
			return total, nil
		}
	}
}

// sessionDest returns Scan destinations for sessionColumns.
func sessionDest(s *Session) []any {
	return []any{&s.ID, &s.UserID, &s.UserAgent, &s.IP, &s.Generation,
		msScanner{&s.CreatedAt}, msScanner{&s.LastUsedAt}, msScanner{&s.IdleExpiresAt},
		msScanner{&s.AbsoluteExpiresAt}, msScanner{&s.RotatedAt}}
}

// msScanner reads a timestamp column (database.ScanTime) rounded to the
// millisecond, like every time this package hands out.
type msScanner struct{ dst *time.Time }

func (m msScanner) Scan(v any) error {
	if err := database.ScanTime(m.dst).Scan(v); err != nil {
		return err
	}
	*m.dst = roundMS(*m.dst)
	return nil
}
