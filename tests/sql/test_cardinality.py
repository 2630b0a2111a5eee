"""Group-bys are sized by their expected groups, estimated from the tables' statistics
(compute.tables.stats), not by their input: checked against DuckDB's exact counts."""

from __future__ import annotations

import datetime as dt

import dask
import pytest

import compute.sql
from tests.sql.conftest import assert_same

COLUMNS = [
    ("lineitem", "l_returnflag"), ("lineitem", "l_linestatus"), ("orders", "o_orderpriority"),
    ("lineitem", "l_orderkey"), ("lineitem", "l_shipdate"), ("lineitem", "l_comment"),
    ("nation", "n_name"), ("lineitem", "l_extendedprice"),
]
FLAGS = {"l_returnflag", "l_linestatus", "o_orderpriority"}


@pytest.mark.parametrize(("table", "column"), COLUMNS, ids=[c for _, c in COLUMNS])
def test_distinct_estimates_bound_the_true_counts(table, column, tpch):
    source, duck = tpch
    true, rows = duck.execute(
        f"SELECT COUNT(DISTINCT {column}), COUNT(*) FROM {table}").fetchone()
    estimate = source.distinct(table, column)
    assert true <= estimate <= rows
    if column in FLAGS:  # a few values in every row group: counted exactly
        assert estimate == true
    elif column in ("l_orderkey", "l_shipdate"):  # integers and dates: their range
        span, = duck.execute(f"SELECT MAX({column}) - MIN({column}) FROM {table}").fetchone()
        assert estimate == min(span + 1, rows)


@pytest.fixture
def small_broadcasts():
    # Lineitem's columns are far over this, six groups of flags far under it.
    with dask.config.set({"govgrid.join.broadcast-limit": "64 KiB"}):
        yield


def test_a_group_by_of_few_groups_is_a_tree_reduction_whatever_its_input(
        tpch, compute_on, small_broadcasts):
    source, duck = tpch
    text = ("SELECT l_returnflag, l_linestatus, COUNT(*) AS n, SUM(l_quantity) AS q "
            "FROM lineitem GROUP BY l_returnflag, l_linestatus ORDER BY 1, 2")
    query = compute.sql.plan(source, text)
    steps = "\n".join(query.steps)
    assert "about 6 group(s), split_out=1" in steps, steps
    assert "sort by 2 key(s) in one partition" in steps, steps
    assert_same(compute_on(query.frame), duck.execute(text).df(), ordered=True)


def test_a_key_computed_from_columns_has_at_most_their_values(tpch, compute_on,
                                                               small_broadcasts):
    source, duck = tpch
    text = ("SELECT EXTRACT(YEAR FROM o_orderdate) AS y, o_orderpriority, COUNT(*) AS n "
            "FROM orders GROUP BY 1, 2 ORDER BY 1, 2")
    query = compute.sql.plan(source, text)
    days = duck.execute("SELECT MAX(o_orderdate) - MIN(o_orderdate) + 1 FROM orders").fetchone()
    assert f"about {min(days[0] * 5, source.rows('orders')):,} group(s)" in "\n".join(
        query.steps), query.explain()
    assert_same(compute_on(query.frame), duck.execute(text).df(), ordered=True)


def test_a_group_by_of_many_groups_is_shuffled(tpch, compute_on, small_broadcasts):
    source, duck = tpch
    text = "SELECT l_orderkey, SUM(l_quantity) AS q FROM lineitem GROUP BY l_orderkey"
    query = compute.sql.plan(source, text)
    assert any("split_out=True" in step for step in query.steps), query.explain()
    assert_same(compute_on(query.frame), duck.execute(text).df(), ordered=False)


@pytest.mark.parametrize(("table", "column"), [("lineitem", "l_shipdate"),
                                               ("orders", "o_orderkey"),
                                               ("lineitem", "l_returnflag"),
                                               ("lineitem", "l_extendedprice")])
