"""From a reader's text table to canonical rows, or to the problems that stop it.

Order of work: decide the kind by the columns, map lab headers to contract
fields, fill fields from the metadata block, then read every cell: analyte to
its code, result to a number or a qualifier, unit to its canonical unit with
the factor applied to value, bound, LOD, LOQ and spike level. The lab's words
are kept beside ours. Every problem is collected; nothing is dropped silently
(a cell marked "not tested" is the one thing left out, since it holds no
result).

Pure Polars; imports only kqc.core. One module per job: `dispatch` (the kind
of a table, the columns nobody reads), `collector` (problems gathered as
frames, headers to fields, the outcome), `results` (long and wide results),
`counts` (microbial counts and grouped thousands), `units` (unit and limit
conversion), `register` (the batch register).
"""

from __future__ import annotations

from kqc.core.normalize.collector import Normalized
from kqc.core.normalize.dispatch import normalize, unused_columns

__all__ = ["Normalized", "normalize", "unused_columns"]
