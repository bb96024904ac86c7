-- Password reset tokens (SQLite). Owned by gateway/account (ResetStore).
--
-- token_hash is the SHA-256 of the token mailed to the user (the token itself
-- is never stored, so a copy of the database cannot be used to reset
-- passwords). A row is deleted when its token is used, so a token works at
-- most once; expired rows are deleted as new tokens are created.
--
-- fingerprint is the SHA-256 of the user's email and password hash when the
-- token was made: any later change of either (a password change, another
-- reset, a password set by an administrator or the command line, an email
-- change) voids the token without having to find and delete it, whichever
-- code path made the change.
--
-- Timestamps are fixed-width UTC text with microseconds (database.Timestamp),
-- so that text order is time order. user_id has no foreign key, as
-- sessions: users are never deleted.

-- +goose Up
CREATE TABLE password_resets (
    token_hash  BLOB NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id     TEXT NOT NULL,
    fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX password_resets_user ON password_resets (user_id);
CREATE INDEX password_resets_expires ON password_resets (expires_at);

-- +goose Down
DROP TABLE password_resets;
