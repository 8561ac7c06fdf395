-- Saved list views: each user's named list states (search, filters, sort, columns) per entity.
-- The browser owns the state's shape; the server keeps it private to its user.
CREATE TABLE list_views (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    entity      TEXT NOT NULL,
    name        TEXT NOT NULL,
    state       JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, entity, name)
);
