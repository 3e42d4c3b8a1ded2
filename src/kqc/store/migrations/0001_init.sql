-- kqc schema, version 1: every name of CONTRACT §5, documented in the database.

CREATE SEQUENCE source_files_seq START 1;
CREATE SEQUENCE results_seq START 1;

CREATE TABLE source_files (
    file_id     BIGINT PRIMARY KEY DEFAULT nextval('source_files_seq'),
    file_name   VARCHAR NOT NULL,
    sha256      VARCHAR NOT NULL,
    status      VARCHAR NOT NULL CHECK (status IN ('ingested', 'duplicate', 'rejected')),
    kind        VARCHAR CHECK (kind IN ('results', 'register')),
    received_at TIMESTAMPTZ NOT NULL,
    row_count   BIGINT NOT NULL,
    error_count BIGINT NOT NULL,
    stored_as   VARCHAR,
    size_bytes  BIGINT NOT NULL
);
COMMENT ON TABLE source_files IS 'One row per file dropped into the inbox and processed: ingested, a duplicate of a file already ingested (same SHA-256), or rejected. The file itself is kept byte for byte at stored_as.';
COMMENT ON COLUMN source_files.file_id IS 'Sequence number of this drop; increases with every processed file.';
COMMENT ON COLUMN source_files.file_name IS 'File name as the lab or QA dropped it.';
COMMENT ON COLUMN source_files.sha256 IS 'SHA-256 of the file bytes (hex). Links results.source_sha256 to the file; at most one ingested row per hash.';
COMMENT ON COLUMN source_files.status IS 'ingested (rows stored), duplicate (same bytes ingested before; nothing stored) or rejected (a problem found; nothing stored; see the errors.csv beside the quarantined file).';
COMMENT ON COLUMN source_files.kind IS 'results (assay results) or register (batch register from QA); NULL when the file could not be recognized.';
COMMENT ON COLUMN source_files.received_at IS 'When kqc processed the file (UTC).';
COMMENT ON COLUMN source_files.row_count IS 'Rows stored from this file (results or register rows); 0 unless ingested.';
COMMENT ON COLUMN source_files.error_count IS 'Problems found in the file (lines of its errors.csv); 0 unless rejected.';
COMMENT ON COLUMN source_files.stored_as IS 'Path where the dropped file now lies: archive/... (ingested or duplicate) or quarantine/... (rejected).';
COMMENT ON COLUMN source_files.size_bytes IS 'Size of the dropped file in bytes.';

