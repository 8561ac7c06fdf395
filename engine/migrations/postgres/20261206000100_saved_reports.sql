-- Saved segments, charts and dashboards: definitions addressed by name, with every saved
-- version. A deleted definition keeps its row so a name used again continues its versions.
CREATE TABLE report_definitions (
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    -- The entity a segment or chart is on; NULL for a dashboard.
    entity      TEXT,
    definition  JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  TEXT NOT NULL,
    deleted_at  TIMESTAMPTZ,
    PRIMARY KEY (kind, name)
);

CREATE TABLE report_definition_versions (
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    definition  JSONB NOT NULL,
    saved_at    TIMESTAMPTZ NOT NULL,
    saved_by    TEXT NOT NULL,
    PRIMARY KEY (kind, name, version)
);

-- The charts each dashboard holds: a chart held cannot be deleted.
CREATE TABLE dashboard_charts (
    dashboard   TEXT NOT NULL,
    chart       TEXT NOT NULL,
    PRIMARY KEY (dashboard, chart)
);
CREATE INDEX dashboard_charts_by_chart ON dashboard_charts (chart);

-- The dashboard cache asks for the newest positioned change of each entity it reads, and
-- whether one is still unpositioned.
CREATE INDEX change_events_by_entity ON change_events (entity, position);
