package account

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"

	"github.com/authgate/gateway/gateway/database"
)

// SQLStore keeps users in the users table of migration 0001. It is safe for
// concurrent use, by any number of replicas.
type SQLStore struct {
	db *database.DB
	q  queries
}

const userColumns = "id, email, name, password_hash, roles, disabled, created_at, updated_at"

// queries are rebound for the dialect once, in NewSQLStore.
type queries struct {
	insertUser, byID, byIDForUpdate, byEmail, updateUser, setPassword,
	replacePassword, count string
}

// NewSQLStore returns a store on db, which must be migrated (db.Migrate).
func NewSQLStore(db *database.DB) *SQLStore {
	forUpdate := ""
	if db.Dialect == database.Postgres {
		// SQLite's BEGIN IMMEDIATE already holds the only write lock.
		forUpdate = " FOR UPDATE"
	}
	r := db.Rebind
	return &SQLStore{db: db, q: queries{
		insertUser:      r(`INSERT INTO users (` + userColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		byID:            r(`SELECT ` + userColumns + ` FROM users WHERE id = ?`),
		byIDForUpdate:   r(`SELECT ` + userColumns + ` FROM users WHERE id = ?` + forUpdate),
		byEmail:         r(`SELECT ` + userColumns + ` FROM users WHERE email = ?`),
		updateUser:      r(`UPDATE users SET email = ?, name = ?, roles = ?, disabled = ?, updated_at = ? WHERE id = ?`),
		setPassword:     r(`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`),
		replacePassword: r(`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?`),
		count:           `SELECT count(*) FROM users`,
	}}
}

// Create stores a new user from u's Email, Name, PasswordHash, Roles and
// Disabled, and returns it with its new ID and timestamps (u.ID, CreatedAt
// and UpdatedAt are ignored). The email is normalised (an *EmailError if it
// is not a valid address); ErrEmailTaken if another user has it; roles are
// checked (ErrInvalidRole) and de-duplicated.
func (s *SQLStore) Create(ctx context.Context, u User) (User, error) {
	email, err := NormalizeEmail(u.Email)
	if err != nil {
		return User{}, err
	}
	roles, err := normalizeRoles(u.Roles)
	if err != nil {
		return User{}, err
	}
	rolesJSON, err := json.Marshal(roles)
	if err != nil {
		return User{}, err
	}
	now := database.Now()
	out := User{
		ID:           uuid.NewString(),
		Email:        email,
		Name:         u.Name,
		PasswordHash: u.PasswordHash,
		Roles:        roles,
		Disabled:     u.Disabled,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	// Through Tx, as every write: on SQLite it queues for the write lock.
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q.insertUser, out.ID, out.Email, out.Name, out.PasswordHash,
			string(rolesJSON), out.Disabled, s.db.Timestamp(now), s.db.Timestamp(now))
		if database.IsUniqueViolation(err) {
			return ErrEmailTaken
		}
		return err
	})
	if err != nil {
		return User{}, wrap("create user", err)
	}
	return out, nil
}

// ByID returns the user with that id, or ErrNotFound.
func (s *SQLStore) ByID(ctx context.Context, id string) (User, error) {
	id, ok := canonicalID(id)
	if !ok {
		return User{}, ErrNotFound
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q.byID, id))
	return u, wrap("get user", err)
}

// ByEmail normalises email and returns its user, or ErrNotFound — also when
// email is not a valid address (no user can have it), so that a login
// handler has one "no such user" case to treat in constant time.
func (s *SQLStore) ByEmail(ctx context.Context, email string) (User, error) {
	normalized, err := NormalizeEmail(email)
	if err != nil {
		return User{}, ErrNotFound
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q.byEmail, normalized))
	return u, wrap("get user by email", err)
}

