-- Change events: one row per record write, appended in the write's transaction. A sequence
-- value is taken before commit, so `id` order is not commit order: `position` is given only
-- to committed rows, by one sequencer at a time (an advisory lock), in the order they became
-- visible. A reader follows `position` and never misses a commit.
CREATE TABLE change_events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    position        BIGINT UNIQUE,
    entity          TEXT NOT NULL,
    record_id       UUID NOT NULL,
    op              TEXT NOT NULL,
    changed_fields  JSONB NOT NULL,
    version         BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX change_events_unpositioned ON change_events (id) WHERE position IS NULL;
CREATE INDEX change_events_by_record ON change_events (record_id);
