// Package account stores the gateway's users in the SQL database (SQLite or
// PostgreSQL, see package database).
//
// What it guarantees:
//   - One account per address: emails are stored in the canonical form of
//     NormalizeEmail (trimmed, NFKC, lower-case) under a UNIQUE constraint,
//     so "Alice@Example.com ", "alice@example.com" and fullwidth
//     "ａｌｉｃｅ@example.com" are one account; a second is ErrEmailTaken, also
//     when two registrations race.
//   - Errors are the sentinels below (compare with errors.Is), *EmailError
//     (errors.As) for a refused address, or a wrapped database error.
//
// It does not end sessions: revocations travel on one feed, gateway/session's
// revocation_events, which gateway/auth publishes to after a password
// change, a disable or a role change.
//
// The Store interface that the HTTP layer needs is declared there, where it
// is used; SQLStore is the implementation.
package account

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors.
var (
	// ErrNotFound: no user has that id (or email).
	ErrNotFound = errors.New("account: user not found")
	// ErrEmailTaken: another user already has that (normalised) address.
	ErrEmailTaken = errors.New("account: email already taken")
	// ErrInvalidRole: a role name is empty, too long or has characters
	// outside [A-Za-z0-9_.:-]. Wrapped with the offending name.
	ErrInvalidRole = errors.New("account: invalid role")
	// ErrInvalidCursor: a List cursor that this package did not produce.
	ErrInvalidCursor = errors.New("account: invalid cursor")
)

// User is one account.
type User struct {
	ID    string // UUID (version 4), lower-case, assigned by Create
	Email string // normalised, see NormalizeEmail
	Name  string // free text, may be empty
	// PasswordHash is the encoded hash (package password's format). Empty
	// means no password is set: nobody can log in with a password until a
	// reset sets one (accounts created by `gateway user create` without
	// --password-stdin). Tagged json:"-" so that a User marshalled by
	// mistake (a response, zap.Any) never carries it.
	PasswordHash string `json:"-"`
	// Roles never nil when read from the store; no duplicates, in the order
	// they were given.
	Roles     []string
	Disabled  bool
	CreatedAt time.Time // UTC, microsecond precision
	UpdatedAt time.Time // UTC, microsecond precision; changes with every mutation
}

// Patch lists the fields Update changes; nil fields are left alone.
type Patch struct {
	Name     *string
	Email    *string // normalised; *EmailError if invalid, ErrEmailTaken if in use
	Roles    *[]string
	Disabled *bool
}

// Query selects a page of List.
type Query struct {
	// EmailPrefix keeps users whose normalised email starts with it (after
	// trimming, NFKC and lower-casing the prefix). Empty keeps everyone.
	EmailPrefix string
	// Limit is the page size: 0 means DefaultListLimit, values above
	// MaxListLimit are capped.
	Limit int
	// Cursor is the nextCursor of the previous page, or empty for the first.
	Cursor string
}

// List page sizes.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// Role names: what Casbin's CSV policy file, the X-Auth-User-Roles header
// (comma-separated) and a JWT claim all carry without quoting.
const maxRoleLen = 64

// normalizeRoles validates roles and removes duplicates, keeping order. The
// result is never nil.
func normalizeRoles(roles []string) ([]string, error) {
	out := make([]string, 0, len(roles))
	seen := make(map[string]bool, len(roles))
	for _, r := range roles {
		if err := checkRole(r); err != nil {
			return nil, err
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out, nil
}

func checkRole(r string) error {
	if r == "" || len(r) > maxRoleLen {
		return fmt.Errorf("%w %q: must be 1 to %d characters", ErrInvalidRole, r, maxRoleLen)
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.:-", c) >= 0) {
			return fmt.Errorf("%w %q: only letters, digits and _ . : - are allowed", ErrInvalidRole, r)
		}
	}
	return nil
}
