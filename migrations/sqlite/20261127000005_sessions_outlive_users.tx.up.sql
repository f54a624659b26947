-- Sessions outlive their user and tenant: a deleted user's sessions end
-- with USER_REMOVED and stay, so a request with such a token is told why.
-- SQLite cannot drop a foreign key, so the table is rebuilt without them.
CREATE TABLE sessions_new (
    id                  TEXT PRIMARY KEY,
    token_hash          TEXT NOT NULL UNIQUE,
    user_id             TEXT NOT NULL,
    tenant_id           TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    last_active_at      INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL,
    absolute_expires_at INTEGER,
    expires_at          INTEGER NOT NULL,
    idle_timeout_ms     INTEGER NOT NULL,
    ip_address          TEXT NOT NULL DEFAULT '',
    user_agent          TEXT NOT NULL DEFAULT '',
    device              TEXT NOT NULL DEFAULT '',
    ended_at            INTEGER,
    end_reason          TEXT,
    ended_by_kind       TEXT,
    ended_by_id         TEXT,
    warned_expires_at   INTEGER
);

--bun:split

INSERT INTO sessions_new (id, token_hash, user_id, tenant_id, created_at, last_active_at, idle_expires_at,
    absolute_expires_at, expires_at, idle_timeout_ms, ip_address, user_agent, device, ended_at, end_reason,
    ended_by_kind, ended_by_id, warned_expires_at)
SELECT id, token_hash, user_id, tenant_id, created_at, last_active_at, idle_expires_at,
    absolute_expires_at, expires_at, idle_timeout_ms, ip_address, user_agent, device, ended_at, end_reason,
    ended_by_kind, ended_by_id, warned_expires_at
FROM sessions;

--bun:split

DROP TABLE sessions;

--bun:split

ALTER TABLE sessions_new RENAME TO sessions;

--bun:split

CREATE INDEX sessions_active_expiry_idx ON sessions (expires_at) WHERE ended_at IS NULL;

--bun:split

CREATE INDEX sessions_user_idx ON sessions (user_id, tenant_id, created_at);

--bun:split

CREATE INDEX sessions_tenant_idx ON sessions (tenant_id, created_at);

--bun:split

CREATE INDEX sessions_ended_idx ON sessions (ended_at) WHERE ended_at IS NOT NULL;
