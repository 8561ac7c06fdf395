-- Foundation schema (PostgreSQL). Entity record tables (e_<entity>) are created at run time
-- by the engine.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE entities (
    name        TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    definition  JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT NOT NULL
);

CREATE TABLE entity_versions (
    entity      TEXT NOT NULL,
    version     BIGINT NOT NULL,
    definition  JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (entity, version)
);

-- Every physical column or side table ever made for a field; a removed field keeps its row.
CREATE TABLE entity_fields (
    entity       TEXT NOT NULL,
    field        TEXT NOT NULL,
    field_type   TEXT NOT NULL,
    storage      TEXT NOT NULL,
    sql_name     TEXT,
    sensitive    BOOLEAN NOT NULL DEFAULT FALSE,
    unique_index TEXT,
    plain_index  TEXT,
    added_in     BIGINT NOT NULL,
    backfilled   BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (entity, field)
);

CREATE TABLE record_changes (
    id              UUID PRIMARY KEY,
    entity          TEXT NOT NULL,
    record_id       UUID NOT NULL,
    version         BIGINT NOT NULL,
    op              TEXT NOT NULL,
    data            JSONB NOT NULL,
    changed_fields  JSONB NOT NULL,
    actor           TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL,
    UNIQUE (entity, record_id, version)
);
CREATE INDEX record_changes_by_record ON record_changes (record_id, version);
CREATE INDEX record_changes_by_time ON record_changes (at);

CREATE TABLE sequences (
    entity      TEXT NOT NULL,
    field       TEXT NOT NULL,
    period      TEXT NOT NULL,
    last_value  BIGINT NOT NULL,
    PRIMARY KEY (entity, field, period)
);

CREATE TABLE users (
    id             UUID PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    display_name   TEXT,
    password_hash  TEXT NOT NULL,
    is_admin       BOOLEAN NOT NULL DEFAULT FALSE,
    departments    JSONB NOT NULL DEFAULT '[]',
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE roles (
    name         TEXT PRIMARY KEY,
    label        JSONB,
    permissions  JSONB NOT NULL,
    rights       JSONB NOT NULL DEFAULT '[]',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE user_roles (
    user_id  UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE api_tokens (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    expires_at    TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);

-- Failed log-ins per key (user name, or client address), so throttling holds across
-- instances and restarts.
CREATE TABLE login_attempts (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    window_start  TIMESTAMPTZ NOT NULL,
    locked_until  TIMESTAMPTZ
);

-- Append-only. Entries name actors, actions, records and fields, never values.
-- prev_mac / mac hold the HMAC chain.
CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    entity     TEXT,
    record_id  TEXT,
    fields     JSONB NOT NULL DEFAULT '[]',
    detail     JSONB NOT NULL DEFAULT '{}',
    prev_mac   TEXT,
    mac        TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE INDEX audit_log_by_record ON audit_log (record_id);
