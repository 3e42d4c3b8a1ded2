-- Results digests are BLAKE3 from this version on (kqc.store.chain says why);
-- the comment regulators read says so. Digests recorded before stay SHA-256
-- (written bare), and kqc verify computes those files' digests that way.
COMMENT ON COLUMN ledger_items.digest IS 'The digest of the row''s content as kqc wrote it: SHA-256 (source_files and flag_reviews: its row_hash); for results and supersessions BLAKE3, written blake3:<hex> (bare hex: SHA-256, recorded by an earlier kqc); NULL when kqc removed the row.';
