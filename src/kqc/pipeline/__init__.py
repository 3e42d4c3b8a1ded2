"""The Prefect-free steps an ingest flow composes.

Owns turning a dropped file's bytes into a prepared file (read, normalize,
validate: prepare, prepare_many for many small files read side by side),
deciding what becomes of each dropped file and what its outcome says
(triage), and evaluating the batches a run touched (evaluate). Every function here runs
without Prefect, so it is tested and benchmarked alone; a flow task is one
call into it.

May import: kqc.store (its records and queries, never DuckDB itself),
kqc.readers, kqc.schemas, kqc.files, kqc.config, kqc.core, kqc.process,
kqc.errors. No Prefect.
"""
