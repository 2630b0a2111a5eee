"""Inner joins planned in an order that needs no cross join where the conditions connect the
tables (TPC-H Q02's FROM order made part x supplier), each against DuckDB over the same files;
outer joins, and what follows them, stay where they were written."""

from __future__ import annotations

from pathlib import Path

import dask
import pandas as pd
import pytest
import sqlglot

import compute.sql
from compute.sql.execute import _conjuncts, _join_order
from compute.sql.rewrite import DIALECT, optimise, parse
from tests.sql.conftest import ParquetSource, assert_same, duckdb_over, write_table

TPCH = Path(__file__).parents[2] / "examples" / "sql" / "tpch"


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory):
    """Regions, cities, people and orders: keys with NULLs, dangling keys and repeats."""
    root: Path = tmp_path_factory.mktemp("places")
    write_table(root, "regions", pd.DataFrame({
        "id": [1, 2, 3], "rname": ["north", "south", "east"]}))
    write_table(root, "cities", pd.DataFrame({
        "id": [10, 11, 12, 13, 14], "region": [1, 1, 2, None, 9],
        "cname": ["a", "b", "c", "d", "x"]}).astype({"region": "Int64"}))
    write_table(root, "people", pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6, 7, 8], "city": [10, 10, 11, 12, None, 13, 14, 11],
        "name": ["ann", "bob", "cy", "dora", "ed", "flo", "gus", "hal"]}).astype(
        {"city": "Int64"}))
    write_table(root, "orders", pd.DataFrame({
        "person": [1, 1, 2, 4, 4, 9, None, 6], "amount": [5, 6, 7, 8, 9, 10, 11, 12]}).astype(
        {"person": "Int64"}))
    return ParquetSource(root), duckdb_over(root)


def check(places, query: str) -> compute.sql.Query:
    """Plan ``query``, compute it in-process and compare it with DuckDB's result."""
    source, duck = places
    with dask.config.set({"scheduler": "sync", "dataframe.shuffle.method": "tasks"}):
        planned = compute.sql.plan(source, query)
        got = planned.frame.compute()
    assert_same(got, duck.execute(query).df(), ordered=False)
    return planned


def joins(planned: compute.sql.Query) -> list[str]:
    """The join steps, as "<KIND> JOIN <alias> on <n> key(s)", in planned order."""
    return [s.split(":")[0] for s in planned.steps if " JOIN " in s]


# sqlglot reorders the joins of a SELECT itself, but only when none has a side: the LEFT
# JOIN that unnests a correlated scalar subquery (as in TPC-H Q02) keeps the FROM order.
BAD_ORDER = ("SELECT r.rname, c.cname, p.name, o.amount "
             "FROM regions r, people p, cities c, orders o "
             "WHERE p.city = c.id AND c.region = r.id AND o.person = p.id AND c.cname < 'x' "
             "AND o.amount > (SELECT MIN(o2.amount) FROM orders o2 WHERE o2.person = p.id)")


def test_badly_ordered_from_list_is_planned_without_a_cross_join(places):
    planned = check(places, BAD_ORDER)
    assert "CROSS JOIN" in planned.optimised.sql()  # what the planner was given
    assert joins(planned) == ["INNER JOIN c on 1 key(s)", "INNER JOIN p on 1 key(s)",
                              "INNER JOIN o on 1 key(s)", "LEFT JOIN _u_0 on 1 key(s)"], \
        planned.explain()
    assert "CROSS JOIN" not in "\n".join(planned.steps)
    scans = [s for s in planned.steps if s.startswith("scan cities")]
    assert "('cname', '<', 'x')" in scans[0], scans  # the ON term still reaches the scan


def test_planning_leaves_the_optimised_tree_as_it_was(places):
    source, _ = places
    planned = compute.sql.plan(source, BAD_ORDER)
    assert planned.optimised.sql() == optimise(parse(BAD_ORDER), source).sql()
    assert compute.sql.plan(source, BAD_ORDER).steps == planned.steps


PLANNED = {
    "unconnected tables still cross join": (
        "SELECT p.id, r.rname FROM people p, regions r WHERE p.id < 4",
        ["CROSS JOIN r on 0 key(s)"]),
    "an unconnected table in the run is a cross join": (
        "SELECT r.rname, c.cname, p.name, o.amount FROM regions r, people p, cities c "
        "LEFT JOIN orders o ON o.person = c.id WHERE c.region = r.id",
        ["INNER JOIN c on 1 key(s)", "CROSS JOIN p on 0 key(s)", "LEFT JOIN o on 1 key(s)"]),
    "a left join stays after the reordered inner joins": (
        "SELECT r.rname, p.name, c.cname, o.amount FROM regions r CROSS JOIN people p "
        "JOIN cities c ON p.city = c.id AND c.region = r.id LEFT JOIN orders o ON o.person = p.id",
        ["INNER JOIN c on 1 key(s)", "INNER JOIN p on 1 key(s)", "LEFT JOIN o on 1 key(s)"]),
    "joins after an outer join keep their place": (
        "SELECT r.rname, p.name, c.cname, o.amount FROM regions r CROSS JOIN people p "
        "LEFT JOIN orders o ON o.person = p.id JOIN cities c ON p.city = c.id "
        "AND c.region = r.id",
        ["CROSS JOIN p on 0 key(s)", "LEFT JOIN o on 1 key(s)", "INNER JOIN c on 2 key(s)"]),
}


