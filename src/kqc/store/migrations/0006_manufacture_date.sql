-- Registers now store the date of manufacture in one form, YYYY-MM-DD, read
-- from the form the register wrote (kqc.core.dates). Rows registered before
-- keep the text they were stored with.
COMMENT ON COLUMN batches.manufactured_on IS 'Date of manufacture, YYYY-MM-DD, read from the register''s own form (2026-01-05, an XLSX date, 05.01.2026, Jan 5, 2026; a date that reads two ways, such as 01/07/2026, is refused). Orders a product''s batches for potency_drift. Rows registered before kqc read dates keep the text as registered.';
