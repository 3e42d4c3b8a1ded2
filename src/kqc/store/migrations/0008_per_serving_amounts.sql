-- An amount reported per serving is stored in mg/unit as written; for a
-- product served as several units the rules divide it by units_per_serving.
-- The comment says so, for whoever queries the value.
COMMENT ON COLUMN results.unit IS 'Canonical unit: mg/g (alkaloid concentration), mg/unit (alkaloid per capsule/tablet/serving/shot), ug/g = ppm (metals, solvents, adulterants), CFU/g, CFU/mL, MPN/g, mg/mL, ug/mL; NULL for presence/absence tests. A value in mg/unit whose reported_unit is per serving or dose (mg/serving) is the amount in one serving, which is batches.units_per_serving units: the rules judge it as that many units together.';
