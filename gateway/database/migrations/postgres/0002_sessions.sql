-- Refresh sessions, refresh tokens, user security stamps and the revocation
-- feed (PostgreSQL). Owned by gateway/session (SQLStore, SQLFeed).
--
-- sessions: one row per login. A session is live while revoked_at IS NULL,
-- now < idle_expires_at and now < absolute_expires_at; Cleanup deletes the
-- others. Rotate locks the row (SELECT ... FOR UPDATE) so that concurrent
-- rotations of one token cannot both advance the generation. user_id has no
-- foreign key: sessions may live in Redis instead (storage.sessions = redis).
-- Users are never deleted (gateway/account has no Delete); gateway/auth
-- revokes a disabled user's sessions through the session Store, either way.
--
-- refresh_tokens: every refresh token a session issued, as its SHA-256 (the
-- token itself is never stored), kept while the session exists so that a
-- replayed old token is recognised as reuse. Deleted with its session.
--
-- user_stamps: the per-user security stamp carried by access tokens; 0 when
-- there is no row. Never deleted.
--
-- revocation_events: the feed every replica polls ("seq > N"). Writers take
-- database.LockFeed before the INSERT, so that seq order is commit order.

-- +goose Up
CREATE TABLE sessions (
    id                  TEXT        NOT NULL PRIMARY KEY,
    user_id             TEXT        NOT NULL,
    user_agent          TEXT        NOT NULL DEFAULT '',
    ip                  TEXT        NOT NULL DEFAULT '',
    generation          BIGINT      NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    last_used_at        TIMESTAMPTZ NOT NULL,
    idle_expires_at     TIMESTAMPTZ NOT NULL,
    absolute_expires_at TIMESTAMPTZ NOT NULL,
    rotated_at          TIMESTAMPTZ NOT NULL,
    revoked_at          TIMESTAMPTZ
);

CREATE INDEX sessions_user ON sessions (user_id, created_at);
CREATE INDEX sessions_idle_expires ON sessions (idle_expires_at);
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE refresh_tokens (
    hash       BYTEA       NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    session_id TEXT        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation BIGINT      NOT NULL,
    issued_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE user_stamps (
    user_id TEXT   NOT NULL PRIMARY KEY,
    stamp   BIGINT NOT NULL
);

CREATE TABLE revocation_events (
    seq        BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT        NOT NULL,
    user_id    TEXT        NOT NULL DEFAULT '',
    session_id TEXT        NOT NULL DEFAULT '',
    stamp      BIGINT      NOT NULL DEFAULT 0,
    at         TIMESTAMPTZ NOT NULL
);

CREATE INDEX revocation_events_at ON revocation_events (at);

-- +goose Down
DROP TABLE revocation_events;
DROP TABLE user_stamps;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
