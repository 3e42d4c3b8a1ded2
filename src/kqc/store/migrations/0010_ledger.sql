-- Tamper evidence for every table kqc writes. The chains of source_files and
-- flag_reviews show a row edited or removed in their middle, but not a results
-- value or a flag's status edited by hand, nor their last rows removed. Every
-- write now also appends to one hash-chained ledger: what it wrote, as one
-- SHA-256 digest per row or per file's results. `kqc verify` recomputes each
-- digest from the tables and compares it with the latest the ledger holds.
-- kqc records every row already stored when this migration is applied (in the
-- same transaction), so an upgraded database verifies intact.

CREATE TABLE ledger (
    entry_id     BIGINT NOT NULL,
    kind         VARCHAR NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,
    item_count   BIGINT NOT NULL,
    items_sha256 VARCHAR NOT NULL,
    prev_hash    VARCHAR NOT NULL,
    row_hash     VARCHAR NOT NULL
);

CREATE TABLE ledger_items (
    entry_id BIGINT NOT NULL,
    item_key VARCHAR NOT NULL,
    digest   VARCHAR
);

ALTER TABLE source_files ADD COLUMN errors_sha256 VARCHAR;

COMMENT ON TABLE ledger IS 'Append-only, hash-chained record of every write kqc makes to its tables: one entry per table a write touched, its items in ledger_items. Checked by kqc verify; never changed.';
COMMENT ON COLUMN ledger.entry_id IS 'Order of recording (1, 2, ...); the order of the hash chain.';
COMMENT ON COLUMN ledger.kind IS 'What the items are digests of: results (a file''s stored rows), supersessions (a file''s rows marked superseded), flags, flag_reviews, source_files, batches, batch_potency or thresholds (the whole table).';
COMMENT ON COLUMN ledger.recorded_at IS 'When the write was made (UTC).';
COMMENT ON COLUMN ledger.item_count IS 'Number of rows this entry has in ledger_items.';
COMMENT ON COLUMN ledger.items_sha256 IS 'SHA-256 over this entry''s items (item_key and digest, in item_key order): an item edited, removed or added by hand no longer matches.';
COMMENT ON COLUMN ledger.prev_hash IS 'row_hash of the previous entry (entry_id order); 64 zeros for the first.';
COMMENT ON COLUMN ledger.row_hash IS 'SHA-256 of this entry''s columns (prev_hash included), serialized canonically: an entry changed, removed or inserted by hand breaks the chain.';

COMMENT ON TABLE ledger_items IS 'The digests a ledger entry records, one row per row (or per file''s results) written; the latest entry for a key is what kqc verify expects the table to hold now.';
COMMENT ON COLUMN ledger_items.entry_id IS 'The ledger entry this item belongs to.';
COMMENT ON COLUMN ledger_items.item_key IS 'The row: file_id (source_files), review_id (flag_reviews), flag_id (flags), batch_id (batches, batch_potency), the source file''s sha256 (results, supersessions), or ''thresholds''.';
COMMENT ON COLUMN ledger_items.digest IS 'SHA-256 of the row''s content as kqc wrote it (source_files and flag_reviews: its row_hash); NULL when kqc removed the row.';

COMMENT ON COLUMN source_files.errors_sha256 IS 'SHA-256 of the <file>.errors.csv kqc wrote beside a quarantined file (NULL when none was written): kqc verify re-hashes it.';
