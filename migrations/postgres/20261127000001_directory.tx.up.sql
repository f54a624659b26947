-- Tenants, users, memberships, roles, permissions, portal switches, admin
-- keys and the audit trail, in PostgreSQL's types.
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

--bun:split

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_lower   TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL
);

--bun:split

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);

--bun:split

CREATE TABLE permissions (
    id          TEXT PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    built_in    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);

--bun:split

CREATE TABLE role_permissions (
    role_id       TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission_id TEXT NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, permission_id)
);

--bun:split

CREATE INDEX role_permissions_permission_idx ON role_permissions (permission_id);

--bun:split

CREATE TABLE memberships (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, tenant_id)
);

--bun:split

CREATE INDEX memberships_tenant_idx ON memberships (tenant_id, user_id);

--bun:split

CREATE TABLE membership_roles (
    user_id   TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    role_id   TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, tenant_id, role_id),
    FOREIGN KEY (user_id, tenant_id) REFERENCES memberships (user_id, tenant_id) ON DELETE CASCADE
);

--bun:split

CREATE INDEX membership_roles_role_idx ON membership_roles (role_id);

--bun:split

CREATE TABLE admin_portal (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    privacy_and_security BOOLEAN NOT NULL DEFAULT FALSE,
    users                BOOLEAN NOT NULL DEFAULT FALSE,
    security             BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at           TIMESTAMPTZ
);

--bun:split

INSERT INTO admin_portal (id) VALUES (1);

--bun:split

CREATE TABLE admin_keys (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    key_hash   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

--bun:split

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before      TEXT NOT NULL DEFAULT '',
    after       TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL
);

--bun:split

CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, id);

--bun:split

INSERT INTO permissions (id, key, name, description, category, built_in, created_at)
VALUES ('00000000-0000-7000-8000-000000000001', 'fe.secure.delete.sessions', 'Revoke User Sessions',
        'Configure the tenant''s session settings and end other users'' sessions.', 'Security', TRUE,
        '2026-11-27 00:00:00+00:00');

--bun:split

INSERT INTO roles (id, key, name, description, is_default, created_at)
VALUES ('00000000-0000-7000-8000-000000000101', 'admin', 'Admin', 'Tenant administrator.', FALSE,
        '2026-11-27 00:00:00+00:00'),
       ('00000000-0000-7000-8000-000000000102', 'read-only', 'Read Only', 'Can view but not change.', TRUE,
        '2026-11-27 00:00:00+00:00');
