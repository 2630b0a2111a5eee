"""Unsupported or invalid SQL is refused by plan(), naming the construct and where it is,
before any table is scanned."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import compute.sql
from compute.exceptions import CatalogError, ParameterError
from tests.sql.conftest import ParquetSource, write_table


class NoScans(ParquetSource):
    """A source whose scans fail: a refusal must come before the first scan."""

    def scan(self, table, columns, filters):
        raise AssertionError(f"scanned {table} before refusing")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors")
    write_table(root, "t", pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), parts=1)
    return NoScans(root)


REFUSED = {
    "recursive CTE": ("WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)\n"
                      "SELECT n FROM r", "recursive CTE", 1),
    "table function": ("SELECT *\nFROM read_parquet('x.parquet')", "table function", 2),
    "lateral join": ("SELECT a\nFROM t, LATERAL (SELECT a + 1 AS c) AS l", "LATERAL", 2),
    "unknown function": ("SELECT a,\n  no_such_function(b) AS c FROM t",
                         "unknown function no_such_function", 2),
    "filter on a window function": ("SELECT a,\n  ROW_NUMBER() FILTER (WHERE a > 1) OVER () "
                                    "FROM t", "FILTER on anything but an aggregate", 2),
    "filter on several values": ("SELECT COUNT(DISTINCT a, b) FILTER (WHERE a > 1) FROM t",
                                 "FILTER on an aggregate of several values", 1),
}


@pytest.mark.parametrize("name", REFUSED)
def test_unsupported_construct_is_refused_while_planning(source, name):
    query, construct, line = REFUSED[name]
    with pytest.raises(compute.sql.SqlError) as refused:
        compute.sql.plan(source, query)
    assert construct in str(refused.value)
    assert construct in refused.value.construct
    assert refused.value.line == line
    assert f"line {line}" in str(refused.value)
    assert isinstance(refused.value, ParameterError)


def test_unknown_table_names_it(source):
    with pytest.raises(CatalogError, match="'missing'"):
        compute.sql.plan(source, "SELECT a FROM missing")


def test_unknown_column_names_it(source):
    with pytest.raises(compute.sql.SqlError, match="nope"):
        compute.sql.plan(source, "SELECT nope FROM t")


def test_syntax_error_gives_its_position(source):
    with pytest.raises(compute.sql.SqlError, match="invalid SQL") as refused:
        compute.sql.plan(source, "SELECT a FROM t WHERE")
    assert refused.value.construct == "syntax"


def test_ungrouped_column_is_refused(tmp_path):
    write_table(tmp_path, "t", pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), parts=1)
    with pytest.raises(compute.sql.SqlError, match="neither grouped nor aggregated"):
        compute.sql.plan(ParquetSource(tmp_path), "SELECT a, b, COUNT(*) FROM t GROUP BY a")


OTHER_REFUSALS = {
    "SELECT FIRST_VALUE(a) OVER (ORDER BY a ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t":
        "window frame",
    "SELECT COUNT(DISTINCT a, b) FROM t": "COUNT(DISTINCT) of several values",
    # what the executor would not read is refused, never dropped
    "SELECT COUNT(*) FROM t NATURAL JOIN t AS u": "NATURAL JOIN",
    "SELECT COUNT(*) FROM t ASOF JOIN t AS u ON t.b = u.b AND t.a >= u.a": "ASOF JOIN",
    "SELECT COUNT(*) FROM t POSITIONAL JOIN t AS u": "POSITIONAL JOIN",
    "SELECT COUNT(*) FROM t TABLESAMPLE 10%": "TABLESAMPLE",
    "SELECT COUNT(*) FROM t USING SAMPLE 1 ROWS": "TABLESAMPLE (USING SAMPLE)",
    "SELECT a FROM t ORDER BY a LIMIT 50%": "LIMIT with PERCENT",
    "SELECT a FROM t ORDER BY a FETCH FIRST 1 ROWS WITH TIES": "WITH TIES",
    "SELECT SUM(a) OVER (ORDER BY a ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING "
    "EXCLUDE CURRENT ROW) FROM t": "EXCLUDE",
    "SELECT SUM(a) OVER w FROM t": "OVER a window that no WINDOW clause names",
    "SELECT LAG(a IGNORE NULLS) OVER (ORDER BY a) FROM t": "IGNORE NULLS",
    "SELECT MAX(a, 2) FROM t": "MIN or MAX of the n least or greatest",
    "SELECT SUM(a) OVER w FROM t WINDOW v AS (ORDER BY a)":
        "window w: no such window in the WINDOW clause",
    "SELECT SUM(a) OVER (w ORDER BY b) FROM t WINDOW w AS (ORDER BY a)":
        "ORDER BY over window w, which has one",
    "SELECT a FROM t INTERSECT ALL SELECT a FROM t": "INTERSECT ALL",
    "SELECT atan2(a, a) FROM t": "unsupported function ATAN2",
    "SELECT a FROM t WHERE a = 'x'": "'x' is no number",
    "SELECT a FROM t WHERE DATE '2024-01-01' = '2024-02-30'": "'2024-02-30' is no date",
    "SELECT CAST('1,5' AS DOUBLE) FROM t": "'1,5' is no number",
    "SELECT LEFT(b, a) FROM t": "LEFT of a count other than an integer constant",
    "SELECT STRFTIME(a, '%A') FROM t": "STRFTIME with a format other than a literal",
    "SELECT STRPTIME(b, '%Y-%j') FROM t": "STRPTIME with a format other than a literal",
    "SELECT STRPTIME(b, '%Y-%m-%Y') FROM t": "STRPTIME with a format other than a literal",
    "SELECT CONCAT_WS(b, b) FROM t": "CONCAT_WS with a separator other than a literal",
    "SELECT SPLIT_PART(b, '-', a) FROM t": "SPLIT_PART other than by a literal string",
    "SELECT a, COUNT(*) FROM t GROUP BY ROLLUP (3)": "GROUP BY position 3 of a SELECT list of 2",
    "SELECT LAG(a, a) OVER (ORDER BY a) FROM t": "LAG by an offset that is not an integer",
    "SELECT REPLACE(b, b, 'x') FROM t": "REPLACE of anything but literal strings",
    "SELECT STDDEV(a) OVER () FROM t": "window function STDDEV",
    "SELECT MEDIAN(a) OVER () FROM t": "window function MEDIAN",
    "SELECT QUANTILE_CONT(a, a) FROM t": "QUANTILE_CONT of a fraction other than one constant",
    "SELECT QUANTILE_CONT(a, 1.5) FROM t": "QUANTILE_CONT of a fraction other than one constant",
    "SELECT MEDIAN(b) FROM t": "QUANTILE_CONT (MEDIAN) of values that are not numbers",
    "SELECT DATE_DIFF('hour', a, a) FROM t": "DATE_DIFF in unit hour",
    "SELECT b + 1 FROM t": "cannot evaluate",
    "SELECT a FROM t WHERE b * 2 > 1": "cannot evaluate",
    "SELECT a FROM t WHERE b LIKE a": "LIKE with a pattern other than a string literal",
    "SELECT a FROM t x WHERE a NOT IN (SELECT a FROM t y WHERE y.b = x.b)":
        "NOT IN with a correlated subquery",
    "SELECT a FROM t WHERE a > 1 OR EXISTS (SELECT 1 FROM t)": "subquery",
    # was refused naming x.a as 'neither grouped nor aggregated'
    "SELECT a, (SELECT COUNT(*) FROM t y WHERE y.b = x.b AND y.a > x.a) FROM t x":
        "a subquery in the SELECT list tied to its query by a condition other than an equality",
    "SELECT DATE_TRUNC('decade', CAST(b AS DATE)) FROM t": "DATE_TRUNC to decade",
    # a number is no date (the engine read it as nanoseconds since 1970: YEAR(a) was 1970)
    "SELECT DATE_TRUNC('week', a) FROM t": "of a BIGINT value: no number or boolean is a date",
    "SELECT YEAR(a) FROM t": "CAST of a BIGINT value: no number or boolean is a date",
    "SELECT DAYNAME(a > 1) FROM t": "DAYNAME of a BOOLEAN value",
    "SELECT TRIM(b, b) FROM t": "TRIM of characters other than a literal string",
    "SELECT STRPOS(b, b) FROM t": "STRPOS of anything but a literal string",
    "SELECT LPAD(b, 3, 'ab') FROM t": "LPAD with a width or fill other than",
    "SELECT STARTS_WITH(b, 'x%') FROM t": "unsupported function STARTS_WITH",
    "SELECT ROUND(a, a) FROM t": "ROUND to places that are not an integer constant",
    "SELECT TRUNC(a, 1) FROM t": "TRUNC with a second argument",
    "SELECT * FROM t ORDER BY ALL": "ORDER BY ALL of SELECT *",
    "SELECT LEFT(a, 1) FROM t": "LEFT of a BIGINT value: CAST it to VARCHAR first",
    "SELECT a FROM t WHERE a LIKE '1%'": "LIKE of a BIGINT value: CAST it to VARCHAR first",
    "SELECT a, GROUPING(b) FROM t GROUP BY a": "GROUPING of other than the GROUP BY keys",
    "SELECT DISTINCT ON (a) a, b FROM t ORDER BY 1": "DISTINCT ON with ORDER BY a position",
    "SELECT SUM(a) OVER (ORDER BY a ROWS BETWEEN 1000 PRECEDING AND 1 FOLLOWING) FROM t":
        "window frame",
    "SELECT SUM(a) OVER (ORDER BY a RANGE BETWEEN 2 PRECEDING AND CURRENT ROW) FROM t":
        "window frame",
    "SELECT b ~ b FROM t": "REGEXP_LIKE with a pattern other than a string literal",
    "SELECT REGEXP_MATCHES(b, '(x') FROM t": "invalid regular expression '(x'",
    "SELECT REGEXP_REPLACE(b, 'x', 'y', 'i') FROM t": "REGEXP_REPLACE with options other than",
    "SELECT REGEXP_REPLACE(b, '(x)', '<\\1>') FROM t": "so add the option 'g'",
    "SELECT REGEXP_REPLACE(b, 'x', '\\n', 'g') FROM t": "a backslash other than a group's",
    "SELECT REGEXP_EXTRACT(b, '(x)', 2) FROM t": "REGEXP_EXTRACT of group 2: the pattern has 1",
    "SELECT a FROM t WHERE (a, b) NOT IN (SELECT a, b FROM t)": "NOT IN of a tuple",
    "SELECT a FROM t WHERE (a, b) IN (SELECT a FROM t)":
        "IN of 2 values and a subquery of 1 columns",
    "SELECT NTILE(a) OVER (ORDER BY a) FROM t": "NTILE of buckets other than an integer",
    "SELECT NTILE(0) OVER (ORDER BY a) FROM t": "NTILE of fewer than one bucket",
    "SELECT STRING_AGG(b, b) FROM t": "STRING_AGG with a separator other than a string literal",
    "SELECT ARG_MAX(b, a, 2) FROM t": "ARG_MAX of several values",
    "SELECT STRING_AGG(b) OVER () FROM t": "window function GROUP_CONCAT",
}


@pytest.mark.parametrize("query", OTHER_REFUSALS)
def test_construct_found_unsupported_while_translating_is_refused(tmp_path, query):
    write_table(tmp_path, "t", pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), parts=1)
    with pytest.raises(compute.sql.SqlError, match=re.escape(OTHER_REFUSALS[query])):
        compute.sql.plan(ParquetSource(tmp_path), query)
