-- Tamper evidence: source_files and flag_reviews each form a hash chain. Each
-- row carries the SHA-256 of its own content (the previous row's hash
-- included), so an edited, deleted or inserted row breaks the chain
-- (`kqc verify`). The hashes are computed by kqc when a row is written; rows
-- written before this migration are chained by the next write to their table.

ALTER TABLE source_files ADD COLUMN prev_hash VARCHAR;
ALTER TABLE source_files ADD COLUMN row_hash VARCHAR;
COMMENT ON COLUMN source_files.prev_hash IS 'row_hash of the previous row (file_id order); 64 zeros for the first row. Part of the hash chain checked by kqc verify.';
COMMENT ON COLUMN source_files.row_hash IS 'SHA-256 of this row''s columns (sha256 of the archived file and prev_hash included), serialized canonically: a row changed, removed or inserted by hand breaks the chain.';

ALTER TABLE flag_reviews ADD COLUMN review_id BIGINT;
ALTER TABLE flag_reviews ADD COLUMN prev_hash VARCHAR;
ALTER TABLE flag_reviews ADD COLUMN row_hash VARCHAR;
-- Decisions recorded before the chain existed get their order of recording.
UPDATE flag_reviews SET review_id = numbered.n
FROM (
    SELECT rowid AS rid, row_number() OVER (ORDER BY reviewed_at, rowid) AS n FROM flag_reviews
) numbered
WHERE flag_reviews.rowid = numbered.rid;
COMMENT ON COLUMN flag_reviews.review_id IS 'Order in which decisions were recorded (1, 2, ...); the order of the hash chain.';
COMMENT ON COLUMN flag_reviews.prev_hash IS 'row_hash of the previous decision (review_id order); 64 zeros for the first. Part of the hash chain checked by kqc verify.';
COMMENT ON COLUMN flag_reviews.row_hash IS 'SHA-256 of this decision''s columns (prev_hash included), serialized canonically: a decision changed, removed or inserted by hand breaks the chain.';
