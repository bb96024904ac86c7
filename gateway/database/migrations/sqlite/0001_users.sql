-- Users (SQLite).
--
-- email holds the normalised address (account.NormalizeEmail: trimmed, NFKC,
-- lower-case), so the plain UNIQUE constraint gives one account per address.
-- roles is a JSON array of strings ('[]' for none): unambiguous for any role
-- name and readable with SQLite's and PostgreSQL's JSON functions.
-- Timestamps are fixed-width UTC text with microseconds
-- (2006-01-02T15:04:05.000000Z), so that text order is time order.

-- +goose Up
CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL DEFAULT '',
    roles         TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(roles) AND json_type(roles) = 'array'),
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
) STRICT;

-- +goose Down
DROP TABLE users;
