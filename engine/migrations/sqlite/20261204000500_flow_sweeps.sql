-- Date-relative flows: the time up to which the sweep has written timer jobs. Fire times
-- after it are found by the next sweep; a record written meanwhile schedules its own timer
-- only when its fire time falls at or before it.
CREATE TABLE flow_sweeps (
    flow        TEXT PRIMARY KEY,
    watermark   TEXT NOT NULL
);
