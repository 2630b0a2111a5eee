"""The 22 TPC-H queries (specification text, validation parameters) against DuckDB, each with
the planner's own join choices and with every join forced to shuffle and to broadcast."""

from __future__ import annotations

from pathlib import Path

import dask
import pytest

import compute.sql
from tests.sql.conftest import assert_same

QUERIES = Path(__file__).parents[2] / "examples" / "sql" / "tpch"


@pytest.mark.parametrize("number", range(1, 23), ids=lambda n: f"q{n:02d}")
def test_tpch_query_matches_duckdb_under_every_join_strategy(number, tpch, compute_on):
    source, duck = tpch
    text = (QUERIES / f"q{number:02d}.sql").read_text()
    want = duck.execute(text).df()
    ordered = "order by" in text.lower().rsplit(")", 1)[-1]
    for strategy in ("auto", "shuffle", "broadcast"):
        with dask.config.set({"govgrid.sql.join": strategy}):
            query = compute.sql.plan(source, text)
        joins = [s for s in query.steps if " JOIN " in s]
        if strategy != "auto":
            assert all(f": {strategy} (" in s for s in joins), query.explain()
        assert_same(compute_on(query.frame), want, ordered)
