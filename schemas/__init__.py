"""Pandera schemas for the normalized frames, and the thresholds file.

Allowed values come from kqc.core (vocab, units, qualifiers), so a new analyte
or unit is added in one place. Every check's error text is written for the
technician who will read it in errors.csv.
"""