@pytest.mark.parametrize(("query", "expected"), PLANNED.values(), ids=PLANNED)
def test_joins_are_planned_in_order(places, query, expected):
    planned = check(places, query)
    assert joins(planned) == expected, planned.explain()


UNCHANGED = {
    "written in a good order": "SELECT 1 FROM a JOIN b ON a.k = b.k JOIN c ON c.k = b.k "
                               "AND c.j = a.j AND c.v > 1 CROSS JOIN d",
    "an ON term with a subquery": "SELECT 1 FROM a CROSS JOIN b JOIN c ON a.k = c.k "
                                  "AND b.k = c.k AND c.v > (SELECT MAX(v) FROM e)",
}


@pytest.mark.parametrize("query", UNCHANGED.values(), ids=UNCHANGED)
def test_joins_come_back_as_they_were(query):
    select = sqlglot.parse_one(query, read=DIALECT)
    given = select.args["joins"]
    assert all(x is y for x, y in zip(_join_order(select.args["from_"].this, given), given,
                                      strict=True))


def test_every_on_term_is_placed_once_where_it_becomes_resolvable():
    text = ("SELECT 1 FROM a CROSS JOIN b JOIN c ON a.k = c.k AND b.k = c.k AND 1 = 1 "
            "AND b.v > a.v JOIN d ON d.k = b.k")
    select = sqlglot.parse_one(text, read=DIALECT)
    ordered = _join_order(select.args["from_"].this, select.args["joins"])
    assert [(j.this.alias_or_name, [t.sql() for t in _conjuncts(j.args["on"])])
            for j in ordered] == [("c", ["a.k = c.k", "1 = 1"]),
                                  ("b", ["b.k = c.k", "b.v > a.v"]),
                                  ("d", ["d.k = b.k"])]
    assert all(j.kind == "" and j.side == "" for j in ordered)
    assert select.sql(dialect=DIALECT) == sqlglot.parse_one(text, read=DIALECT).sql(
        dialect=DIALECT)
    assert all(j.this.parent is j for j in select.args["joins"])  # the items weren't moved


def test_tpch_q02_plans_no_cross_join(tpch):
    source, _ = tpch
    planned = compute.sql.plan(source, (TPCH / "q02.sql").read_text())
    steps = joins(planned)
    assert steps and not any("CROSS JOIN" in s or " on 0 key(s)" in s for s in steps), \
        planned.explain()
    assert steps[-1].startswith("LEFT JOIN _u_0"), steps  # the unnested subquery, still last


SIZED = {
    # FROM supplier: one nation of 25 before the line items of every supplier
    "q21": ["INNER JOIN nation", "INNER JOIN l1"],
    # FROM customer: orders (by customer key) before the suppliers of the customers'
    # nations, a many-to-many join of every customer to every supplier of its nation
    "q05": ["INNER JOIN orders", "INNER JOIN lineitem", "INNER JOIN supplier"],
}


@pytest.mark.parametrize("query", SIZED)
def test_tied_joins_come_by_the_rows_they_keep(tpch, query):
    source, _ = tpch
    planned = compute.sql.plan(source, (TPCH / f"{query}.sql").read_text())
    steps = [s.split(" on ")[0] for s in joins(planned)]
    assert steps[:len(SIZED[query])] == SIZED[query], planned.explain()


def test_a_sized_item_is_filtered_by_its_own_terms_in_the_run_alone(places):
    # cities and orders both tie to people, so both are planned to size them; the term over
    # cities in the join after the LEFT JOIN is applied there, not in the cities' scan
    planned = check(places, "SELECT p.name, c.cname, o.amount, r.rname FROM people p "
                            "JOIN cities c ON p.city = c.id JOIN orders o ON o.person = p.id "
                            "LEFT JOIN regions r ON r.id = c.region "
                            "JOIN orders o2 ON o2.person = p.id AND c.cname = 'a'")
    scan = next(s for s in planned.steps if s.startswith("scan cities"))
    assert "filters none" in scan, planned.explain()


