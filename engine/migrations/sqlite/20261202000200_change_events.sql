-- Change events: one row per record write, appended in the write's transaction. SQLite
-- serializes writers (BEGIN IMMEDIATE), so the insertion order of `position` is commit order.
CREATE TABLE change_events (
    position        INTEGER PRIMARY KEY AUTOINCREMENT,
    entity          TEXT NOT NULL,
    record_id       TEXT NOT NULL,
    op              TEXT NOT NULL,
    changed_fields  TEXT NOT NULL,
    version         INTEGER NOT NULL,
    actor           TEXT NOT NULL,
    at              TEXT NOT NULL
);
CREATE INDEX change_events_by_record ON change_events (record_id);
