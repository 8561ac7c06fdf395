-- Installed template packs, the built-in `core` pack first: what is installed, at which
-- version, by whom. Installing a pack again at the same version changes nothing.
CREATE TABLE packs (
    name          TEXT PRIMARY KEY,
    version       TEXT NOT NULL,
    manifest      JSONB NOT NULL,
    installed_at  TIMESTAMPTZ NOT NULL,
    installed_by  TEXT NOT NULL
);
