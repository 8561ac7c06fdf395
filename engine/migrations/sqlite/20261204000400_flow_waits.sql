-- A branch waiting on a record (an approval's task): the dispatcher matches each change event
-- against these rows and resumes the branch in the event's dispatch transaction.
CREATE TABLE flow_waits (
    run_id      TEXT NOT NULL REFERENCES flow_runs (id) ON DELETE CASCADE,
    node        TEXT NOT NULL,
    entity      TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, node)
);
CREATE INDEX flow_waits_by_record ON flow_waits (entity, record_id);
