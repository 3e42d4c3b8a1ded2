-- The vocabulary is documented in docs/vocabulary.md (the README section the
-- comment pointed at is gone), and it now holds every ICH Q3D element.
COMMENT ON COLUMN results.analyte IS 'Canonical analyte code, e.g. mitragynine, 7_hydroxymitragynine, lead, chromium, salmonella, tamc, moisture, water_activity, or a code the house vocabulary (KQC_VOCABULARY) adds (see docs/vocabulary.md).';
