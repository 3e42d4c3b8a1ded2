"""Evaluate the batches whose data changed (or every batch when the
thresholds changed) and merge their flags, in one transaction. Pure
composition of the store and the rules, called by the flow as one task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kqc import store
from kqc.core.rules import evaluate, thresholds_from_frame
from kqc.schemas.thresholds import load_thresholds


@dataclass(frozen=True)
class Evaluated:
    batches: list[str]
    flags: int
    thresholds_changed: bool
    version: str


def evaluate_pending(db: Path) -> Evaluated:
    frame, version = load_thresholds()
    thresholds = thresholds_from_frame(frame)
    with store.transaction(db) as con:
        changed = store.thresholds_version(con) != version
        if changed:
            store.replace_thresholds(con, frame, version)
        batch_ids = store.all_batch_ids(con) if changed else store.queued_batch_ids(con)
        flags = 0
        if batch_ids:
            results, register, history = store.evidence(con, batch_ids)
            found = evaluate(batch_ids, results, register, thresholds, history, version)
            store.merge_flags(con, batch_ids, found)
            store.clear_queue(con, batch_ids)
            flags = found.height
    return Evaluated(batch_ids, flags, changed, version)
