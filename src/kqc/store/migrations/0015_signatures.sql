-- Electronic signatures (21 CFR 11.50, 11.70): every signed decision names
-- its signer, the time and the meaning, and carries the hash of the record as
-- signed, so a signature is bound to that record: when the record changes
-- (new results reopen a finding) the hashes differ and the signature no
-- longer counts. Append-only and hash-chained, as flag_reviews are.
CREATE TABLE signatures (
    signature_id BIGINT PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    user_name    VARCHAR NOT NULL,
    full_name    VARCHAR NOT NULL,
    meaning      VARCHAR NOT NULL,
    signed_at    TIMESTAMPTZ NOT NULL,
    record_kind  VARCHAR NOT NULL CHECK (record_kind IN ('flag', 'dismissal', 'batch')),
    record_id    VARCHAR NOT NULL,
    record_hash  VARCHAR NOT NULL,
    prev_hash    VARCHAR,
    row_hash     VARCHAR
);
COMMENT ON TABLE signatures IS 'Electronic signatures, append-only and hash-chained: a review of a finding (record_kind flag), an approver''s verification of another person''s dismissal (dismissal), a batch disposition (batch). Each is bound to the record as signed by record_hash.';
COMMENT ON COLUMN signatures.signature_id IS 'Order in which signatures were made (1, 2, ...); the order of the hash chain.';
COMMENT ON COLUMN signatures.user_id IS 'The signer (users.user_id).';
COMMENT ON COLUMN signatures.user_name IS 'The signer''s user name at signing.';
COMMENT ON COLUMN signatures.full_name IS 'The signer''s printed name at signing (21 CFR 11.50(a)(1)).';
COMMENT ON COLUMN signatures.meaning IS 'What the signature means (21 CFR 11.50(a)(3)), e.g. "confirmed the finding", "dismissed the finding", "verified the dismissal", "released the batch".';
COMMENT ON COLUMN signatures.signed_at IS 'When it was signed (UTC).';
COMMENT ON COLUMN signatures.record_kind IS 'flag (a finding reviewed), dismissal (a dismissal verified), batch (a batch disposed of).';
COMMENT ON COLUMN signatures.record_id IS 'flags.flag_id for flag and dismissal, batches.batch_id for batch.';
COMMENT ON COLUMN signatures.record_hash IS 'SHA-256 of the record as signed: for a finding its rule, analyte, severity, figures and evidence hash; for a batch its current results, its findings and their statuses. A record that differs now no longer carries this signature.';
COMMENT ON COLUMN signatures.prev_hash IS 'row_hash of the previous signature (signature_id order); 64 zeros for the first. Part of the hash chain checked by kqc verify.';
COMMENT ON COLUMN signatures.row_hash IS 'SHA-256 of this signature''s columns (prev_hash included), serialized canonically: a signature changed, removed or inserted by hand breaks the chain.';

ALTER TABLE flag_reviews ADD COLUMN signature_id BIGINT;
COMMENT ON COLUMN flag_reviews.signature_id IS 'The signature of this decision (signatures.signature_id); NULL for a decision recorded before decisions were signed (shown as unsigned).';

CREATE TABLE batch_dispositions (
    disposition_id BIGINT PRIMARY KEY,
    batch_id       VARCHAR NOT NULL,
    decision       VARCHAR NOT NULL CHECK (decision IN ('release', 'reject', 'hold')),
    signature_id   BIGINT NOT NULL,
    note           VARCHAR,
    decided_at     TIMESTAMPTZ NOT NULL,
    prev_hash      VARCHAR,
    row_hash       VARCHAR
);
COMMENT ON TABLE batch_dispositions IS 'Batch dispositions by an approver, append-only and hash-chained: release (only while the batch is PASS), reject, or hold. The latest row of a batch stands (view batch_disposition).';
COMMENT ON COLUMN batch_dispositions.disposition_id IS 'Order in which dispositions were recorded (1, 2, ...); the order of the hash chain.';
COMMENT ON COLUMN batch_dispositions.batch_id IS 'The batch (batches.batch_id).';
COMMENT ON COLUMN batch_dispositions.decision IS 'release, reject or hold.';
COMMENT ON COLUMN batch_dispositions.signature_id IS 'The approver''s signature (signatures.signature_id).';
COMMENT ON COLUMN batch_dispositions.note IS 'The approver''s note.';
COMMENT ON COLUMN batch_dispositions.decided_at IS 'When the disposition was recorded (UTC).';
COMMENT ON COLUMN batch_dispositions.prev_hash IS 'row_hash of the previous disposition (disposition_id order); 64 zeros for the first. Part of the hash chain checked by kqc verify.';
COMMENT ON COLUMN batch_dispositions.row_hash IS 'SHA-256 of this disposition''s columns (prev_hash included), serialized canonically: a disposition changed, removed or inserted by hand breaks the chain.';

CREATE VIEW batch_disposition AS
SELECT d.batch_id, d.decision, d.note, d.decided_at, s.user_name AS decided_by,
       s.full_name AS decided_by_full_name, d.signature_id
FROM batch_dispositions d JOIN signatures s USING (signature_id)
QUALIFY row_number() OVER (PARTITION BY d.batch_id ORDER BY d.disposition_id DESC) = 1;
COMMENT ON VIEW batch_disposition IS 'The disposition that stands for each batch disposed of: its latest row in batch_dispositions, with its signer.';
COMMENT ON COLUMN batch_disposition.batch_id IS 'The batch.';
COMMENT ON COLUMN batch_disposition.decision IS 'release, reject or hold.';
COMMENT ON COLUMN batch_disposition.note IS 'The approver''s note.';
COMMENT ON COLUMN batch_disposition.decided_at IS 'When it was decided (UTC).';
COMMENT ON COLUMN batch_disposition.decided_by IS 'The approver''s user name.';
COMMENT ON COLUMN batch_disposition.decided_by_full_name IS 'The approver''s printed name.';
COMMENT ON COLUMN batch_disposition.signature_id IS 'The signature (signatures.signature_id).';
