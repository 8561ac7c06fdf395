-- Accounts: definition versions for users and roles, a per-user credentials epoch (a password
-- change ends the user's other sessions), and sessions stored by a hash of their id.
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN credentials_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE roles ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- Sessions stored under their plaintext id are dropped: their holders log in again.
DROP TABLE IF EXISTS sessions;
CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    data        JSONB NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
