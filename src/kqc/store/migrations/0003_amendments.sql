-- Amended results: a later file re-reporting the same result supersedes the
-- earlier row, which is kept (superseded_by existed from the start; this adds
-- when it happened, and an index for finding the row a new report amends).

ALTER TABLE results ADD COLUMN superseded_at TIMESTAMPTZ;
COMMENT ON COLUMN results.superseded_by IS 'NULL for a current result; otherwise the result_id of the later report (a later file with the same lab_id, sample_id, analyte, sample_type and unit_no) that amended it. The rules read only current results.';
COMMENT ON COLUMN results.superseded_at IS 'When a later report amended this result (UTC); NULL for a current result.';
