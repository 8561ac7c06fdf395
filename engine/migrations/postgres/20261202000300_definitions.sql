-- Definition changes that finish after their transaction: a unique index still to be built
-- CONCURRENTLY is marked pending until it exists and is valid; `backfilled` = FALSE marks a
-- projection still to be filled from the documents.
ALTER TABLE entity_fields ADD COLUMN unique_pending BOOLEAN NOT NULL DEFAULT FALSE;
