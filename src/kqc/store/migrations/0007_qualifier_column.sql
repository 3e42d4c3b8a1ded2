-- A qualifier may come in a column of its own beside the result ("0.05" and
-- "U"): the two are read together, and reported_result keeps both.
COMMENT ON COLUMN results.reported_result IS 'The result cell exactly as the lab wrote it. When the lab gave the qualifier in a column of its own, the two cells together: 0.05 U (not detected above 0.05), <0.05, 0.021 J.';
