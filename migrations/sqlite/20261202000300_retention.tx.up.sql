-- Retention: how long ended sessions and audit entries are kept. One row
-- for the environment; a NULL column means "the server's flag"
-- (-retain-ended, -retain-audit). Days; audit 0 keeps entries forever.
CREATE TABLE retention_policy (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    ended_sessions_days INTEGER,
    audit_days          INTEGER,
    updated_at          TIMESTAMP
);

--bun:split

INSERT INTO retention_policy (id) VALUES (1);

--bun:split

-- The purge of old audit entries walks this index from its oldest end, a
-- small batch at a time.
CREATE INDEX audit_log_created_idx ON audit_log (created_at);
