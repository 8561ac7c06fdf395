-- Exact lookups by fields a user sees masked, counted per user so every guess is bounded.
CREATE TABLE masked_lookups (
    key           TEXT PRIMARY KEY,
    lookups       INTEGER NOT NULL,
    window_start  TEXT NOT NULL
);
