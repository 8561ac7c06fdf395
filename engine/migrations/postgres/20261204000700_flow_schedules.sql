-- Cron and segment-batch flows: the next fire time of each enabled one. Firing writes the
-- run(s) and moves `next_fire` in one transaction. A segment batch being written keeps its
-- fire time and the last record id done, so a restart goes on after that id: runs are made
-- 1,000 per transaction in id order.
CREATE TABLE flow_schedules (
    flow         TEXT PRIMARY KEY,
    next_fire    TIMESTAMPTZ NOT NULL,
    batch_fire   TIMESTAMPTZ,
    batch_after  UUID
);
CREATE INDEX flow_schedules_due ON flow_schedules (next_fire);

-- A run started by a schedule: its slot (cron) or its slot and record (segment batch). Unique
-- per flow, so two instances, or a restart in the middle of a batch, never start one twice.
-- Runs of events leave it NULL (NULLs are distinct).
ALTER TABLE flow_runs ADD COLUMN fire_key TEXT;
CREATE UNIQUE INDEX flow_runs_fire_key ON flow_runs (flow, fire_key);
