-- Users (PostgreSQL).
--
-- email holds the normalised address (account.NormalizeEmail: trimmed, NFKC,
-- lower-case), so the plain UNIQUE constraint gives one account per address.
-- COLLATE "C" (email and id) makes their order byte order, as in SQLite:
-- keyset pagination and the prefix search (a range scan on the unique index)
-- behave the same on both databases and do not depend on the server's locale.
-- roles is a JSON array of strings in TEXT ('[]' for none), as in SQLite.

-- +goose Up
CREATE TABLE users (
    id            TEXT        COLLATE "C" NOT NULL PRIMARY KEY,
    email         TEXT        COLLATE "C" NOT NULL UNIQUE,
    name          TEXT        NOT NULL DEFAULT '',
    password_hash TEXT        NOT NULL DEFAULT '',
    roles         TEXT        NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(roles::jsonb) = 'array'),
    disabled      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE users;
