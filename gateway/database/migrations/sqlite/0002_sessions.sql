-- Refresh sessions, refresh tokens, user security stamps and the revocation
-- feed (SQLite). Owned by gateway/session (SQLStore, SQLFeed).
--
-- Timestamps are fixed-width UTC text with microseconds, written with
-- database.Timestamp (2006-01-02T15:04:05.000000Z), so that text order is
-- time order; the session package rounds them to milliseconds.
--
-- sessions: one row per login. A session is live while revoked_at IS NULL,
-- now < idle_expires_at and now < absolute_expires_at; Cleanup deletes the
-- others. user_id has no foreign key: sessions may live in Redis instead
-- (storage.sessions = redis). Users are never deleted (gateway/account has no
-- Delete); gateway/auth revokes a disabled user's sessions through the
-- session Store, either way.
--
-- refresh_tokens: every refresh token a session issued, as its SHA-256 (the
-- token itself is never stored), kept while the session exists so that a
-- replayed old token is recognised as reuse. Deleted with its session
-- (ON DELETE CASCADE; database.Open turns foreign keys on).
--
-- user_stamps: the per-user security stamp carried by access tokens; 0 when
-- there is no row. Never deleted.
--
-- revocation_events: the feed every replica polls ("seq > N"); AUTOINCREMENT
-- so that a seq is never reused after old rows are pruned.

-- +goose Up
CREATE TABLE sessions (
    id                  TEXT    NOT NULL PRIMARY KEY,
    user_id             TEXT    NOT NULL,
    user_agent          TEXT    NOT NULL DEFAULT '',
    ip                  TEXT    NOT NULL DEFAULT '',
    generation          INTEGER NOT NULL,
    created_at          TEXT    NOT NULL,
    last_used_at        TEXT    NOT NULL,
    idle_expires_at     TEXT    NOT NULL,
    absolute_expires_at TEXT    NOT NULL,
    rotated_at          TEXT    NOT NULL,
    revoked_at          TEXT
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_idle_expires ON sessions (idle_expires_at);
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation INTEGER NOT NULL,
    issued_at  TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE user_stamps (
    user_id TEXT    NOT NULL PRIMARY KEY,
    stamp   INTEGER NOT NULL
) STRICT;

CREATE TABLE revocation_events (
    seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    user_id    TEXT    NOT NULL DEFAULT '',
    session_id TEXT    NOT NULL DEFAULT '',
    stamp      INTEGER NOT NULL DEFAULT 0,
    at         TEXT    NOT NULL
) STRICT;

CREATE INDEX revocation_events_at ON revocation_events (at);

-- +goose Down
DROP TABLE revocation_events;
DROP TABLE user_stamps;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
