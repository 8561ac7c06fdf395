-- Foundation schema (SQLite). Timestamps are fixed-width UTC text, UUIDs hyphenated text,
-- JSON as text. Entity record tables (e_<entity>) are created at run time by the engine.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE entities (
    name        TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);

CREATE TABLE entity_versions (
    entity      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (entity, version)
);

-- Every physical column or side table ever made for a field; a removed field keeps its row.
CREATE TABLE entity_fields (
    entity       TEXT NOT NULL,
    field        TEXT NOT NULL,
    field_type   TEXT NOT NULL,
    storage      TEXT NOT NULL,          -- 'column', 'side_table' or 'none'
    sql_name     TEXT,                   -- column or side-table name
    sensitive    INTEGER NOT NULL DEFAULT 0,
    unique_index TEXT,
    plain_index  TEXT,
    added_in     INTEGER NOT NULL,
    backfilled   INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (entity, field)
);

CREATE TABLE record_changes (
    id              TEXT PRIMARY KEY,
    entity          TEXT NOT NULL,
    record_id       TEXT NOT NULL,
    version         INTEGER NOT NULL,
    op              TEXT NOT NULL,
    data            TEXT NOT NULL,
    changed_fields  TEXT NOT NULL,
    actor           TEXT NOT NULL,
    at              TEXT NOT NULL,
    UNIQUE (entity, record_id, version)
);
CREATE INDEX record_changes_by_record ON record_changes (record_id, version);
CREATE INDEX record_changes_by_time ON record_changes (at);

CREATE TABLE sequences (
    entity      TEXT NOT NULL,
    field       TEXT NOT NULL,
    period      TEXT NOT NULL,
    last_value  INTEGER NOT NULL,
    PRIMARY KEY (entity, field, period)
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    display_name   TEXT,
    password_hash  TEXT NOT NULL,
    is_admin       INTEGER NOT NULL DEFAULT 0,
    departments    TEXT NOT NULL DEFAULT '[]',
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE roles (
    name         TEXT PRIMARY KEY,
    label        TEXT,
    permissions  TEXT NOT NULL,
    rights       TEXT NOT NULL DEFAULT '[]',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE user_roles (
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    expires_at    TEXT,
    revoked_at    TEXT
);

-- Failed log-ins per key (user name, or client address), so throttling holds across
-- instances and restarts.
CREATE TABLE login_attempts (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  TEXT NOT NULL,
    locked_until  TEXT
);

-- Append-only. Entries name actors, actions, records and fields, never values.
-- prev_mac / mac hold the HMAC chain.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    entity     TEXT,
    record_id  TEXT,
    fields     TEXT NOT NULL DEFAULT '[]',
    detail     TEXT NOT NULL DEFAULT '{}',
    prev_mac   TEXT,
    mac        TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE INDEX audit_log_by_record ON audit_log (record_id);
