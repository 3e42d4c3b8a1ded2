"""The ledger's digests of chosen rows are those of the rows themselves,
whether a few rows of a table are asked for (picked by a join) or most of
it (the table digested whole, then picked): on a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kqc.store import connect
from kqc.store.connection import run
from kqc.store.ledger import POTENCY, keyed_digests, row_digests


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "kqc.duckdb") as con:
        for i in range(6):
            run(
                con,
                "INSERT INTO batch_potency (batch_id, unit, mean_value, n, updated_at)"
                " VALUES (?, 'mg/g', ?, ?, ?)",
                [f"B-{i}", 10.5 + i, 3 + i, datetime(2026, 1, 1 + i, tzinfo=UTC)],
            )
        yield con


@pytest.mark.parametrize(
    "keys",
    [["B-2"], ["B-1", "B-4"], [f"B-{i}" for i in range(6)], ["B-0", "B-1", "B-2", "B-3"]],
    ids=["one", "half", "all", "most"],
)
def test_the_digests_of_chosen_rows_are_theirs_and_a_missing_row_is_none(con, keys):
    every = row_digests(con, POTENCY)
    assert len(set(every.values())) == 6  # each row its own digest
    found = keyed_digests(con, POTENCY, [*keys, "B-gone", keys[0]])
    assert found == {**{k: every[k] for k in keys}, "B-gone": None}
    assert list(found) == sorted(found)  # in key order, whichever way they were read