CREATE TABLE results (
    result_id        BIGINT PRIMARY KEY DEFAULT nextval('results_seq'),
    batch_id         VARCHAR NOT NULL,
    sample_id        VARCHAR NOT NULL,
    lab_id           VARCHAR NOT NULL,
    analyte          VARCHAR NOT NULL,
    value            DOUBLE,
    unit             VARCHAR,
    qualifier        VARCHAR,
    bound            DOUBLE,
    reported_result  VARCHAR NOT NULL,
    reported_unit    VARCHAR,
    reported_analyte VARCHAR NOT NULL,
    lod              DOUBLE,
    loq              DOUBLE,
    sample_type      VARCHAR NOT NULL,
    unit_no          VARCHAR,
    test_portion_g   DOUBLE,
    spike_level      DOUBLE,
    dilution         DOUBLE,
    method           VARCHAR,
    analyzed_at      VARCHAR,
    analyst          VARCHAR,
    instrument       VARCHAR,
    accreditation    VARCHAR,
    source_sha256    VARCHAR NOT NULL,
    source_row       BIGINT NOT NULL,
    superseded_by    BIGINT,
    loaded_at        TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE results IS 'One row per result as a lab reported it, converted to a canonical analyte code and unit, with the lab''s own text kept beside. Amended results are kept and marked superseded.';
COMMENT ON COLUMN results.result_id IS 'Row identifier, unique across the database.';
COMMENT ON COLUMN results.batch_id IS 'Production batch (lot) the sample was taken from, as the lab reported it.';
COMMENT ON COLUMN results.sample_id IS 'The lab''s sample identifier.';
COMMENT ON COLUMN results.lab_id IS 'The testing laboratory, from its lab column or the Lab: line of the report.';
COMMENT ON COLUMN results.analyte IS 'Canonical analyte code, e.g. mitragynine, 7_hydroxymitragynine, lead, salmonella, tamc (see README, Vocabularies).';
COMMENT ON COLUMN results.value IS 'Result in the canonical unit. NULL whenever the lab reported a qualifier instead of a number (a non-detect is never stored as zero).';
COMMENT ON COLUMN results.unit IS 'Canonical unit: mg/g (alkaloid concentration), mg/unit (alkaloid per capsule/tablet/serving/shot), ug/g = ppm (metals, solvents, adulterants), CFU/g, CFU/mL, MPN/g, mg/mL, ug/mL; NULL for presence/absence tests.';
COMMENT ON COLUMN results.qualifier IS 'NULL for a plain number; otherwise <LOQ, <LOD, not_detected, detected, >ULOQ or TNTC.';
COMMENT ON COLUMN results.bound IS 'The number behind a qualifier such as "< 0.50" or "> 1000", in the canonical unit; NULL otherwise.';
COMMENT ON COLUMN results.reported_result IS 'The result cell exactly as the lab wrote it.';
COMMENT ON COLUMN results.reported_unit IS 'The unit exactly as the lab wrote it (NULL when the lab left it empty, allowed only for presence/absence tests).';
COMMENT ON COLUMN results.reported_analyte IS 'The analyte name exactly as the lab wrote it.';
COMMENT ON COLUMN results.lod IS 'Limit of detection reported by the lab, in the canonical unit.';
COMMENT ON COLUMN results.loq IS 'Limit of quantitation reported by the lab, in the canonical unit.';
COMMENT ON COLUMN results.sample_type IS 'production (default), blank, spike, duplicate or crm (certified reference material).';
COMMENT ON COLUMN results.unit_no IS 'Which capsule, tablet, serving or increment of the batch this result is for, as reported; NULL for a composite sample.';
COMMENT ON COLUMN results.test_portion_g IS 'Presence/absence tests: grams of product the test covered (absent in 25 g is not absent in 10 g).';
COMMENT ON COLUMN results.spike_level IS 'Spike or CRM: the expected (added or certified) amount, in the canonical unit.';
COMMENT ON COLUMN results.dilution IS 'Dilution factor reported by the lab.';
COMMENT ON COLUMN results.method IS 'Method identifier as reported (e.g. AOAC 2017.14).';
COMMENT ON COLUMN results.analyzed_at IS 'Date or time of analysis, as the lab wrote it.';
COMMENT ON COLUMN results.analyst IS 'Analyst as reported.';
COMMENT ON COLUMN results.instrument IS 'Instrument as reported.';
COMMENT ON COLUMN results.accreditation IS 'Accreditation reference of the lab or method, as reported.';
COMMENT ON COLUMN results.source_sha256 IS 'SHA-256 of the file this row came from (source_files.sha256).';
COMMENT ON COLUMN results.source_row IS 'Row of that file as a spreadsheet shows it (header = row 1).';
COMMENT ON COLUMN results.superseded_by IS 'NULL for a current result; otherwise the result_id of the later report that amended it.';
COMMENT ON COLUMN results.loaded_at IS 'When the row was stored (UTC).';

CREATE TABLE batches (
    batch_id                   VARCHAR PRIMARY KEY,
    product_id                 VARCHAR NOT NULL,
    product_name               VARCHAR,
    form                       VARCHAR NOT NULL,
    label_claim_mg_per_serving DOUBLE NOT NULL,
    serving_size_g             DOUBLE NOT NULL,
    servings_per_day           DOUBLE NOT NULL,
    units_per_serving          BIGINT NOT NULL DEFAULT 1,
    manufacturer               VARCHAR,
    manufactured_on            VARCHAR,
    markets                    VARCHAR,
    source_sha256              VARCHAR NOT NULL,
    updated_at                 TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE batches IS 'One row per batch, from the batch register QA drops: product, form, label claim and serving. A later register row for the same batch replaces the earlier one.';
COMMENT ON COLUMN batches.batch_id IS 'Production batch (lot) identifier, as used by the labs in results.batch_id.';
COMMENT ON COLUMN batches.product_id IS 'Product identifier (SKU); batches of one product are compared for drift.';
COMMENT ON COLUMN batches.product_name IS 'Product name as sold.';
COMMENT ON COLUMN batches.form IS 'Product form: powder, capsule, tablet, extract, liquid, ...';
COMMENT ON COLUMN batches.label_claim_mg_per_serving IS 'Mitragynine the label claims per serving, in mg.';
COMMENT ON COLUMN batches.serving_size_g IS 'Mass of one serving, in g.';
COMMENT ON COLUMN batches.servings_per_day IS 'Maximum servings per day the label directs; used for daily exposure (ug/day = ug/g x g/serving x servings/day).';
COMMENT ON COLUMN batches.units_per_serving IS 'Capsules or tablets in one serving (1 when not stated).';
COMMENT ON COLUMN batches.manufacturer IS 'Manufacturer as registered.';
COMMENT ON COLUMN batches.manufactured_on IS 'Date of manufacture as registered.';
COMMENT ON COLUMN batches.markets IS 'Markets the batch is sold in, separated by ";" (e.g. UT;GA); each market''s threshold profile applies on top of the default.';
COMMENT ON COLUMN batches.source_sha256 IS 'SHA-256 of the register file this row came from.';
COMMENT ON COLUMN batches.updated_at IS 'When this row was last written (UTC).';

CREATE TABLE thresholds (
    rule        VARCHAR NOT NULL,
    analyte     VARCHAR,
    limit_value DOUBLE,
    unit        VARCHAR,
    basis       VARCHAR,
    forms       VARCHAR,
    profile     VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    confirmed   BOOLEAN NOT NULL,
    version     VARCHAR NOT NULL
);
COMMENT ON TABLE thresholds IS 'Every limit in force, with its source: one row per rule, analyte, basis and profile.';
COMMENT ON COLUMN thresholds.rule IS 'Rule code that applies the limit (flags.rule).';
COMMENT ON COLUMN thresholds.analyte IS 'Canonical analyte code the limit is for; NULL for rules over several analytes.';
COMMENT ON COLUMN thresholds.limit_value IS 'The limit, in thresholds.unit on thresholds.basis.';
COMMENT ON COLUMN thresholds.unit IS 'Unit of limit_value (ug/g, ug/day, mg/serving, %, CFU/g, g ...).';
COMMENT ON COLUMN thresholds.basis IS 'per_g, per_serving, per_day, pct_of_alkaloids or presence_in_g.';
COMMENT ON COLUMN thresholds.forms IS 'Product forms the limit applies to, separated by ";"; NULL for every form.';
COMMENT ON COLUMN thresholds.profile IS 'default (applied to every batch) or a market code such as UT, RI, GA, TX, OK, FL.';
COMMENT ON COLUMN thresholds.source IS 'Where the number comes from: statute, regulation, pharmacopeia chapter or guidance.';
COMMENT ON COLUMN thresholds.confirmed IS 'false when the number could not be confirmed in a primary source; such a limit is a setting, shown as unconfirmed.';
COMMENT ON COLUMN thresholds.version IS 'Version of the thresholds file the row came from; flags record it.';

CREATE TABLE flags (
    flag_id           VARCHAR PRIMARY KEY,
    batch_id          VARCHAR NOT NULL,
    rule              VARCHAR NOT NULL,
    analyte           VARCHAR,
    severity          VARCHAR NOT NULL,
    observed          DOUBLE,
    limit_value       DOUBLE,
    unit              VARCHAR,
    basis             VARCHAR,
    profile           VARCHAR,
    source            VARCHAR,
    status            VARCHAR NOT NULL CHECK (status IN ('open', 'confirmed', 'dismissed')),
    threshold_version VARCHAR,
    evidence          VARCHAR,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE flags IS 'One row per finding about a batch: a rule, the observed value, the limit and its source. Reviewed by QA in flag_reviews.';
COMMENT ON COLUMN flags.flag_id IS 'Stable identifier of the finding (the same batch, rule, analyte and basis keep the same id across re-evaluations).';
COMMENT ON COLUMN flags.batch_id IS 'The batch the finding is about.';
COMMENT ON COLUMN flags.rule IS 'content_uniformity, label_claim, potency_drift, 7oh_ratio, synthetic_alkaloid, heavy_metal, microbial, residual_solvent, adulterant, missing_panel, qc_failure or inconclusive.';
COMMENT ON COLUMN flags.analyte IS 'Canonical analyte code the finding is about, when there is one.';
COMMENT ON COLUMN flags.severity IS 'How urgent the finding is: critical, major or minor.';
COMMENT ON COLUMN flags.observed IS 'The observed value (or statistic) that was compared with the limit, in flags.unit.';
COMMENT ON COLUMN flags.limit_value IS 'The limit it was compared with, in flags.unit.';
COMMENT ON COLUMN flags.unit IS 'Unit of observed and limit_value.';
COMMENT ON COLUMN flags.basis IS 'Basis of the comparison: per_g, per_serving, per_day, pct_of_alkaloids or presence_in_g.';
COMMENT ON COLUMN flags.profile IS 'Threshold profile that produced the finding: default or a market code.';
COMMENT ON COLUMN flags.source IS 'Source of the limit (statute, regulation, pharmacopeia chapter).';
COMMENT ON COLUMN flags.status IS 'open (awaiting QA), confirmed or dismissed (by a QA decision in flag_reviews).';
COMMENT ON COLUMN flags.threshold_version IS 'Version of the thresholds that produced the finding.';
COMMENT ON COLUMN flags.evidence IS 'JSON: the result rows and statistics (n, mean, SD, acceptance value ...) behind the finding.';
COMMENT ON COLUMN flags.created_at IS 'When the finding was first raised (UTC).';
COMMENT ON COLUMN flags.updated_at IS 'When the finding was last re-evaluated (UTC).';

CREATE TABLE flag_reviews (
    flag_id     VARCHAR NOT NULL,
    decision    VARCHAR NOT NULL CHECK (decision IN ('confirm', 'dismiss')),
    reviewer    VARCHAR NOT NULL,
    note        VARCHAR,
    reviewed_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE flag_reviews IS 'QA decisions on flags, append-only: a later decision is a new row, earlier rows are never changed.';
COMMENT ON COLUMN flag_reviews.flag_id IS 'The flag decided on (flags.flag_id).';
COMMENT ON COLUMN flag_reviews.decision IS 'confirm (the finding stands) or dismiss (it does not; note says why).';
COMMENT ON COLUMN flag_reviews.reviewer IS 'Who decided.';
COMMENT ON COLUMN flag_reviews.note IS 'The reviewer''s reason; required to dismiss.';
COMMENT ON COLUMN flag_reviews.reviewed_at IS 'When the decision was recorded (UTC).';

CREATE VIEW batch_status AS
WITH known AS (
    SELECT batch_id FROM batches
    UNION
    SELECT DISTINCT batch_id FROM results WHERE superseded_by IS NULL
),
counted AS (
    SELECT
        batch_id,
        count(*) AS open_flags,
        count(*) FILTER (WHERE rule NOT IN ('missing_panel', 'inconclusive')) AS findings
    FROM flags
    WHERE status IN ('open', 'confirmed')
    GROUP BY batch_id
)
SELECT
    known.batch_id,
    CASE
        WHEN coalesce(counted.findings, 0) > 0 THEN 'FAIL'
        WHEN coalesce(counted.open_flags, 0) > 0 THEN 'INCOMPLETE'
        ELSE 'PASS'
    END AS status,
    coalesce(counted.open_flags, 0) AS open_flags
FROM known
LEFT JOIN counted USING (batch_id);
COMMENT ON VIEW batch_status IS 'One row per batch known from the register or from current results: FAIL when an open or confirmed flag is a finding, INCOMPLETE when the only ones left say a test is missing (missing_panel) or cannot prove compliance (inconclusive), PASS when none is left. Dismissed flags no longer count.';
COMMENT ON COLUMN batch_status.batch_id IS 'The batch.';
COMMENT ON COLUMN batch_status.status IS 'PASS, FAIL or INCOMPLETE (see the view comment).';
COMMENT ON COLUMN batch_status.open_flags IS 'Flags of the batch that are open or confirmed.';