// Update applies the non-nil fields of p to the user and returns the result.
// Errors: ErrNotFound; *EmailError or ErrInvalidRole for invalid values;
// ErrEmailTaken when the new email belongs to another user. UpdatedAt
// advances only when a field's value actually changes; a patch that changes
// nothing writes nothing.
func (s *SQLStore) Update(ctx context.Context, id string, p Patch) (User, error) {
	id, ok := canonicalID(id)
	if !ok {
		return User{}, ErrNotFound
	}
	var email string
	var roles []string
	var err error
	if p.Email != nil {
		if email, err = NormalizeEmail(*p.Email); err != nil {
			return User{}, err
		}
	}
	if p.Roles != nil {
		if roles, err = normalizeRoles(*p.Roles); err != nil {
			return User{}, err
		}
	}
	var out User
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, s.q.byIDForUpdate, id))
		if err != nil {
			return err
		}
		changed := false
		if p.Email != nil && email != u.Email {
			u.Email = email
			changed = true
		}
		if p.Name != nil && *p.Name != u.Name {
			u.Name = *p.Name
			changed = true
		}
		if p.Roles != nil && !slices.Equal(roles, u.Roles) {
			u.Roles = roles
			changed = true
		}
		if p.Disabled != nil && *p.Disabled != u.Disabled {
			u.Disabled = *p.Disabled
			changed = true
		}
		if !changed {
			out = u
			return nil
		}
		rolesJSON, err := json.Marshal(u.Roles)
		if err != nil {
			return err
		}
		u.UpdatedAt = database.Now()
		_, err = tx.ExecContext(ctx, s.q.updateUser, u.Email, u.Name, string(rolesJSON), u.Disabled,
			s.db.Timestamp(u.UpdatedAt), u.ID)
		if err != nil {
			if database.IsUniqueViolation(err) {
				return ErrEmailTaken
			}
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return User{}, wrap("update user", err)
	}
	return out, nil
}

// SetPasswordHash replaces the user's password hash (a password change or
// reset). It does not end the user's sessions: the caller does, through the
// session package (gateway/auth does). ErrNotFound if there is no such user.
func (s *SQLStore) SetPasswordHash(ctx context.Context, id, hash string) error {
	id, ok := canonicalID(id)
	if !ok {
		return ErrNotFound
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.setPassword, hash, s.db.Timestamp(database.Now()), id)
		return oneRow(res, err)
	})
	return wrap("set password", err)
}

// ReplacePasswordHash swaps oldHash for newHash if the user's hash is still
// oldHash, and reports whether it did. It is for the transparent rehash at
// login when hashing parameters change: the password itself is unchanged,
// so no session needs to end, and the compare-and-swap keeps a concurrent
// password change from being overwritten by a stale rehash. ErrNotFound if
// there is no such user.
func (s *SQLStore) ReplacePasswordHash(ctx context.Context, id, oldHash, newHash string) (bool, error) {
	id, ok := canonicalID(id)
	if !ok {
		return false, ErrNotFound
	}
	var swapped bool
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.replacePassword, newHash, s.db.Timestamp(database.Now()), id, oldHash)
		if err := oneRow(res, err); err == nil {
			swapped = true
			return nil
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		// Nothing swapped: tell "no such user" from "hash changed meanwhile".
		_, err = scanUser(tx.QueryRowContext(ctx, s.q.byID, id))
		return err
	})
	return swapped, wrap("replace password hash", err)
}

