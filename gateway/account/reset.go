package account

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"time"

	"github.com/authgate/gateway/gateway/database"
)

// ErrResetInvalid is the one answer for a password reset token that cannot
// be used: unknown, expired, used already, voided by a change of the
// account's password or email, or of a disabled account. The cases are not
// told apart, to the client or to the caller.
var ErrResetInvalid = errors.New("account: reset token is unknown, expired, used or void")

// ResetStore keeps password reset tokens in the password_resets table of
// migration 0003, beside the users they reset. It stores only a hash of
// each token (the caller hashes; see HashResetToken) and is safe for
// concurrent use by any number of replicas.
//
// Guarantees:
//   - A token resets a password at most once: ConsumeReset deletes its row
//     in the transaction that sets the password, so of concurrent consumers
//     exactly one succeeds.
//   - A token is void once the user's password hash or email differs from
//     what it was when the token was made, whatever changed them (a password
//     change, another reset, an administrator, the command line): each row
//     carries a fingerprint of both, compared on use.
//   - A successful reset voids every other token of the user.
type ResetStore struct {
	db *database.DB
	q  resetQueries
}

type resetQueries struct {
	userForToken, insert, deleteExpired, takeToken, userForUpdate, setPassword, deleteUser, check string
}

// NewResetStore returns a store on db, which must be migrated (db.Migrate).
func NewResetStore(db *database.DB) *ResetStore {
	forUpdate := ""
	if db.Dialect == database.Postgres {
		forUpdate = " FOR UPDATE"
	}
	r := db.Rebind
	return &ResetStore{db: db, q: resetQueries{
		userForToken:  r(`SELECT email, password_hash, disabled FROM users WHERE id = ?`),
		insert:        r(`INSERT INTO password_resets (token_hash, user_id, fingerprint, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`),
		deleteExpired: r(`DELETE FROM password_resets WHERE expires_at <= ?`),
		// DELETE ... RETURNING: the row goes to exactly one transaction, the
		// others find nothing (both databases lock the row for the delete).
		takeToken:     r(`DELETE FROM password_resets WHERE token_hash = ? RETURNING user_id, fingerprint, expires_at`),
		userForUpdate: r(`SELECT email, password_hash, disabled FROM users WHERE id = ?` + forUpdate),
		setPassword:   r(`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`),
		deleteUser:    r(`DELETE FROM password_resets WHERE user_id = ?`),
		check: r(`SELECT r.user_id, r.fingerprint, r.expires_at, u.email, u.password_hash, u.disabled
			FROM password_resets r JOIN users u ON u.id = r.user_id WHERE r.token_hash = ?`),
	}}
}

// HashResetToken is the form a reset token is stored and looked up in.
func HashResetToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// fingerprint ties a token to the account's email and password hash as they
// were when it was made.
func fingerprint(email, passwordHash string) []byte {
	h := sha256.Sum256([]byte(email + "\x00" + passwordHash))
	return h[:]
}

// CreateReset stores a token (its hash, 32 bytes) for the user, usable
// until expires. Expired tokens of every user are deleted on the way.
// ErrNotFound if there is no such user.
func (s *ResetStore) CreateReset(ctx context.Context, userID string, tokenHash []byte, now, expires time.Time) error {
	id, ok := canonicalID(userID)
	if !ok {
		return ErrNotFound
	}
	if len(tokenHash) != sha256.Size {
		return errors.New("account: create reset: the token hash must be 32 bytes")
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var email, hash string
		var disabled bool
		if err := tx.QueryRowContext(ctx, s.q.userForToken, id).Scan(&email, &hash, &disabled); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.deleteExpired, s.db.Timestamp(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q.insert, tokenHash, id, fingerprint(email, hash),
			s.db.Timestamp(now), s.db.Timestamp(expires))
		return err
	})
	return wrap("create reset token", err)
}

// CheckReset returns the id of the user whose password the token would
// reset at now, or ErrResetInvalid. It changes nothing.
func (s *ResetStore) CheckReset(ctx context.Context, tokenHash []byte, now time.Time) (string, error) {
	var t resetRow
	var email, hash string
	var disabled bool
	err := s.db.QueryRowContext(ctx, s.q.check, tokenHash).Scan(&t.userID, &t.fingerprint,
		database.ScanTime(&t.expires), &email, &hash, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrResetInvalid
	}
	if err != nil {
		return "", wrap("check reset token", err)
	}
	if !t.valid(now, email, hash, disabled) {
		return "", ErrResetInvalid
	}
	return t.userID, nil
}

// ConsumeReset uses the token: if it is valid at now, the user's password
// hash becomes newHash and every reset token of the user, this one
// included, is deleted, in one transaction. It returns the user's id, or
// ErrResetInvalid. Sessions are the caller's business (gateway/auth ends
// them all).
func (s *ResetStore) ConsumeReset(ctx context.Context, tokenHash []byte, newHash string, now time.Time) (string, error) {
	var userID string
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var t resetRow
		err := tx.QueryRowContext(ctx, s.q.takeToken, tokenHash).Scan(&t.userID, &t.fingerprint, database.ScanTime(&t.expires))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrResetInvalid
		}
		if err != nil {
			return err
		}
		var email, hash string
		var disabled bool
		err = tx.QueryRowContext(ctx, s.q.userForUpdate, t.userID).Scan(&email, &hash, &disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrResetInvalid
		}
		if err != nil {
			return err
		}
		// An invalid token rolls back its deletion: harmless, it stays
		// invalid, and expired rows are swept by CreateReset.
		if !t.valid(now, email, hash, disabled) {
			return ErrResetInvalid
		}
		if _, err := tx.ExecContext(ctx, s.q.setPassword, newHash, s.db.Timestamp(now), t.userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.deleteUser, t.userID); err != nil {
			return err
		}
		userID = t.userID
		return nil
	})
	if errors.Is(err, ErrResetInvalid) {
		return "", err
	}
	return userID, wrap("consume reset token", err)
}

type resetRow struct {
	userID      string
	fingerprint []byte
	expires     time.Time
}

// valid reports whether the token is unexpired at now and still matches
// the account, which is enabled.
func (t resetRow) valid(now time.Time, email, passwordHash string, disabled bool) bool {
	return now.Before(t.expires) && !disabled &&
		subtle.ConstantTimeCompare(t.fingerprint, fingerprint(email, passwordHash)) == 1
}