def filter_steps(planned: compute.sql.Query) -> list[int]:
    """Where the WHERE filters run: the number of joins planned before each."""
    placed, seen = [], 0
    for step in planned.steps:
        seen += " JOIN " in step
        if step.startswith("filter by "):
            placed.append(seen)
    return placed


EARLY = {
    # the FROM table's term runs before any join (sqlglot moves the other into an ON)
    "inner joins": ("SELECT p.name, c.cname, o.amount FROM people p JOIN cities c "
                    "ON p.city = c.id JOIN orders o ON o.person = p.id "
                    "WHERE LOWER(p.name) <> 'bob' AND (c.cname = 'a' OR o.amount > 6)", [0]),
    # a LEFT join preserves what the term filters; the term on its NULL side waits for it
    "left join": ("SELECT p.name, o.amount FROM people p LEFT JOIN orders o "
                  "ON o.person = p.id WHERE LOWER(p.name) <> 'ann' AND o.amount IS NULL",
                  [0, 1]),
    # a RIGHT or FULL join NULL-extends the FROM table: its terms wait for the end
    "right join": ("SELECT p.name, c.cname FROM people p RIGHT JOIN cities c "
                   "ON p.city = c.id WHERE p.name IS NULL OR p.name <> 'bob'", [1]),
    "full join": ("SELECT p.name, o.amount FROM people p FULL JOIN orders o "
                  "ON o.person = p.id WHERE p.name IS NULL", [1]),
}


@pytest.mark.parametrize("strategy", ["broadcast", "shuffle"])
@pytest.mark.parametrize(("query", "placed"), EARLY.values(), ids=EARLY)
def test_where_terms_run_as_soon_as_their_tables_are_joined(places, query, placed, strategy):
    with dask.config.set({"govgrid.sql.join": strategy}):
        planned = check(places, query)
    assert filter_steps(planned) == placed, planned.explain()


APPLIED = {
    # terms a scan applies to each row as it reads are not applied again
    "where": ("SELECT p.name FROM people p WHERE p.id >= 3 AND p.name < 'ed'", []),
    "inner join": ("SELECT p.name, c.cname FROM people p JOIN cities c "
                   "ON p.city = c.id AND c.cname > 'a' WHERE p.id < 8", []),
    # ... unless a join NULL-extends the rows that met them
    "right join": ("SELECT p.name, c.cname FROM people p RIGHT JOIN cities c "
                   "ON p.city = c.id WHERE p.name > 'bob'", [1]),
    "full join": ("SELECT p.name, o.amount FROM people p FULL JOIN orders o "
                  "ON o.person = p.id WHERE o.amount > 6 AND p.id > 1", [1]),
    "left join": ("SELECT p.name, o.amount FROM people p LEFT JOIN orders o "
                  "ON o.person = p.id AND o.amount > 6 WHERE o.amount > 6", [1]),
}


@pytest.mark.parametrize("query", ["SELECT c.cname FROM cities c WHERE c.region <> 1",
                                   "SELECT c.cname FROM cities c WHERE c.cname <> 'a' "
                                   "AND c.region <> 2"])
def test_a_not_equal_term_keeps_no_row_whose_column_is_null(places, query):
    check(places, query)  # Dask's Parquet filter "!=" would keep region NULL


@pytest.mark.parametrize(("query", "placed"), APPLIED.values(), ids=APPLIED)
def test_terms_a_scan_applied_run_again_only_after_a_join_adds_nulls(places, query, placed):
    planned = check(places, query)
    assert filter_steps(planned) == placed, planned.explain()
    assert "filters none" not in next(s for s in planned.steps if s.startswith("scan ")), \
        planned.explain()


KEY_COLUMNS = {
    # columns of one dtype join as they are: NULL keys match nothing, repeated keys repeat
    "self join": "SELECT a.name, b.name AS other, a.city FROM people a JOIN people b "
                 "ON a.city = b.city",
    "left join": "SELECT a.name, b.name AS other, b.city FROM people a LEFT JOIN people b "
                 "ON a.city = b.city AND a.id = b.id + 1",
    "full join": "SELECT a.city, b.city AS other FROM people a FULL JOIN people b "
                 "ON a.city = b.city",
    # Int64 against int64: made one dtype in columns of their own, the keys kept as they were
    "two dtypes": "SELECT c.region, r.id, c.cname FROM cities c JOIN regions r "
                  "ON c.region = r.id",
}


@pytest.mark.parametrize("strategy", ["broadcast", "shuffle"])
@pytest.mark.parametrize("query", KEY_COLUMNS.values(), ids=KEY_COLUMNS)
def test_key_columns_come_out_of_a_join_as_they_went_in(places, query, strategy):
    with dask.config.set({"govgrid.sql.join": strategy}):
        check(places, query)
