-- Saved list views: each user's named list states (search, filters, sort, columns) per entity.
-- The browser owns the state's shape; the server keeps it private to its user.
CREATE TABLE list_views (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    entity      TEXT NOT NULL,
    name        TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (user_id, entity, name)
);
