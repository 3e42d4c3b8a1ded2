"""kqc: kratom lab results in, validated, stored, flagged with cited thresholds."""

__version__ = "0.1.0"
