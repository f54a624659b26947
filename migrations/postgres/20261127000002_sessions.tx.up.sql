-- Sessions and session policies (PostgreSQL). Instants the scheduler compares are
-- stored as integer Unix milliseconds, so deadline arithmetic and ordering
-- are exact and the same in every SQL dialect.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    token_hash          TEXT NOT NULL UNIQUE,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    last_active_at      BIGINT NOT NULL,
    idle_expires_at     BIGINT NOT NULL,
    absolute_expires_at BIGINT,
    expires_at          BIGINT NOT NULL,
    -- The idle timeout in force for this session, so that recording
    -- activity moves the idle deadline without looking up the policy.
    idle_timeout_ms     BIGINT NOT NULL,
    ip_address          TEXT NOT NULL DEFAULT '',
    user_agent          TEXT NOT NULL DEFAULT '',
    device              TEXT NOT NULL DEFAULT '',
    ended_at            BIGINT,
    end_reason          TEXT,
    ended_by_kind       TEXT,
    ended_by_id         TEXT
);

--bun:split

-- The scheduler's "next deadline" and "due now" queries.
CREATE INDEX sessions_active_expiry_idx ON sessions (expires_at) WHERE ended_at IS NULL;

--bun:split

CREATE INDEX sessions_user_idx ON sessions (user_id, tenant_id, created_at);

--bun:split

CREATE INDEX sessions_tenant_idx ON sessions (tenant_id, created_at);

--bun:split

-- One row per level: scope '' is the environment, otherwise a tenant id.
-- A NULL *_enabled column means the setting is not set at that level.
CREATE TABLE session_policies (
    scope           TEXT PRIMARY KEY,
    idle_enabled    BOOLEAN,
    idle_value      BIGINT,
    idle_unit       TEXT,
    relogin_enabled BOOLEAN,
    relogin_value   BIGINT,
    relogin_unit    TEXT,
    max_enabled     BOOLEAN,
    max_sessions    BIGINT,
    updated_at      TIMESTAMPTZ NOT NULL
);
