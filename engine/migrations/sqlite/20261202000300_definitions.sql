-- Definition changes that finish after their transaction: a unique index still to be built
-- (CONCURRENTLY on PostgreSQL) is marked pending until it exists; `backfilled` = 0 marks a
-- projection still to be filled from the documents.
ALTER TABLE entity_fields ADD COLUMN unique_pending INTEGER NOT NULL DEFAULT 0;
