-- Rules: thresholds carry how they fail, flags carry a sentence for QA and a
-- hash of their evidence (a review stands while the evidence is unchanged).
-- Both tables were empty before the rules existed, so they are rebuilt.

DROP VIEW batch_status;
DROP TABLE flags;
DROP TABLE thresholds;

CREATE TABLE thresholds (
    rule        VARCHAR NOT NULL,
    analyte     VARCHAR,
    limit_value DOUBLE,
    unit        VARCHAR,
    basis       VARCHAR NOT NULL,
    fails_when  VARCHAR NOT NULL,
    forms       VARCHAR,
    profile     VARCHAR NOT NULL,
    severity    VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    confirmed   BOOLEAN NOT NULL,
    note        VARCHAR,
    version     VARCHAR NOT NULL
);
COMMENT ON TABLE thresholds IS 'Every limit in force, with its source: one row per rule, analyte, basis, profile and direction. Loaded from the thresholds file shipped with kqc; flags record the version.';
COMMENT ON COLUMN thresholds.rule IS 'Rule code that applies the limit (flags.rule).';
COMMENT ON COLUMN thresholds.analyte IS 'Canonical analyte code the limit is for; for qc_failure the QC sample type (blank, spike, crm, duplicate).';
COMMENT ON COLUMN thresholds.limit_value IS 'The limit, in thresholds.unit on thresholds.basis; NULL where any detection fails.';
COMMENT ON COLUMN thresholds.unit IS 'Unit of limit_value: ug/g, ug/day, mg/g, mg/serving, %, CFU/g, g (test portion), % of label claim, % recovery, % RPD, SD ...';
COMMENT ON COLUMN thresholds.basis IS 'per_g, per_serving, per_day, pct_of_alkaloids or presence_in_g.';
COMMENT ON COLUMN thresholds.fails_when IS 'How an observed value fails: >, >=, <, <= the limit, or detected (any detection fails). For presence_in_g, limit_value is the test portion in g a negative result must cover.';
COMMENT ON COLUMN thresholds.forms IS 'Product forms the limit applies to, separated by ";"; NULL for every form.';
COMMENT ON COLUMN thresholds.profile IS 'default (applied to every batch) or a market code (UT, RI, GA, TX, OK, FL), applied when the batch register lists that market.';
COMMENT ON COLUMN thresholds.severity IS 'Severity given to a finding against this limit: critical, major or minor.';
COMMENT ON COLUMN thresholds.source IS 'Where the number comes from: statute, regulation, pharmacopeia chapter or guidance.';
COMMENT ON COLUMN thresholds.confirmed IS 'false when the number could not be confirmed in a primary source: such a limit is a house setting and every flag from it says so.';
COMMENT ON COLUMN thresholds.note IS 'How the limit is applied (e.g. the alkaloid sum behind a share, the substitution used for non-detects).';
COMMENT ON COLUMN thresholds.version IS 'Version of the thresholds file (hash of its content); flags record it, and a new version re-evaluates every batch.';

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
    status            VARCHAR NOT NULL CHECK (status IN ('open', 'confirmed', 'dismissed', 'resolved')),
    threshold_version VARCHAR,
    message           VARCHAR NOT NULL,
    evidence          VARCHAR,
    evidence_hash     VARCHAR NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE flags IS 'One row per finding about a batch: a rule, the observed value, the limit and its source, and a sentence for the reviewer. Reviewed by QA in flag_reviews; re-evaluation updates a flag in place and never duplicates it.';
