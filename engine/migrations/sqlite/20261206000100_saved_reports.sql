-- Saved segments, charts and dashboards: definitions addressed by name, with every saved
-- version. A deleted definition keeps its row so a name used again continues its versions.
CREATE TABLE report_definitions (
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    -- The entity a segment or chart is on; NULL for a dashboard.
    entity      TEXT,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    deleted_at  TEXT,
    PRIMARY KEY (kind, name)
);

CREATE TABLE report_definition_versions (
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    saved_at    TEXT NOT NULL,
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

-- The dashboard cache asks for the newest change of each entity it reads.
CREATE INDEX change_events_by_entity ON change_events (entity, position);
