-- Flows: definitions with every saved version, their runs and steps, and the dispatcher's
-- position in the change events.
CREATE TABLE flows (
    name        TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 0,
    enabled_at  TEXT,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    -- A deleted flow keeps its row so a name used again continues the version numbers.
    deleted_at  TEXT
);

CREATE TABLE flow_versions (
    flow        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    saved_at    TEXT NOT NULL,
    saved_by    TEXT NOT NULL,
    PRIMARY KEY (flow, version)
);

CREATE TABLE flow_runs (
    id              TEXT PRIMARY KEY,
    flow            TEXT NOT NULL,
    flow_version    INTEGER NOT NULL,
    status          TEXT NOT NULL,
    depth           INTEGER NOT NULL DEFAULT 0,
    trigger_info    TEXT NOT NULL,
    entity          TEXT,
    record_id       TEXT,
    -- The change event that started the run: no event starts a flow twice.
    event_position  INTEGER,
    started_by      TEXT,
    error           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT,
    UNIQUE (flow, event_position)
);
CREATE INDEX flow_runs_by_flow ON flow_runs (flow, created_at);
CREATE INDEX flow_runs_by_record ON flow_runs (record_id);
CREATE INDEX flow_runs_finished ON flow_runs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE flow_steps (
    run_id      TEXT NOT NULL REFERENCES flow_runs (id) ON DELETE CASCADE,
    node        TEXT NOT NULL,
    node_type   TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    input       TEXT,
    output      TEXT,
    error       TEXT,
    seq         INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (run_id, node)
);

CREATE TABLE flow_cursor (
    name        TEXT PRIMARY KEY,
    position    INTEGER NOT NULL
);

-- The run a flow's own write belongs to, so runs it starts know their depth.
ALTER TABLE change_events ADD COLUMN run_id TEXT;