COMMENT ON COLUMN flags.flag_id IS 'Stable identifier of the finding: the same batch, rule, analyte, basis, profile and limit keep the same id across re-evaluations.';
COMMENT ON COLUMN flags.batch_id IS 'The batch the finding is about.';
COMMENT ON COLUMN flags.rule IS 'content_uniformity, label_claim, potency_drift, 7oh_ratio, synthetic_alkaloid, heavy_metal, microbial, residual_solvent, adulterant, missing_panel, qc_failure or inconclusive.';
COMMENT ON COLUMN flags.analyte IS 'Canonical analyte code the finding is about, when there is one.';
COMMENT ON COLUMN flags.severity IS 'How urgent the finding is: critical, major or minor.';
COMMENT ON COLUMN flags.observed IS 'The observed value or statistic compared with the limit, in flags.unit (NULL when the finding is a detection or a qualifier).';
COMMENT ON COLUMN flags.limit_value IS 'The limit it was compared with, in flags.unit.';
COMMENT ON COLUMN flags.unit IS 'Unit of observed and limit_value.';
COMMENT ON COLUMN flags.basis IS 'Basis of the comparison: per_g, per_serving, per_day, pct_of_alkaloids or presence_in_g.';
COMMENT ON COLUMN flags.profile IS 'Threshold profile(s) that produced the finding: default and/or market codes, joined by ";".';
COMMENT ON COLUMN flags.source IS 'Source of the limit (statute, regulation, pharmacopeia chapter); marked when the limit is an unconfirmed house setting.';
COMMENT ON COLUMN flags.status IS 'open (awaiting QA), confirmed or dismissed (the latest QA decision in flag_reviews), or resolved (the finding no longer holds after new results). A review stands while the evidence is unchanged; changed evidence reopens the flag.';
COMMENT ON COLUMN flags.threshold_version IS 'Version of the thresholds that produced the finding (thresholds.version).';
COMMENT ON COLUMN flags.message IS 'The finding in one sentence: values, limit and source.';
COMMENT ON COLUMN flags.evidence IS 'JSON: the result_ids behind the finding and its statistics (n, mean, SD, acceptance value, substitution used for non-detects ...).';
COMMENT ON COLUMN flags.evidence_hash IS 'SHA-256 of observed, limit and evidence: when it changes, a reviewed flag is reopened.';
COMMENT ON COLUMN flags.created_at IS 'When the finding was first raised (UTC).';
COMMENT ON COLUMN flags.updated_at IS 'When the finding last changed: raised, reopened with new evidence, or resolved (UTC).';

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
COMMENT ON VIEW batch_status IS 'One row per batch known from the register or from current results: FAIL when an open or confirmed flag is a finding, INCOMPLETE when the only ones left say a test is missing (missing_panel) or cannot prove compliance (inconclusive), PASS when none is left. Dismissed and resolved flags no longer count.';
COMMENT ON COLUMN batch_status.batch_id IS 'The batch.';
COMMENT ON COLUMN batch_status.status IS 'PASS, FAIL or INCOMPLETE (see the view comment).';
COMMENT ON COLUMN batch_status.open_flags IS 'Flags of the batch that are open or confirmed.';

CREATE TABLE evaluation_queue (
    batch_id  VARCHAR PRIMARY KEY,
    queued_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE evaluation_queue IS 'Batches whose results or register rows changed and whose flags are not yet re-evaluated. Written in the same transaction as the data, emptied by the evaluation, so a crash between the two loses nothing.';
COMMENT ON COLUMN evaluation_queue.batch_id IS 'The batch to re-evaluate.';
COMMENT ON COLUMN evaluation_queue.queued_at IS 'When its data last changed (UTC).';

CREATE TABLE batch_potency (
    batch_id   VARCHAR PRIMARY KEY,
    unit       VARCHAR NOT NULL,
    mean_value DOUBLE NOT NULL,
    n          BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
COMMENT ON TABLE batch_potency IS 'Mean mitragynine of each batch''s current production results, kept with its flags: the points of each product''s control chart (potency_drift), so a new batch is compared with its product''s history without reading every result.';
COMMENT ON COLUMN batch_potency.batch_id IS 'The batch.';
COMMENT ON COLUMN batch_potency.unit IS 'mg/g when the batch has concentration results, else mg/unit (per capsule, tablet, serving).';
COMMENT ON COLUMN batch_potency.mean_value IS 'Mean of the results in unit; a non-detect counts as LOQ/2 (Directive 2009/90/EC art. 5(1)).';
COMMENT ON COLUMN batch_potency.n IS 'Number of results behind the mean.';
COMMENT ON COLUMN batch_potency.updated_at IS 'When the mean was last computed (UTC).';