def test_value_ranges_are_the_columns_smallest_and_largest(table, column, tpch):
    source, duck = tpch
    low, high = duck.execute(f"SELECT MIN({column}), MAX({column}) FROM {table}").fetchone()
    found = source.value_range(table, column)
    if isinstance(low, str) or column == "l_extendedprice":  # only integers and dates
        assert found is None
    else:
        assert found == (low, high)


def test_a_date_range_keeps_about_its_share_of_the_rows(tpch):
    # A quarter of orders' seven years: about a 27th of them, not a third.
    source, duck = tpch
    text = ("SELECT o_orderkey FROM orders WHERE o_orderdate >= DATE '1993-10-01' "
            "AND o_orderdate < DATE '1994-01-01'")
    true, = duck.execute(f"SELECT COUNT(*) FROM ({text})").fetchone()
    from compute.sql.execute import Planner
    from compute.sql.rewrite import optimise, parse

    estimate = Planner(source).query(optimise(parse(text), source)).rows
    assert 0.8 * true <= estimate <= 1.25 * true, (estimate, true)


def test_scan_filters_keep_their_share_of_the_rows():
    from compute.sql.execute import RANGE_SELECTIVITY, _filtered_rows

    distinct = {"flag": 3, "nation": 25, "day": 2400}.get
    unknown = {}.get  # no bounds known
    assert _filtered_rows(6000, [("flag", "==", "R")], distinct, unknown) == 2000
    assert _filtered_rows(6000, [("nation", "in", ["A", "B"])], distinct, unknown) == 480
    assert _filtered_rows(9000, [("day", ">=", 1), ("day", "<", 9)], distinct, unknown) == \
        int(9000 * RANGE_SELECTIVITY * RANGE_SELECTIVITY)
    assert _filtered_rows(10, [("nation", "==", "A")] * 3, distinct, unknown) == 1  # never none
    # With the column's smallest and largest value, a range keeps its share of them.
    bounds = {"day": (0, 99), "when": (dt.date(2024, 1, 1), dt.date(2024, 12, 31))}.get
    assert _filtered_rows(9000, [("day", ">=", 10), ("day", "<", 19)], distinct, bounds) == 810
    assert _filtered_rows(9000, [("day", ">", 89)], distinct, bounds) == 900
    assert _filtered_rows(9000, [("day", "<=", -5)], distinct, bounds) == 1  # none: one
    assert _filtered_rows(366, [("when", ">=", dt.date(2024, 3, 1)),
                                ("when", "<", dt.date(2024, 4, 1))], distinct, bounds) == 31
    # a value the bounds cannot place (a string): a third
    assert _filtered_rows(9000, [("day", "<", "x")], distinct, bounds) == 3000
    assert _filtered_rows(0, [("flag", "==", "R")], distinct, unknown) == 0


def test_a_join_to_a_filtered_dimension_keeps_the_dimensions_share(tpch, compute_on):
    # One nation of 25: its suppliers, then their line items, are each about a 25th of the
    # whole, not all of lineitem (the larger side, as an inner join was sized before).
    from compute.sql.execute import Planner
    from compute.sql.rewrite import optimise, parse

    source, duck = tpch
    text = ("SELECT s.s_name, l.l_quantity FROM nation n JOIN supplier s "
            "ON s.s_nationkey = n.n_nationkey JOIN lineitem l ON l.l_suppkey = s.s_suppkey "
            "WHERE n.n_name = 'SAUDI ARABIA'")
    relation = Planner(source).query(optimise(parse(text), source))
    true, = duck.execute(f"SELECT COUNT(*) FROM ({text})").fetchone()
    whole = source.rows("lineitem")
    assert relation.rows == whole * (source.rows("supplier") // 25) // source.rows("supplier")
    assert true // 5 <= relation.rows <= whole // 10  # the true rows' order, not all of them
    assert_same(compute_on(relation.frame).set_axis(["s_name", "l_quantity"], axis=1),
                duck.execute(text).df(), ordered=False)
