-- The flow runtime's durable job queue (docs/flows.md section 5, docs/architecture.md "Jobs"):
-- a delay, a wait's timeout, a retry or a date-relative timer is a row with a due time. A
-- worker takes due rows with a lease (owner, token, expiry); a step commits only while its
-- token still holds the row (fencing). Jobs carry ids only, never a field's value.
CREATE TABLE flow_jobs (
    id            UUID PRIMARY KEY,
    run_id        UUID,
    node          TEXT,
    kind          TEXT NOT NULL,
    payload       JSONB NOT NULL,
    due_at        TIMESTAMPTZ NOT NULL,
    state         TEXT NOT NULL
                  CHECK (state IN ('ready', 'running', 'done', 'cancelled', 'dead')),
    lease_owner   TEXT,
    lease_token   UUID,
    lease_until   TIMESTAMPTZ,
    attempts      BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL,
    last_error    TEXT,
    -- Byte order ("C"), so a key prefix is one range of the unique index: pending timers of
    -- one (flow, record) are found by prefix.
    dedupe_key    TEXT COLLATE "C" UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
-- Taking due jobs (ready by due time, running by state for expired leases) and pruning
-- finished ones by due time.
CREATE INDEX flow_jobs_due ON flow_jobs (state, due_at);
CREATE INDEX flow_jobs_by_run ON flow_jobs (run_id);
