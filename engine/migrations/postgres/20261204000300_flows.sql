-- Flows: definitions with every saved version, their runs and steps, and the dispatcher's
-- position in the change events.
CREATE TABLE flows (
    name        TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT FALSE,
    enabled_at  TIMESTAMPTZ,
    definition  JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT NOT NULL,
    -- A deleted flow keeps its row so a name used again continues the version numbers.
    deleted_at  TIMESTAMPTZ
);

CREATE TABLE flow_versions (
    flow        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    definition  JSONB NOT NULL,
    saved_at    TIMESTAMPTZ NOT NULL,
    saved_by    TEXT NOT NULL,
    PRIMARY KEY (flow, version)
);

CREATE TABLE flow_runs (
    id              UUID PRIMARY KEY,
    flow            TEXT NOT NULL,
    flow_version    BIGINT NOT NULL,
    status          TEXT NOT NULL,
    depth           BIGINT NOT NULL DEFAULT 0,
    trigger_info    JSONB NOT NULL,
    entity          TEXT,
    record_id       UUID,
    -- The change event that started the run: no event starts a flow twice.
    event_position  BIGINT,
    started_by      TEXT,
    error           JSONB,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    UNIQUE (flow, event_position)
);
CREATE INDEX flow_runs_by_flow ON flow_runs (flow, created_at);
CREATE INDEX flow_runs_by_record ON flow_runs (record_id);
CREATE INDEX flow_runs_finished ON flow_runs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE flow_steps (
    run_id      UUID NOT NULL REFERENCES flow_runs (id) ON DELETE CASCADE,
    node        TEXT NOT NULL,
    node_type   TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    input       JSONB,
    output      JSONB,
    error       JSONB,
    seq         BIGINT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (run_id, node)
);

CREATE TABLE flow_cursor (
    name        TEXT PRIMARY KEY,
    position    BIGINT NOT NULL
);

-- The run a flow's own write belongs to, so runs it starts know their depth.
ALTER TABLE change_events ADD COLUMN run_id UUID;
