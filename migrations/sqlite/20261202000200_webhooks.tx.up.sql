-- Webhook endpoints and their deliveries (internal/webhook). Instants are
-- Unix milliseconds, as in sessions. A delivery row is written in the same
-- transaction as the change it reports (the outbox), and the dispatcher
-- claims due rows with a lease (lease_owner, lease_until) so that exactly one
-- instance makes each attempt and a dead instance's claims are retaken.
-- secret and previous_secret hold the signing secrets as internal/webhook
-- seals them: AES-GCM ciphertext when SESSIOND_WEBHOOK_KEY is set, the
-- plain secret otherwise.
CREATE TABLE webhook_endpoints (
    id                         TEXT PRIMARY KEY,
    url                        TEXT NOT NULL,
    description                TEXT NOT NULL,
    tenant_id                  TEXT,
    event_types                TEXT NOT NULL,
    secret                     TEXT NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_at INTEGER,
    disabled_at                INTEGER,
    disabled_reason            TEXT,
    failing_since              INTEGER,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);

--bun:split

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    lease_owner      TEXT,
    lease_until      INTEGER,
    last_attempt_at  INTEGER,
    last_status_code INTEGER,
    last_error       TEXT,
    delivered_at     INTEGER,
    created_at       INTEGER NOT NULL
);

--bun:split

-- The dispatcher's claims: one endpoint's pending rows by due time.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'PENDING';

--bun:split

-- webhookDeliveries: one endpoint's deliveries, newest first.
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
