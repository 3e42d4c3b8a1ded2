"""Evaluate the batches whose data changed (or every batch when the
thresholds changed) and merge their flags, in one transaction. Pure
composition of the store and the rules, called by the flow as one task."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kqc import store
from kqc.core.rules import evaluate, thresholds_from_frame
from kqc.core.rules.drift import batch_means
from kqc.core.rules.model import RESULT_FIELDS
from kqc.schemas.thresholds import load_thresholds

# Batches read and judged at a time: a full re-evaluation of millions of
# results holds one chunk's rows in memory, not the whole database's. At
# about 240 results a batch (a certificate of 20 samples), a chunk is some
# 1,200,000 rows of the fifteen fields the rules read; larger chunks save
# little time (each chunk's query skips the row groups outside its range of
# ids) and cost memory: a 10,000,000-row ingest peaked at 3.7 GB with chunks
# of 10,000 batches, 2.2 GB with 5,000.
CHUNK = 5_000


@dataclass(frozen=True)
class Evaluated:
    batches: list[str]
    flags: int
    thresholds_changed: bool
    version: str


def _chunks(batch_ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(batch_ids), CHUNK):
        yield batch_ids[start : start + CHUNK]


def evaluate_pending(db: Path) -> Evaluated:
    frame, version = load_thresholds()
    thresholds = thresholds_from_frame(frame)
    with store.transaction(db) as con:
        changed = store.thresholds_version(con) != version
        if changed:
            store.replace_thresholds(con, frame, version)
        batch_ids = store.all_batch_ids(con) if changed else store.queued_batch_ids(con)
        # Control-chart points first, for every batch to judge: a batch's
        # history may sit in a later chunk.
        for chunk in _chunks(batch_ids):
            store.save_potency(con, chunk, batch_means(store.potency_results(con, chunk)))
        flags = 0
        for chunk in _chunks(batch_ids):
            results, register, history = store.evidence(con, chunk, RESULT_FIELDS)
            found = evaluate(chunk, results, register, thresholds, history, version)
            store.merge_flags(con, chunk, found)
            flags += found.height
        store.clear_queue(con, batch_ids)
    return Evaluated(batch_ids, flags, changed, version)