// List returns a page of users ordered by (email, id) — a stable order
// under concurrent inserts — and the cursor of the next page, empty after
// the last. Pagination is keyset-based: a page costs the same however deep,
// and a user created or moved to another email meanwhile never shifts the
// others. The cursor is opaque; one that List did not produce is
// ErrInvalidCursor.
func (s *SQLStore) List(ctx context.Context, q Query) ([]User, string, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	var where []string
	var args []any
	if q.EmailPrefix != "" {
		prefix := strings.TrimSpace(q.EmailPrefix)
		// No stored email can start with invalid UTF-8 or a control
		// character (NormalizeEmail refuses both), and PostgreSQL would
		// refuse a NUL in the parameter: a store error for what is only
		// a search that matches nobody.
		if !utf8.ValidString(prefix) || strings.ContainsFunc(prefix, unicode.IsControl) {
			return []User{}, "", nil
		}
		prefix = strings.ToLower(norm.NFKC.String(prefix))
		// A range on the unique email index: byte order is code point
		// order in UTF-8, the order of both databases' email column.
		where = append(where, "email >= ?")
		args = append(args, prefix)
		if upper, ok := prefixSuccessor(prefix); ok {
			where = append(where, "email < ?")
			args = append(args, upper)
		}
	}
	if q.Cursor != "" {
		email, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		// (email, id) > (cursor): spelled so that the email index bounds
		// the scan.
		where = append(where, "email >= ? AND (email > ? OR id > ?)")
		args = append(args, email, email, id)
	}
	query := `SELECT ` + userColumns + ` FROM users`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY email, id LIMIT ?`
	args = append(args, limit+1)

	rows, err := s.db.QueryContext(ctx, s.db.Rebind(query), args...)
	if err != nil {
		return nil, "", wrap("list users", err)
	}
	defer rows.Close()
	users := make([]User, 0, min(limit+1, 64))
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, "", wrap("list users", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap("list users", err)
	}
	next := ""
	if len(users) > limit {
		users = users[:limit]
		last := users[limit-1]
		next = encodeCursor(last.Email, last.ID)
	}
	return users, next, nil
}

// Count returns the number of users.
func (s *SQLStore) Count(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q.count).Scan(&n)
	return n, wrap("count users", err)
}

type rowScanner interface{ Scan(dest ...any) error }

func scanUser(row rowScanner) (User, error) {
	var u User
	var roles string
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &roles, &u.Disabled,
		database.ScanTime(&u.CreatedAt), database.ScanTime(&u.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	if err := json.Unmarshal([]byte(roles), &u.Roles); err != nil {
		return User{}, fmt.Errorf("roles of user %s: %w", u.ID, err)
	}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	return u, nil
}

// oneRow turns "no row affected" into ErrNotFound.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// wrap leaves nil and this package's own errors as they are, and prefixes
// database errors with the operation.
func wrap(op string, err error) error {
	var emailErr *EmailError
	switch {
	case err == nil,
		errors.Is(err, ErrNotFound), errors.Is(err, ErrEmailTaken),
		errors.Is(err, ErrInvalidRole), errors.Is(err, ErrInvalidCursor),
		errors.As(err, &emailErr):
		return err
	}
	return fmt.Errorf("account: %s: %w", op, err)
}

// canonicalID returns the stored form of a user id (lower-case UUID).
func canonicalID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// Cursors: base64url of "email NUL id". Emails never hold a NUL (control
// characters are refused).
func encodeCursor(email, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(email + "\x00" + id))
}

func decodeCursor(c string) (email, id string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", "", ErrInvalidCursor
	}
	email, id, ok := strings.Cut(string(raw), "\x00")
	if !ok || email == "" || !utf8.ValidString(email) || strings.ContainsRune(id, 0) {
		return "", "", ErrInvalidCursor
	}
	if id, ok = canonicalID(id); !ok {
		return "", "", ErrInvalidCursor
	}
	return email, id, nil
}

// prefixSuccessor returns the smallest string greater than every string
// that starts with p, in code point (= UTF-8 byte) order: p with its last
// code point incremented, skipping surrogates. ok is false when there is
// none (p is all U+10FFFF).
func prefixSuccessor(p string) (string, bool) {
	rs := []rune(p)
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i] + 1
		if r == 0xD800 {
			r = 0xE000
		}
		if r <= utf8.MaxRune {
			rs[i] = r
			return string(rs[:i+1]), true
		}
	}
	return "", false
}
