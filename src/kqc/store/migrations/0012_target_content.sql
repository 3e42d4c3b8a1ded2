-- A batch register may declare USP <905>'s target content T (the
-- manufacturer's target per unit, in % of label claim): content uniformity
-- takes the reference value M from it. Rows registered before hold NULL,
-- read as T = 100 %, and keep the ledger digests they were recorded with
-- (kqc.store.chain hashes this column only when it is set).
ALTER TABLE batches ADD COLUMN target_content_pct DOUBLE;
COMMENT ON COLUMN batches.target_content_pct IS 'USP <905> target content T: the manufacturer''s target content per dosage unit at manufacture, in % of the label claim (105 for an overage of 5 %), as the register declares it (columns Target content, Target %, T ...; 80 to 150). NULL when the register declares none: content uniformity then uses T = 100 %. M, the reference value of the acceptance value, is the mean clipped to 98.5-101.5 % when T <= 101.5, and to 98.5 %-T when T > 101.5 (USP <905> Table 2).';
COMMENT ON COLUMN flags.evidence IS 'JSON: the result_ids behind the finding and its statistics (n, mean, SD, acceptance value, substitution used for non-detects ...). Content uniformity also gives T (the target content used, % of label claim), T_from (declared in the batch register, or the USP <905> default of 100 %) and M (the reference value it gave).';
