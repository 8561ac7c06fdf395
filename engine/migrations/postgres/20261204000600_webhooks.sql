-- Inbound webhooks (docs/flows.md, the `webhook` trigger).
-- Signatures seen, each kept until twice its flow's window has passed: a request carrying one
-- again is a replay. Past `expires_at` the time check refuses such a request anyway, so the
-- retention prune drops the row.
CREATE TABLE webhook_replays (
    flow        TEXT NOT NULL,
    signature   TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (flow, signature)
);
CREATE INDEX webhook_replays_expiry ON webhook_replays (expires_at);

-- A webhook run's request body, as ciphertext (it may hold patient data), and the sender's
-- Idempotency-Key: a key seen again for the flow answers the first run.
ALTER TABLE flow_runs ADD COLUMN webhook_body TEXT;
ALTER TABLE flow_runs ADD COLUMN webhook_key TEXT;
CREATE UNIQUE INDEX flow_runs_webhook_key ON flow_runs (flow, webhook_key) WHERE webhook_key IS NOT NULL;
