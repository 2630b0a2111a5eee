"""Column expressions, windows, grouping sets, subqueries, set operations and joins on small
tables with NULLs, each against DuckDB over the same files."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import compute.sql
from compute.sql.errors import ConversionError, SeveralRowsError, SqlError
from tests.sql.conftest import ParquetSource, assert_same, duckdb_over, write_table


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("small")
    write_table(root, "people", pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6, 7, 8],
        "name": ["  Ann ", "bob", None, "Cy", "dora", "Ed", "ann", "Flo"],
        "born": [dt.date(1990, 1, 31), dt.date(1985, 6, 15), None, dt.date(2000, 2, 29),
                 dt.date(1990, 1, 31), dt.date(1972, 12, 1), dt.date(1999, 3, 3), None],
        "score": [1.5, None, 3.0, 4.25, 2.0, None, 7.0, 3.0],
        "grp": ["a", "b", "a", None, "b", "a", "c", "c"],
        "city": ["x", "x", "y", "y", None, "x", "y", "x"],
        "amount": [10, 20, 30, 40, 50, 60, 70, 80],
    }))
    write_table(root, "visits", pd.DataFrame({
        "person": [1, 1, 2, 4, 4, 4, 9, None],
        "day": [dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5, 6, 7, 8)],
        "cost": [5.0, 6.0, None, 1.0, 2.0, 3.0, 4.0, 8.0],
    }, ).astype({"person": "Int64"}))
    # money as departments export it: DECIMAL, which DuckDB rounds a half away from zero
    write_table(root, "fees", pa.table({
        "id": pa.array(range(1, 9), pa.int64()),
        "fee": pa.array([None if v is None else Decimal(v) for v in (
            "2.50", "-3.50", "1.25", None, "0.50", "-0.50", "7.49", "3792.50")],
            pa.decimal128(10, 2)),
    }))
    # money whose doubles Arrow's cast and double arithmetic land a unit in the last place off
    write_table(root, "money", pa.table({
        "id": pa.array(range(1, 9), pa.int64()),
        "price": pa.array([Decimal(v) if v else None for v in (
            "24710.35", "27389.76", "0.07", "-0.07", None, "56688.12", "0.10", "0.20")],
            pa.decimal128(15, 2)),
        "rate": pa.array([Decimal(v) if v else None for v in (
            "0.04", "0.10", None, "0.06", "0.00", "0.07", "0.01", "0.02")],
            pa.decimal128(15, 2))}))
    return ParquetSource(root), duckdb_over(root)


def check(small, query: str, ordered: bool = False) -> compute.sql.Query:
    source, duck = small
    # In-process: tasks-based shuffles, chosen when the graph is built (p2p, which a cluster
    # started by an earlier test makes the default, needs workers).
    with dask.config.set({"scheduler": "sync", "dataframe.shuffle.method": "tasks"}):
        planned = compute.sql.plan(source, query)
        got = planned.frame.compute()
    assert_same(got, duck.execute(query).df(), ordered)
    return planned


EXPRESSIONS = {
    "case": "SELECT id, CASE WHEN score > 3 THEN 'high' WHEN score IS NULL THEN 'none' "
            "ELSE 'low' END AS c, CASE grp WHEN 'a' THEN 1 WHEN 'b' THEN 2 END AS g FROM people",
    "cast": "SELECT id, CAST(score AS INTEGER) AS i, CAST(id AS VARCHAR) AS s, "
            "CAST(amount AS DOUBLE) / 3 AS d, CAST('2024-02-03' AS DATE) AS literal FROM people",
    "coalesce": "SELECT id, COALESCE(score, amount / 10, 0) AS c, COALESCE(name, grp, '?') AS n "
                "FROM people",
    "dates": "SELECT id, born + INTERVAL 3 MONTH AS m, born - INTERVAL 10 DAY AS d, "
             "born + INTERVAL 1 YEAR AS y, born < DATE '1990-01-31' AS before FROM people",
    "extract": "SELECT id, EXTRACT(year FROM born) AS y, EXTRACT(month FROM born) AS m, "
               "EXTRACT(day FROM born) AS d, EXTRACT(quarter FROM born) AS q FROM people",
    "date_parts": "SELECT id, YEAR(born) AS y, QUARTER(born) AS q, MONTH(born) AS m, "
                  "DAY(born) AS d, DAYOFWEEK(born) AS w, DAYOFYEAR(born) AS j, "
                  "DATE_TRUNC('month', born) AS tm, DATE_TRUNC('quarter', born) AS tq, "
                  "DATE_TRUNC('year', born) AS ty, DATE_TRUNC('day', born) AS td, "
                  "DATE_TRUNC('week', born) AS tw, "
                  "DATE_TRUNC('month', DATE '2024-11-15') AS literal FROM people",
    "like": "SELECT id, name LIKE '%n%' AS has_n, name NOT LIKE '_o%' AS not_o, "
            "name ILIKE 'A%' AS a FROM people",
    "strings": "SELECT id, SUBSTRING(name, 2, 2) AS sub, UPPER(name) AS up, LOWER(name) AS lo, "
               "TRIM(name) AS t, name || '-' || grp AS cat, LENGTH(name) AS len FROM people",
    "floor_ceil_trim": "SELECT id, FLOOR(score) AS f, CEIL(score / 2) AS c, FLOOR(amount) AS i, "
                       "FLOOR(-2.5) AS k, LTRIM(name) AS l, RTRIM(name) AS r, "
                       "TRIM(name, ' A') AS t FROM people",
    "string_search": "SELECT id, STARTS_WITH(name, 'A') AS s, ENDS_WITH(name, 'n') AS e, "
                     "CONTAINS(name, 'o') AS c, STRPOS(name, 'n') AS p, POSITION('b' IN name) "
                     "AS q, LPAD(grp, 3, '0') AS l, RPAD(name, 4, '*') AS r FROM people "
                     "WHERE NOT CONTAINS(city, 'z') OR city IS NULL",
    # the ideographic and no-break spaces are trimmed, a tab is not
    "unicode_spaces": "SELECT id, TRIM(name || '\u3000\u00a0') AS t, "
                      "LTRIM('\u3000 ' || name) AS l, RTRIM(name || '\u2003\t') AS r FROM people",
    "three_valued": "SELECT id FROM people WHERE NOT (score > 2) OR grp IN ('c', NULL)",
    "in_between": "SELECT id, score BETWEEN 2 AND 4 AS b, grp NOT IN ('a', 'b') AS n FROM people",
    # DATE - DATE is the days between, an integer, as in PostgreSQL and DuckDB
    "date_differences": "SELECT id, born - DATE '1990-01-01' AS d, DATE '2024-01-01' - born "
                        "AS e, (born - DATE '1990-01-01') / 7 AS w, DATE '2024-03-01' - "
                        "DATE '2024-02-01' AS c FROM people WHERE born - DATE '1980-01-01' > 0 "
                        "OR born IS NULL",
    # DATE + or - an integer: that many days on or back, a DATE (DuckDB's)
    "date_plus_days": "SELECT id, born + 30 AS a, born - 1 AS b, 7 + born AS c, "
                      "born + CAST(amount AS INTEGER) AS d, DATE '2024-02-28' + 2 AS e FROM people "
                      "WHERE born + 365 > DATE '1991-01-01'",
    "nullif": "SELECT id, NULLIF(grp, 'a') AS g, amount / NULLIF(amount - 30, 0) AS r, "
              "NULLIF(score, NULL) AS s, NULLIF(NULL, 1) AS n FROM people",
    "arithmetic": "SELECT id, -amount + id * 2 AS a, amount % 7 AS m, score / 0 AS z, "
                  "ROUND(score / 3, 2) AS r, ABS(score - 4) AS ab FROM people",
    # GREATEST and LEAST skip NULLs; REPLACE of '' replaces nothing (DuckDB's)
    "greatest_replace_sqrt": "SELECT id, GREATEST(score, amount / 10) AS g, LEAST(score, "
                             "amount / 10, 3) AS l, GREATEST(born, DATE '1990-01-01') AS d, "
                             "LEAST(name, grp) AS s, GREATEST(NULL, score) AS n, REPLACE(name, "
                             "'n', 'NN') AS r, REPLACE(name, '', 'x') AS e, SQRT(amount) AS q, "
                             "SQRT(score - 3) AS negative, "
                             "GREATEST(2, 5, 1) AS k FROM people",
    # the unit boundaries between two dates, DuckDB's DATE_DIFF
    "date_diff": "SELECT id, DATE_DIFF('year', born, DATE '2024-03-01') AS y, DATE_DIFF('month', "
                 "born, DATE '2024-03-01') AS m, DATE_DIFF('quarter', DATE '2000-01-01', born) "
                 "AS q, DATE_DIFF('day', born, DATE '2024-03-01') AS d FROM people "
                 "WHERE DATE_DIFF('year', born, DATE '2024-01-01') >= 25 OR born IS NULL",
    # CONCAT reads a NULL as '' (|| does not); CONCAT_WS skips NULLs
    "string_pieces": "SELECT id, LEFT(name, 2) AS l, RIGHT(name, 2) AS r, LEFT(name, -1) AS ln, "
                     "RIGHT(name, -1) AS rn, RIGHT(name, 0) AS r0, CONCAT(name, grp, '!') AS c, "
                     "name || grp AS p, CONCAT_WS('-', name, grp, city) AS w, "
                     "CONCAT(NULL, NULL) AS n, SPLIT_PART(name, 'n', 1) AS s1, "
                     "SPLIT_PART(name || '-x-y', '-', 3) AS s3, SPLIT_PART(name, 'o', 2) AS s2, "
                     "SPLIT_PART(name, 'n', 4) AS past FROM people",
    # from the end: negative starts and pieces (refused before), a start before 1 counting
    # into the length, a negative length the characters before the start ('' before), piece
    # 0 ''
    "string_ends": "SELECT id, SUBSTRING(name, -2) AS a, SUBSTRING(name, -3, 2) AS b, "
                   "SUBSTRING(name, 3, -2) AS j, SUBSTRING(name, -1, -2) AS k, "
                   "SUBSTRING(name, -2, 5) AS c, SUBSTRING(name, 0, 1) AS d, SUBSTRING(name, 0, "
                   "2) AS e, SPLIT_PART(name || '-x-yz', '-', -1) AS f, SPLIT_PART(name, 'n', -2) "
                   "AS g, SPLIT_PART(name, 'o', 0) AS h, SPLIT_PART(name || '--x', '--', -1) AS i "
                   "FROM people",
    "date_formats": "SELECT id, STRFTIME(born, '%Y-%m') AS ym, STRFTIME(born, '%d/%m/%Y %j') AS f, "
                    "DATE_PART('year', born) AS y, DATE_PART('quarter', born) AS q, "
                    "born < CURRENT_DATE AS past, DATE_DIFF('year', DATE '2000-01-01', "
                    "CURRENT_DATE) AS since FROM people",
    # English day and month names, a month's last day (leap years), ISO weekdays and weeks
    "date_names": "SELECT id, DAYNAME(born) AS d, MONTHNAME(born) AS m, LAST_DAY(born) AS l, "
                  "ISODOW(born) AS i, WEEK(born) AS w, EXTRACT(isoyear FROM born) AS y, "
                  "LAST_DAY(DATE '2023-02-10') AS f FROM people",
    # a string compared with a number or a date is read as one, as DuckDB casts it
    "implicit_casts": "SELECT id, amount > '30' AS a, CAST(amount AS VARCHAR) = 40 AS b, "
                      "born >= '1990-01-31' AS c FROM people WHERE amount = '40' OR amount IN "
                      "('10', ' 20 ') OR born = '1990-1-31' OR score BETWEEN '3.5' AND '5' OR "
                      "born IN ('1985-06-15', '1999-03-03 10:00:00') OR amount = '79.5'",
    # strings parsed as DuckDB casts them: spaces trimmed, '10.5' rounded away from zero, a
    # date's time ignored; NULL from TRY_CAST where a string is no number or date
    "string_casts": "SELECT id, CAST(CAST(amount AS VARCHAR) || '.5' AS INTEGER) AS i, "
                    "CAST(' ' || CAST(score AS VARCHAR) || ' ' AS DOUBLE) AS d, "
                    "CAST(CAST(born AS VARCHAR) || ' 10:00:00' AS DATE) AS t, "
                    "TRY_CAST(name AS INTEGER) AS n, TRY_CAST(grp AS DATE) AS g, "
                    "TRY_CAST(CAST(id AS VARCHAR) || '-02-30' AS DATE) AS bad, "
                    "TRY_CAST('x' AS DOUBLE) AS x, CAST('2024-1-2' AS DATE) AS literal, "
                    "CAST('2.5' AS INTEGER) AS half, CAST('false' AS BOOLEAN) AS no, "
                    "CAST('T' AS BOOLEAN) AS yes, TRY_CAST(grp AS BOOLEAN) AS gb, "
                    "CAST(CAST(id % 2 AS VARCHAR) AS BOOLEAN) AS odd FROM people",
    # RE2's regexes, as DuckDB's: a search, a whole match, the first or every replacement
    # (groups too), a group's text ('' where none matches); NULL for NULL
    "regex": "SELECT id, name ~ 'n+' AS a, REGEXP_MATCHES(name, '^a', 'i') AS b, "
             "REGEXP_FULL_MATCH(name, '[a-z]+') AS c, name !~ 'o' AS d, "
             "REGEXP_REPLACE(name, '[aeiou]', '*') AS e, REGEXP_REPLACE(name, '[aeiou]', '*', "
             "'g') AS f, REGEXP_REPLACE(name, '(.)(.)', '\\2\\1', 'g') AS g, "
             "REGEXP_EXTRACT(name, '([a-z])([a-z])', 2) AS h, REGEXP_EXTRACT(name, 'o.') AS k "
             "FROM people WHERE REGEXP_MATCHES(COALESCE(name, 'x'), '[^x]') OR id = 3",
    # DuckDB's math in doubles: LN(0) -inf, LN of a negative and a negative's fractional
    # power NaN; LOG(x) is base 10; integers to negative powers
    "math": "SELECT id, LN(score) AS ln, EXP(score) AS e, POWER(amount, -1) AS p, "
            "POW(score - 3, 0.5) AS root, amount ^ 2 AS sq, LOG(amount) AS lg, LOG2(amount) "
            "AS l2, LOG10(amount * 10) AS l10, LOG(3, amount) AS l3, LN(score - 3) AS ln0, "
            "SIGN(score - 3) AS s, SIGN(amount - 40) AS si, CBRT(amount) AS c, "
            "TRUNC(-score / 2) AS t, TRUNC(amount) AS ti, PI() * amount AS pa, "
            "POWER(NULL, 2) AS n FROM people",
    # // of integers rounds toward zero; of doubles it is a plain division (DuckDB's)
    "integer_division": "SELECT id, amount // 3 AS a, -amount // 7 AS b, amount // -6 AS c, "
                        "(id - 5) // 2 AS e, score // 2 AS d, 7 // 2 AS k FROM people",
    # MAKE_DATE's fields from columns and literals; NULL where one is
    "make_date": "SELECT id, MAKE_DATE(EXTRACT(year FROM born), 12, 31) AS eoy, "
                 "MAKE_DATE(2024, id, 2 * id) AS d, MAKE_DATE(2024, 2, 29) + INTERVAL 1 YEAR "
                 "AS leap, MAKE_DATE(2024, NULL, 1) AS n FROM people WHERE id < 7",
    # a DECIMAL holds its scale's places, rounded a half away from zero, as DuckDB casts
    "decimal_casts": "SELECT id, CAST(score AS DECIMAL(10, 0)) AS a, CAST(amount / 3 AS "
                     "DECIMAL(10, 2)) AS b, CAST(-score AS DECIMAL(4, 1)) AS c, TRY_CAST(amount "
                     "* 20 AS DECIMAL(5, 2)) AS t, CAST(1.25 AS DECIMAL(3, 1)) AS k, "
                     "CAST(amount / 7 AS DECIMAL) AS d FROM people",
    # to an integer a DECIMAL's half (a literal's too) rounds away from zero, a DOUBLE's to
    # even; a DECIMAL's median keeps its scale, the further places cut off
    "decimal_to_integer": "SELECT f.id, CAST(fee AS INTEGER) AS a, CAST(fee * 2 AS INTEGER) AS "
                          "b, CAST(fee + 1 AS BIGINT) AS c, CAST(2.5 AS INTEGER) AS d, "
                          "CAST(-2.5 AS INTEGER) AS e, CAST(CAST(fee AS DOUBLE) AS INTEGER) "
                          "AS g, CAST(score + 0.5 AS INTEGER) AS h FROM fees f JOIN people p "
                          "ON p.id = f.id",
    # TRUE or FALSE, never NULL: a NULL is not distinct from a NULL only
    "distinct_from": "SELECT id, score IS DISTINCT FROM 3 AS a, grp IS NOT DISTINCT FROM city "
                     "AS b, name IS DISTINCT FROM NULL AS c, NULL IS NOT DISTINCT FROM NULL AS d "
                     "FROM people",
    # a BOOLEAN as text is true or false (Python's True and False before)
    "boolean_text": "SELECT id, CAST(score > 2 AS VARCHAR) AS a, 'x' || (amount > 30) AS b, "
                    "CAST(TRUE AS VARCHAR) AS t, CONCAT(name, id > 4) AS c FROM people",
    # halves away from zero (DuckDB's ROUND), where numpy's go to the even neighbour
    "rounding": "SELECT id, ROUND(score - 1) AS a, ROUND(-score / 2) AS b, ROUND(score / 2, 1) "
                "AS c, ROUND(amount, -2) AS d, ROUND(-amount - 100, -2) AS e, "
                "ROUND(amount * 1.0, -2) AS f, ROUND(2.5) AS g, ROUND(NULL) AS h FROM people",
    # Arrow's cast of a DECIMAL to a double is a unit in the last place off for 24710.35 and
    # 27389.76: these found nothing
    "money_equal": "SELECT id FROM money WHERE price = 24710.35 OR price IN (27389.76, -0.07)",
    "money_between": "SELECT id FROM money WHERE price BETWEEN 0.07 AND 24710.35",
    "money_joined": "SELECT a.id, b.id AS other FROM money a JOIN money b "
                    "ON a.price = b.price * 1.0 AND a.id <> b.id",
    # as text a DECIMAL keeps its scale: a product's is the sum of the operands', ROUND(x, n)'s
    # n, FLOOR's 0; a quotient and anything with a DOUBLE in it is a DOUBLE
    "money_text": "SELECT id, CAST(price AS VARCHAR) AS p, 'x' || rate AS r, "
                  "CAST(price * rate AS VARCHAR) AS pr, CAST(price * (1 - rate) AS VARCHAR) AS "
                  "net, CAST(price + rate AS VARCHAR) AS s, CAST(-rate AS VARCHAR) AS n, "
                  "CAST(price / 2 AS VARCHAR) AS half, CAST(ROUND(price, 1) AS VARCHAR) AS r1, "
                  "CAST(ROUND(price, -2) AS VARCHAR) AS r2, CAST(FLOOR(rate) AS VARCHAR) AS f, "
                  "CAST(rate * 1e0 AS VARCHAR) AS d, CAST(price * id AS VARCHAR) AS i, "
                  "CAST(COALESCE(rate, 0.5) AS VARCHAR) AS c, CAST(1.50 AS VARCHAR) AS lit, "
                  "CONCAT_WS('|', price, 2.5e0) AS w FROM money",
    # DuckDB computes DECIMALs exactly; as doubles, price * 12 and price * 10 + price * 2
    # differed in the last place for about half the rows of TPC-H's lineitem
    "money_exact_arithmetic": "SELECT a.id, a.price * 12 = a.price * 10 + a.price * 2 AS m, "
                              "a.price * (1 - a.rate) = a.price - a.price * a.rate AS d, "
                              "-a.price * 3 = -(a.price + a.price + a.price) AS n, "
                              "a.price * 3 > b.price * 3 AS c FROM money a JOIN money b "
                              "ON a.id = b.id % 8 + 1",
    # 0.10 + 0.20 is 0.30000000000000004 in doubles
    "money_exact_sums": "SELECT id > 6 AS tail, SUM(price) = 0.30 AS s, SUM(price * 3) = 0.90 "
                        "AS t, MAX(w) = 0.30 AS w FROM (SELECT id, price, SUM(price) OVER "
                        "(PARTITION BY id > 6) AS w FROM money) GROUP BY tail",
    "money_aggregates": "SELECT id % 2 AS odd, CAST(SUM(price) AS VARCHAR) AS s, "
                        "CAST(MAX(rate) AS VARCHAR) AS m, STRING_AGG(price, ';' ORDER BY id) "
                        "AS l, AVG(price) AS a FROM money GROUP BY odd",
}


@pytest.mark.parametrize("name", EXPRESSIONS)
def test_expression_matches_duckdb(small, name):
    check(small, EXPRESSIONS[name])


def test_integer_arithmetic_runs_in_bigint_whatever_the_columns_width(tmp_path):
    # A tax year as SMALLINT, a division code as INTEGER, a sex code as TINYINT (as the hub's
    # departments write them): numpy wrapped year * 100 to 5804 and refused sex - 200. DuckDB
    # raises on the overflow; the oracle is its answer in BIGINT.
    write_table(tmp_path, "coded", pa.table({
        "y": pa.array([2023, 2024, None], pa.int16()),
        "c": pa.array([110101, 659004, 410204], pa.int32()),
        "s": pa.array([1, 2, None], pa.int8())}))
    query = ("SELECT {y} * 100 + 12 AS ym, {c} * 100000 AS big, {c} * {c} AS square, "
             "{s} * 200 AS s200, {s} - 200 AS sm, -{s} AS neg, {s} % 300 AS r, "
             "{s} // 300 AS q FROM coded")
    columns = {"y": "y", "c": "c", "s": "s"}
    with dask.config.set({"scheduler": "sync"}):
        got = compute.sql.plan(ParquetSource(tmp_path), query.format(**columns)).frame.compute()
    oracle = query.format(**{k: f"CAST({v} AS BIGINT)" for k, v in columns.items()})
    assert_same(got, duckdb_over(tmp_path).execute(oracle).df(), ordered=False)
    assert got["ym"].tolist()[:2] == [202312, 202412]


def test_strptime_reads_department_dates_as_duckdb_does(tmp_path):
    # dates as departments write them; full-width digits are no date (to DuckDB's CAST either)
    write_table(tmp_path, "held", pd.DataFrame({
        "d": ["20240105", "2024011", "20240230", " 20241231 ", "２０２４0105", None, "x"],
        "zh": ["2024年1月5日", "2023年12月31日", "2024年2月30日", "2024年13月1日", None, "",
               "1999年9月9日"],
        "t": ["2024/01/05 7:05:09", "2024/1/5 23:59:59", "2024/01/05 24:00:00",
              "2024/01/05 07:60:00", "2024/01/05", None, "05/01/2024 07:05:09"],
        "iso": ["2024-01-05", "２０２４-01-05", "2024-1-5", None, "2024-01-05 10:00", "2024-13-01",
                "2024-02-29"]}))
    check((ParquetSource(tmp_path), duckdb_over(tmp_path)),
          "SELECT d, TRY_STRPTIME(d, '%Y%m%d') AS a, TRY_STRPTIME(zh, '%Y年%m月%d日') AS b, "
          "TRY_STRPTIME(t, '%Y/%m/%d %H:%M:%S') AS c, TRY_STRPTIME(t, '%d/%m/%Y %H:%M:%S') AS "
          "e, TRY_STRPTIME(zh, '%Y年') AS y, TRY_STRPTIME(t, '%H:%M') AS h, "
          "TRY_CAST(iso AS DATE) AS cast_iso FROM held")
    check((ParquetSource(tmp_path), duckdb_over(tmp_path)),
          "SELECT STRPTIME(d, '%Y%m%d') AS a FROM held WHERE d IN ('20240105', '2024011')")
    with pytest.raises(ConversionError, match=r"could not parse '20240230' with format"):
        check((ParquetSource(tmp_path), duckdb_over(tmp_path)),
              "SELECT STRPTIME(d, '%Y%m%d') AS a FROM held WHERE d LIKE '2024%'")


def test_regexp_extract_reads_patterns_as_re2_does(tmp_path):
    # RE2's \d is an ASCII digit (a full-width ID has none), and it knows \p{Han}; Python's
    # re, which pandas' extract runs, took the full-width digits and knows no \p{Han}
    write_table(tmp_path, "held", pd.DataFrame({
        "id": ["110101199001011234", "２１０１０５１９６７１１３０９９１４", " 11010119900101123x",
               "line1\nline2", None],
        "name": ["张三", "李四光", "Ann", "王", None]}))
    check((ParquetSource(tmp_path), duckdb_over(tmp_path)),
          "SELECT id, REGEXP_EXTRACT(id, '(\\d{6})(\\d{8})', 2) AS birth, "
          "REGEXP_EXTRACT(id, '\\d+') AS digits, REGEXP_EXTRACT(id, '(\\d{6})(x)?', 2) AS x, "
          "REGEXP_EXTRACT(name, '^(\\p{Han})(\\p{Han}+)', 2) AS given, "
          "REGEXP_EXTRACT(id, 'line(\\d)$', 1) AS last FROM held")


def test_round_of_doubles_rounds_the_value_as_stored_as_duckdb_does(tmp_path):
    # 1760.05 is stored as 1760.0499999...: DuckDB's ROUND gives 1760.0 to one place, where
    # rounding the scaled 17600.5 gives 1760.1 (as 2.5 % of these amounts did to two places)
    # A DECIMAL's 1760.05 is exact, and rounds to 1760.1 (the same amounts as DECIMAL(9, 3)),
    # and so does 4200.025 to 4200.03, though it scales to 420002.49999999994. DuckDB casts a
    # DOUBLE to DECIMAL by rounding the scaled double, a DECIMAL or a string as written.
    amounts = np.round(np.random.default_rng(7).uniform(-10_000, 10_000, 4000), 3)
    amounts = [*amounts, 1760.05, -1760.05, 0.125, 2.675, 1.005, 0.285, 1.15, 2.5, -2.5]
    write_table(tmp_path, "money", pa.table({
        "x": pa.array([*amounts, 1e300, None], pa.float64()),
        "d": pa.array([*(Decimal(f"{v:.3f}") for v in amounts), None, None],
                      pa.decimal128(9, 3))}))
    query = ("SELECT x, ROUND(x, 1) AS a, ROUND(x, 2) AS b, ROUND(x, 3) AS c, ROUND(x) AS r, "
             "ROUND(x, -1) AS e, ROUND(x, -2) AS f, ROUND(d, 1) AS d1, ROUND(d, 2) AS d2, "
             "ROUND(d * 2, 1) AS d3, ROUND(2.675, 2) AS literal, TRY_CAST(x AS DECIMAL(18, 2)) AS "
             "cx, CAST(d AS DECIMAL(9, 2)) AS cd, CAST(CAST(d AS VARCHAR) AS DECIMAL(9, 2)) AS "
             "cs FROM money")
    check((ParquetSource(tmp_path), duckdb_over(tmp_path)), query)


# Conditions over columns with NULLs (score and amount numbers, grp and name strings, born a
# date), nested in AND, OR and NOT: :func:`conditions` draws them.
ATOMS = ["score > 2", "score <> 3", "amount >= 40", "grp = 'a'", "grp <> 'b'",
         "name LIKE '%n%'", "born < DATE '1990-01-31'", "score IS NULL", "grp IN ('a', NULL)",
         "city NOT IN ('x')", "score BETWEEN 2 AND 4", "id + 0.5 * score < 5", "TRUE",
         "CASE WHEN grp = 'a' THEN score > 1 END", "grp IS DISTINCT FROM city"]


def conditions(count: int, seed: int = 7) -> list[str]:
    """``count`` random conditions, two or three levels of AND, OR and NOT over ATOMS."""
    rng = np.random.default_rng(seed)

    def draw(depth: int) -> str:
        if depth == 0 or rng.random() < 0.25:
            return str(rng.choice(ATOMS))
        kind = rng.choice(["AND", "OR", "NOT"])
        if kind == "NOT":
            return f"NOT ({draw(depth - 1)})"
        return f"({draw(depth - 1)}) {kind} ({draw(depth - 1)})"

    return [draw(3) for _ in range(count)]


@pytest.mark.parametrize("query", [
    "SELECT CAST(COALESCE(name, '0') AS INTEGER) AS n FROM people",
    "SELECT id FROM people WHERE name = 1",  # the string column is cast to the number's type
])
def test_a_string_that_is_no_number_fails_its_cast_naming_it(small, query):
    source, duck = small
    with pytest.raises(Exception, match="Could not convert string"):
        duck.execute(query)  # DuckDB's error as well: not NULL, nor no row
    planned = compute.sql.plan(source, query)  # planned: the strings are only read later
    with dask.config.set(scheduler="sync"), pytest.raises(
            ConversionError, match=r"could not convert the string '.+' to INTEGER"):
        planned.frame.compute()


def test_a_capitalised_table_is_read_by_its_name_and_its_columns_in_any_case(tmp_path):
    # an Oracle export's columns are upper case; DuckDB's identifiers are case-insensitive
    write_table(tmp_path, "Roster", pd.DataFrame({
        "ResidentID": ["a", "b", None, "d"], "AMOUNT": [1, 2, 3, 4],
        "Born": [dt.date(2000, 1, 1), None, dt.date(1990, 5, 5), dt.date(1999, 9, 9)]}))
    query = ("SELECT residentid, r.Amount, COUNT(*) OVER () AS n FROM Roster r "
             "WHERE amount > 1 AND BORN > DATE '1995-01-01' OR ResidentID = 'a'")
    planned = check((ParquetSource(tmp_path), duckdb_over(tmp_path)), query)
    scan = next(step for step in planned.steps if step.startswith("scan Roster"))
    assert "('AMOUNT', '>', 1)" not in scan  # an OR: nothing to push
    pushed = compute.sql.plan(ParquetSource(tmp_path), "SELECT born FROM Roster WHERE "
                                                       "Amount > 1")
    assert "('AMOUNT', '>', 1)" in next(s for s in pushed.steps if s.startswith("scan"))


def test_an_alias_keeps_its_case_as_in_duckdb(small):
    duck = small[1]
    query = ('SELECT grp AS "Group", COUNT(*) AS Total, MAX(city) AS "max city", id FROM people '
             "GROUP BY grp, id")
    got = check(small, query).frame.compute(scheduler="sync")
    assert list(got.columns) == duck.execute(query).df().columns.tolist() == [
        "Group", "Total", "max city", "id"]


def test_repeated_output_names_are_numbered_as_in_duckdbs_frames(small):
    source, duck = small
    query = ("SELECT p.id, v.person AS id, p.city, p.city, 1 AS id_1 FROM people p "
             "JOIN visits v ON v.person = p.id")
    got = check(small, query).frame.compute(scheduler="sync")
    assert list(got.columns) == duck.execute(query).df().columns.tolist() == [
        "id", "id_1", "city", "city_1", "id_1_1"]
    # ORDER BY and GROUP BY positions over repeated names: sqlglot leaves these positions
    # to the planner (it names only an unrepeated output's)
    for query in ("SELECT p.name, v.person AS name FROM people p JOIN visits v "
                  "ON v.person = p.id ORDER BY 2 DESC, 1 NULLS FIRST",
                  "SELECT p.city, v.cost AS city FROM people p LEFT JOIN visits v "
                  "ON v.person = p.id ORDER BY 2 NULLS FIRST, 1 LIMIT 4",
                  "SELECT p.grp, p.grp, COUNT(*) AS n FROM people p GROUP BY 1 ORDER BY 2"):
        check(small, query, ordered=True)
    # inside a query, where the outer one could not tell them apart: refused, by sqlglot's
    # optimiser or the planner (DuckDB names them too, but the outer * would read the first
    # twice)
    with pytest.raises(SqlError, match=r"star-free|output column names repeat"):
        compute.sql.plan(source, "SELECT * FROM (SELECT p.city, p.city FROM people p)")


@pytest.mark.parametrize(("query", "duckdb_says", "we_say"), [
    ("SELECT CAST(amount * 20 AS DECIMAL(5, 2)) AS d FROM people WHERE id = 5",
     "Could not cast value 1000", r"could not cast 1000.0 to DECIMAL\(5,2\)"),
    ("SELECT MAKE_DATE(2024, 2, CASE id WHEN 3 THEN 30 ELSE id END) AS d FROM people",
     "Date out of range: 2024-2-30", r"MAKE_DATE\(2024, 2, 30\) is no date"),
])
def test_a_value_its_type_cannot_hold_fails_naming_it(small, query, duckdb_says, we_say):
    source, duck = small
    with pytest.raises(Exception, match=duckdb_says):
        duck.execute(query).fetchall()  # DuckDB's error as well: not NULL
    with dask.config.set(scheduler="sync"), pytest.raises(ConversionError, match=we_say):
        compute.sql.plan(source, query).frame.compute()


@pytest.mark.parametrize("condition", conditions(24))
def test_a_condition_is_true_false_or_null_as_in_duckdb(small, condition):
    # CASE tells all three values apart (1, 0, NULL); WHERE keeps the TRUE rows only.
    check(small, f"SELECT id, CASE WHEN {condition} THEN 1 WHEN NOT ({condition}) THEN 0 END "
                 f"AS t FROM people")
    check(small, f"SELECT id FROM people WHERE {condition}")


RELATIONAL = {
    "window_rank": "SELECT id, grp, ROW_NUMBER() OVER (PARTITION BY grp ORDER BY amount DESC) "
                   "AS rn, RANK() OVER (PARTITION BY city ORDER BY score) AS rk, "
                   "DENSE_RANK() OVER (ORDER BY born) AS dr FROM people",
    "named_windows": "SELECT id, amount - LAG(amount) OVER w AS d, AVG(score) OVER w AS a, "
                     "SUM(amount) OVER (w2 ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s, "
                     "RANK() OVER w2 AS r FROM people "
                     "WINDOW w AS (PARTITION BY grp ORDER BY id), w2 AS (ORDER BY amount DESC)",
    "window_on_named": "SELECT id, COUNT(*) OVER w2 AS c, MAX(id) OVER w AS m FROM people "
                       "WINDOW w AS (PARTITION BY city), w2 AS (w ORDER BY id)",
    "window_aggregate": "SELECT id, SUM(amount) OVER (PARTITION BY grp ORDER BY score) AS s, "
                        "COUNT(score) OVER (PARTITION BY grp) AS c, "
                        "AVG(amount) OVER (PARTITION BY city ORDER BY born) AS a, "
                        "MIN(score) OVER (PARTITION BY grp ORDER BY id) AS lo, "
                        "MAX(amount) OVER () AS hi, SUM(score) OVER (ORDER BY id ROWS BETWEEN "
                        "UNBOUNDED PRECEDING AND CURRENT ROW) AS r, COUNT(*) OVER (PARTITION BY "
                        "city ORDER BY grp ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED "
                        "FOLLOWING) AS w FROM people",
    # NTILE deals the rows as DuckDB (the first buckets one larger; one a row when there are
    # more buckets than rows); PERCENT_RANK and CUME_DIST count peers (equal scores) alike
    "window_distribution": "SELECT id, NTILE(3) OVER (ORDER BY id) AS t3, NTILE(5) OVER "
                           "(PARTITION BY city ORDER BY id) AS t5, NTILE(1) OVER () AS t1, "
                           "PERCENT_RANK() OVER (ORDER BY score) AS pr, PERCENT_RANK() OVER "
                           "(PARTITION BY grp ORDER BY amount DESC) AS pg, CUME_DIST() OVER "
                           "(ORDER BY score DESC) AS cd, CUME_DIST() OVER (PARTITION BY city "
                           "ORDER BY grp) AS cg FROM people",
    # FIRST_VALUE and LAST_VALUE keep NULLs; LAST_VALUE's default frame ends at the last peer
    "window_first_last": "SELECT id, FIRST_VALUE(score) OVER (PARTITION BY grp ORDER BY id) AS f, "
                         "FIRST_VALUE(name) OVER (ORDER BY amount DESC) AS fa, LAST_VALUE(id) "
                         "OVER (PARTITION BY city ORDER BY grp) AS lp, LAST_VALUE(born) OVER "
                         "(PARTITION BY grp ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND "
                         "UNBOUNDED FOLLOWING) AS lw, LAST_VALUE(score) OVER (ORDER BY id ROWS "
                         "BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS lr FROM people",
    # from the row (or its first peer) to the end: refused before; NULLs skipped
    "window_to_the_end": "SELECT id, SUM(amount) OVER (PARTITION BY grp ORDER BY id ROWS BETWEEN "
                         "CURRENT ROW AND UNBOUNDED FOLLOWING) AS rest, COUNT(score) OVER (ORDER "
                         "BY city RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS c, "
                         "MIN(score) OVER (PARTITION BY grp ORDER BY id ROWS BETWEEN CURRENT ROW "
                         "AND UNBOUNDED FOLLOWING) AS lo, AVG(score) OVER (ORDER BY id ROWS "
                         "BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS a, MAX(born) OVER "
                         "(ORDER BY city RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS hi, "
                         "FIRST_VALUE(name) OVER (PARTITION BY grp ORDER BY id ROWS BETWEEN "
                         "CURRENT ROW AND UNBOUNDED FOLLOWING) AS f, LAST_VALUE(id) OVER "
                         "(PARTITION BY city ORDER BY id ROWS BETWEEN CURRENT ROW AND UNBOUNDED "
                         "FOLLOWING) AS l FROM people",
    # the rows before this one (refused before): SUM and MIN of none NULL, COUNT of none 0
    "window_rows_before": "SELECT id, SUM(score) OVER (PARTITION BY grp ORDER BY id ROWS BETWEEN "
                          "UNBOUNDED PRECEDING AND 1 PRECEDING) AS s, COUNT(*) OVER (ORDER BY id "
                          "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS n, COUNT(score) "
                          "OVER (PARTITION BY city ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING "
                          "AND 1 PRECEDING) AS c, MIN(born) OVER (ORDER BY id ROWS BETWEEN "
                          "UNBOUNDED PRECEDING AND 1 PRECEDING) AS lo, FIRST_VALUE(name) OVER "
                          "(PARTITION BY grp ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 "
                          "PRECEDING) AS f, LAST_VALUE(score) OVER (ORDER BY id ROWS BETWEEN "
                          "UNBOUNDED PRECEDING AND 1 PRECEDING) AS l FROM people",
    # moving frames: rows before and after the current one, NULLs skipped, NULL over none
    "window_moving": "SELECT id, AVG(score) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND "
                     "CURRENT ROW) AS a, SUM(score) OVER (PARTITION BY grp ORDER BY id ROWS "
                     "BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS s, COUNT(*) OVER (ORDER BY id ROWS "
                     "BETWEEN CURRENT ROW AND 3 FOLLOWING) AS c, COUNT(score) OVER (ORDER BY id "
                     "ROWS 1 PRECEDING) AS n, MIN(name) OVER (ORDER BY id ROWS BETWEEN 2 "
                     "PRECEDING AND 1 PRECEDING) AS lo, MAX(born) OVER (PARTITION BY city ORDER "
                     "BY id ROWS BETWEEN 1 FOLLOWING AND 2 FOLLOWING) AS hi FROM people",
    "window_shift": "SELECT id, LAG(score) OVER (PARTITION BY grp ORDER BY id) AS a, "
                    "LEAD(name, 2, 'none') OVER (ORDER BY id) AS b, LAG(born, 1, DATE "
                    "'2000-01-01') OVER (PARTITION BY city ORDER BY amount DESC) AS c, "
                    "amount - LAG(amount, 1, 0) OVER (ORDER BY id) AS d, LAG(amount, -1) OVER "
                    "(ORDER BY id) AS e, LEAD(amount, 0) OVER (ORDER BY id) AS f FROM people",
    # a window's own function beside the same aggregate: COUNT(*) OVER () counts the groups
    "window_beside_its_aggregate": "SELECT grp, COUNT(*) AS n, COUNT(*) OVER () AS groups, "
                                   "SUM(COUNT(*)) OVER () AS total, MAX(amount) AS m, "
                                   "COUNT(MAX(amount)) OVER () AS k FROM people GROUP BY grp",
    # windows over the groups: ranked, summed and shifted by their aggregates
    "window_over_aggregates": "SELECT grp, SUM(amount) AS s, RANK() OVER (ORDER BY SUM(amount) "
                              "DESC) AS r, SUM(SUM(amount)) OVER () AS total, LAG(COUNT(*)) "
                              "OVER (ORDER BY grp) AS p FROM people GROUP BY grp",
    # quantiles bring each group's rows together, beside the reduced aggregates
    "median": "SELECT grp, MEDIAN(score) AS m, MEDIAN(amount) AS a, COUNT(*) AS n, "
              "COUNT_IF(amount > 30) AS c, ANY_VALUE(grp) AS g, QUANTILE_CONT(amount, 0.9) AS "
              "p90, PERCENTILE_CONT(0.25) WITHIN GROUP (ORDER BY score) AS p25, "
              "PERCENTILE_CONT(0.25) WITHIN GROUP (ORDER BY score DESC) AS p75, "
              "COUNT(DISTINCT city) AS d FROM people GROUP BY ROLLUP (grp)",
    # STRING_AGG and ARG_MAX: holistic too; ARG_MAX skips the rows where either is NULL
    "string_agg_arg_max": "SELECT grp, city, STRING_AGG(name, '|' ORDER BY id) AS names, "
                          "STRING_AGG(DISTINCT city, ',' ORDER BY city DESC) AS cities, "
                          "STRING_AGG(amount, '+' ORDER BY score NULLS FIRST, id) AS amounts, "
                          "GROUP_CONCAT(name ORDER BY name) AS g, ARG_MAX(name, score) AS top, "
                          "ARG_MIN(id, score) AS low, MAX_BY(born, amount) AS latest, "
                          "MEDIAN(amount) AS m, COUNT(*) AS n FROM people "
                          "GROUP BY ROLLUP (grp, city)",
    # aggregate subqueries as columns: one row each, beside a FROM or without one
    "scalar_columns": "SELECT (SELECT COUNT(*) FROM people) AS n, (SELECT MAX(cost) FROM visits "
                      "WHERE cost < 0) AS m, (SELECT COUNT(DISTINCT grp) FROM people) + 1 AS g",
    "scalar_beside_columns": "SELECT id, (SELECT SUM(cost) FROM visits) AS total, amount / "
                             "(SELECT MAX(amount) FROM people) AS share FROM people",
    # in a grouped SELECT: a share of the total, beside a group's aggregates and inside them
    "scalar_in_groups": "SELECT grp, COUNT(*) * 100.0 / (SELECT COUNT(*) FROM people) AS pct, "
                        "SUM(amount / (SELECT MAX(amount) FROM people)) AS s, "
                        "(SELECT MIN(cost) FROM visits) AS c FROM people GROUP BY ROLLUP (grp)",
    # a correlated aggregate inside an expression of the SELECT list: refused before ('unknown
    # column'; sqlglot's unnesting takes only one that is the whole item); a COUNT of no row 0
    "correlated_in_expressions": "SELECT id, COALESCE((SELECT SUM(cost) FROM visits v WHERE "
                                 "v.person = p.id AND v.cost > 1), 0) AS paid, (SELECT COUNT(*) "
                                 "FROM visits v WHERE v.person = p.id) * 2 AS twice, CASE WHEN "
                                 "(SELECT MAX(day) FROM visits v WHERE p.id = v.person) > DATE "
                                 "'2024-01-04' THEN 'late' ELSE 'early' END AS seen FROM people p",
    # a lookup by equalities: its one value, NULL where no row matches (refused before)
    "correlated_lookup": "SELECT v.day, (SELECT name FROM people p WHERE p.id = v.person) AS who, "
                         "COALESCE((SELECT grp FROM people p WHERE p.id = v.person AND p.amount "
                         "> 20), '-') || '!' AS g FROM visits v",
    "scalar_in_global": "SELECT COUNT(*) * 1.0 / (SELECT COUNT(*) FROM visits) AS per_visit "
                        "FROM people",
    # (a, b) IN (subquery): a semi join on both; a NULL in either matches nothing
    "tuple_in": "SELECT id FROM people WHERE (grp, city) IN (SELECT grp, city FROM people "
                "WHERE amount > 40) AND id > 1",
    "filtered_holistic": "SELECT grp, STRING_AGG(name, ',' ORDER BY id DESC) FILTER (WHERE "
                         "amount > 20) AS s, ARG_MAX(id, score) FILTER (WHERE id < 7) AS a, "
                         "MEDIAN(amount) FILTER (WHERE city = 'x') AS m FROM people GROUP BY grp",
    # a DECIMAL's quantiles keep its scale, the further places cut off toward zero
    "decimal_quantiles": "SELECT id % 2 AS odd, MEDIAN(fee) AS m, QUANTILE_CONT(fee, 0.45) AS a, "
                         "QUANTILE_CONT(fee, 0.55) AS b, QUANTILE_CONT(fee, 0.0525) AS c "
                         "FROM fees GROUP BY ROLLUP (odd)",
    # BOOL_AND and BOOL_OR skip NULL conditions; NULL where every one is NULL
    "bool_and_or": "SELECT grp, BOOL_AND(score > 2) AS a, BOOL_OR(city = 'y') AS o, "
                   "BOOL_AND(amount > 5) FILTER (WHERE id > 3) AS f FROM people GROUP BY grp",
    # shorthands inside the ones spelled out (DATE_DIFF in MEDIAN, YEAR in COUNT_IF, ...)
    "nested_shorthands": "SELECT grp, MEDIAN(DATE_DIFF('day', born, DATE '2024-01-01')) AS m, "
                         "COUNT_IF(YEAR(born) > 1989) AS c, VAR_POP(MONTH(born)) FILTER (WHERE "
                         "STARTS_WITH(city, 'x')) AS v FROM people GROUP BY grp",
    "median_global": "SELECT MEDIAN(amount) AS m, COUNT(*) AS n, COUNT_IF(score > 2) AS c "
                     "FROM people WHERE id > 2",
    # over no rows: NULL, COUNT_IF's too (DuckDB's); NULL strings through string functions
    "aggregates_of_nothing": "SELECT MEDIAN(amount) AS m, STDDEV(score) AS s, COUNT_IF(id > 0) "
                             "AS c, ANY_VALUE(grp) AS a, STRING_AGG(name) AS sa, ARG_MAX(id, "
                             "score) AS am, COUNT(*) AS n FROM people WHERE id > 100",
    "null_strings": "SELECT UPPER(NULL) AS u, LENGTH(CAST(NULL AS VARCHAR)) AS n, "
                    "SUBSTRING(CAST(NULL AS VARCHAR), 1, 2) AS s, TRIM(CAST(NULL AS VARCHAR)) AS "
                    "t, LEFT(CAST(NULL AS VARCHAR), 2) AS l, CAST(NULL AS VARCHAR) LIKE 'a%' AS "
                    "k, LPAD(CAST(NULL AS VARCHAR), 3, '0') AS p, STRPOS(CAST(NULL AS VARCHAR), "
                    "'a') AS f",
    # the days between two date columns, as a group key too (the optimiser leaves the
    # parenthesised operands of DATE_DIFF's spelling untyped)
    "date_diff_columns": "SELECT DATE_DIFF('day', p.born, v.day) AS d, COUNT(*) AS n, "
                         "MIN(v.day - p.born) AS m FROM people p JOIN visits v ON v.person = p.id "
                         "GROUP BY 1",
    # one value: NULL for a sample's spread, 0 for a population's
    "spread": "SELECT grp, VAR_SAMP(score) AS vs, VAR_POP(score) AS vp, STDDEV_SAMP(amount) AS "
              "ss, STDDEV_POP(amount) AS sp, VARIANCE(amount + score) AS v, STDDEV(amount) "
              "FILTER (WHERE city = 'x') AS f, STDDEV(amount * 1000 + 5000000) AS big "
              "FROM people GROUP BY grp",
    "spread_global": "SELECT STDDEV(score) AS s, VAR_POP(amount) AS v, STDDEV_POP(id) AS i "
                     "FROM people",
    "rollup": "SELECT grp, city, SUM(amount) AS s, COUNT(*) AS n FROM people "
              "GROUP BY ROLLUP (grp, city)",
    "cube": "SELECT grp, city, SUM(score) AS s FROM people GROUP BY CUBE (grp, city)",
    # positions in the SELECT list, within ROLLUP, CUBE and GROUPING SETS too
    "grouping_positions": "SELECT grp, city, SUM(amount) AS s FROM people GROUP BY ROLLUP (1, 2) "
                          "UNION ALL SELECT grp, city, COUNT(*) FROM people GROUP BY GROUPING "
                          "SETS ((1), (1, 2), ()) UNION ALL SELECT UPPER(grp), city, "
                          "MAX(amount) FROM people GROUP BY CUBE (1, (2))",
    # GROUPING(k, ...): a bit for each key, 1 where the row is a subtotal over it
    "grouping_function": "SELECT grp, city, COUNT(*) AS n, GROUPING(grp) AS gg, GROUPING(grp, "
                         "city) AS g2 FROM people GROUP BY ROLLUP (grp, city) HAVING "
                         "GROUPING(city) = 1 OR COUNT(*) > 1",
    # of an output's alias, grouped by it (its expression comes in parentheses)
    "grouping_of_an_alias": "SELECT amount // 20 AS band, city, COUNT(*) AS n, GROUPING(band, "
                            "city) AS g FROM people GROUP BY ROLLUP (band, city)",
    # an integer that outer joins and ROLLUP give NULLs is still written as one in text
    "integer_text": "SELECT v.day, CAST(p.amount AS VARCHAR) AS c, p.amount || '-' AS d, "
                    "CONCAT(p.id, '/') AS e, CONCAT_WS(',', p.amount, p.id) AS w FROM "
                    "visits v LEFT JOIN people p ON p.id = v.person",
    "integer_text_grouped": "SELECT CAST(amount AS VARCHAR) AS a, STRING_AGG(v.person, ',' "
                            "ORDER BY v.day) AS s FROM people p LEFT JOIN visits v ON "
                            "v.person = p.id GROUP BY ROLLUP (amount)",
    "grouping_sets": "SELECT grp, city, MAX(amount) AS m FROM people "
                     "GROUP BY GROUPING SETS ((grp), (city), ())",
    "aggregate_filter": "SELECT grp, COUNT(*) FILTER (WHERE score > 2) AS n, SUM(amount) "
                        "FILTER (WHERE city = 'x') AS s, COUNT(DISTINCT city) FILTER (WHERE "
                        "amount > 20) AS c, AVG(score) FILTER (WHERE name IS NOT NULL) AS a, "
                        "MAX(born) FILTER (WHERE grp IS NULL) AS m FROM people GROUP BY grp",
    "date_spans": "SELECT grp, MAX(born) - MIN(born) AS span, MAX(born) - DATE '1970-01-01' AS "
                  "since FROM people GROUP BY grp",
    "date_span_window": "SELECT id, born - MIN(born) OVER (PARTITION BY grp) AS after_first "
                        "FROM people",
    "by_month": "SELECT DATE_TRUNC('month', born) AS m, COUNT(*) AS n, SUM(amount) AS s "
                "FROM people GROUP BY 1",
    "count_distinct": "SELECT grp, COUNT(DISTINCT city) AS cities, COUNT(city) AS c, "
                      "SUM(score) AS s FROM people GROUP BY grp HAVING COUNT(*) > 1",
    # the ceil(n q)-th value in order (DuckDB's and PostgreSQL's), of numbers, dates, text
    "quantile_disc": "SELECT grp, QUANTILE_DISC(score, 0.5) AS m, QUANTILE_DISC(score, 0.7) AS "
                     "s7, QUANTILE_DISC(born, 0.5) AS b, QUANTILE_DISC(name, 1) AS n, "
                     "PERCENTILE_DISC(0.25) WITHIN GROUP (ORDER BY amount) AS a, "
                     "QUANTILE_DISC(amount, 0) FILTER (WHERE city = 'x') AS f "
                     "FROM people GROUP BY ROLLUP (grp)",
    # each group's distinct values summed, averaged...; NULL where a group has none
    "distinct_aggregates": "SELECT city, SUM(DISTINCT score) AS s, AVG(DISTINCT score) AS a, "
                           "SUM(DISTINCT amount % 20) AS m, MAX(DISTINCT grp) AS g, "
                           "COUNT(DISTINCT score) AS c FROM people GROUP BY ROLLUP (city)",
    "distinct_aggregates_empty": "SELECT SUM(DISTINCT score) AS s, AVG(DISTINCT amount) AS a "
                                 "FROM people WHERE id > 100",
    "shared_operands": "SELECT grp, SUM(score) AS s, AVG(score) AS a, COUNT(score) AS c, "
                       "COUNT(DISTINCT score) AS d, MIN(score + 1) AS lo, MAX(score + 1) AS hi, "
                       "SUM(score + 1) AS s1 FROM people GROUP BY grp",
    "global_aggregate_empty": "SELECT COUNT(*) AS n, SUM(amount) AS s, MAX(score) AS m, "
                              "COUNT(DISTINCT grp) AS g FROM people WHERE id > 100",
    "union": "SELECT grp FROM people UNION SELECT city FROM people",
    "union_all": "SELECT id, grp FROM people UNION ALL SELECT person, 'v' FROM visits",
    "intersect": "SELECT grp FROM people INTERSECT SELECT city FROM people",
    "except": "SELECT id FROM people EXCEPT SELECT person FROM visits",
    "in_subquery": "SELECT id FROM people WHERE id IN (SELECT person FROM visits)",
    "any_subquery": "SELECT id FROM people WHERE id = ANY (SELECT person FROM visits "
                    "WHERE cost > 2)",
    "qualify": "SELECT id, grp, amount FROM people "
               "QUALIFY ROW_NUMBER() OVER (PARTITION BY grp ORDER BY amount DESC) = 1",
    "not_in_with_null": "SELECT id FROM people WHERE id NOT IN (SELECT person FROM visits)",
    "not_in": "SELECT id FROM people WHERE id NOT IN "
              "(SELECT person FROM visits WHERE person IS NOT NULL)",
    "not_in_only_nulls": "SELECT id FROM people WHERE id NOT IN "
                         "(SELECT person FROM visits WHERE person IS NULL)",
    "not_in_empty": "SELECT id FROM people WHERE score NOT IN "
                    "(SELECT person FROM visits WHERE cost > 100)",
    "exists": "SELECT id FROM people p WHERE EXISTS (SELECT 1 FROM visits v "
              "WHERE v.person = p.id AND v.cost > p.score)",
    "not_exists": "SELECT id FROM people p WHERE NOT EXISTS "
                  "(SELECT 1 FROM visits v WHERE v.person = p.id)",
    "scalar_subquery": "SELECT id, amount - (SELECT AVG(amount) FROM people) AS d FROM people "
                       "WHERE score > (SELECT MIN(cost) FROM visits WHERE person = id)",
    "cte_alias_lists": "WITH t (k, total) AS (SELECT grp, SUM(amount) FROM people GROUP BY grp) "
                       "SELECT x.a, x.b FROM (SELECT k, total FROM t) AS x (a, b)",
    "joins": "SELECT p.id, v.day, v.cost FROM people p LEFT JOIN visits v ON p.id = v.person "
             "AND v.cost > 1",
    "right_join": "SELECT p.id, v.person FROM people p RIGHT JOIN visits v ON p.id = v.person",
    "full_join": "SELECT p.id, v.person FROM people p FULL JOIN visits v ON p.id = v.person",
    "cross_join": "SELECT p.id, q.id AS other FROM people p CROSS JOIN people q "
                  "WHERE p.amount + q.amount = 90",
    "distinct": "SELECT DISTINCT grp, city FROM people",
    "no_from": "SELECT 1 AS x, 'a' || 'b' AS y",
    "explicit_semi_anti": "SELECT p.id FROM people p SEMI JOIN visits v ON p.id = v.person "
                          "UNION ALL SELECT p.id FROM people p ANTI JOIN visits v "
                          "ON p.id = v.person",
    "derived_identifiers": "SELECT x.k, COUNT(*) AS n FROM (SELECT grp AS k FROM people "
                           "WHERE grp IS NOT NULL) AS x GROUP BY x.k",
}

ORDERED = {
    "fetch_first": "SELECT id FROM people ORDER BY amount DESC OFFSET 1 ROWS FETCH NEXT 3 ROWS "
                   "ONLY",
    "fetch_first_row": "SELECT id FROM people ORDER BY amount FETCH FIRST ROW ONLY",
    # QUALIFY filters before ORDER BY ... LIMIT cuts (the last id of each grp, first three)
    "qualify_then_limit": "SELECT grp, id FROM people QUALIFY ROW_NUMBER() OVER (PARTITION BY "
                          "grp ORDER BY id DESC) = 1 ORDER BY id LIMIT 3",
    "qualify_then_limit_by_other": "SELECT grp FROM people QUALIFY ROW_NUMBER() OVER "
                                   "(PARTITION BY grp ORDER BY id) = 1 ORDER BY amount DESC "
                                   "LIMIT 2 OFFSET 1",
    "distinct_on_limit": "SELECT DISTINCT ON (grp) grp, id FROM people ORDER BY grp, id DESC "
                         "LIMIT 2",
    # DISTINCT ON: each key's first row in the ORDER BY (an alias there too)
    "distinct_on": "SELECT DISTINCT ON (grp) grp, id AS i, score FROM people "
                   "ORDER BY grp, score DESC NULLS LAST, i",
    "distinct_on_expression": "SELECT DISTINCT ON (amount > 40, city) city, amount FROM people "
                              "ORDER BY amount > 40, city, amount DESC",
    # ORDER BY ALL: by every output column, left to right (of a union too)
    "order_by_all": "SELECT grp, city, COUNT(*) AS n FROM people GROUP BY ALL ORDER BY ALL",
    "order_by_all_desc": "SELECT city, grp FROM people UNION ALL SELECT 'z', NULL "
                         "ORDER BY ALL DESC NULLS FIRST",
    "having_order_by_aggregate": "SELECT grp, SUM(amount) AS s FROM people GROUP BY grp "
                                 "HAVING MAX(score) > 2 ORDER BY COUNT(*) DESC, grp",
    "limit_offset_no_order": "SELECT COUNT(*) AS n FROM (SELECT id FROM people LIMIT 5 OFFSET 2)",
    "union_order_limit": "SELECT id, name FROM people UNION ALL SELECT person, NULL FROM visits "
                         "ORDER BY id DESC NULLS LAST, name LIMIT 6",
    "group_by_all_and_position": "SELECT grp, amount % 20 AS m, COUNT(*) AS n FROM people "
                                 "GROUP BY ALL ORDER BY 1, 2",
    "window_in_order_by": "SELECT id FROM people ORDER BY ROW_NUMBER() OVER (ORDER BY amount DESC)",
}


@pytest.mark.parametrize("name", ORDERED)
def test_ordered_result_matches_duckdb(small, name):
    check(small, ORDERED[name], ordered=True)


@pytest.mark.parametrize("name", RELATIONAL)
def test_relational_matches_duckdb(small, name):
    check(small, RELATIONAL[name])


@pytest.mark.parametrize("strategy", ["shuffle", "broadcast"])
def test_forced_join_strategy_gives_the_same_rows(small, strategy):
    with dask.config.set({"govgrid.sql.join": strategy}):
        planned = check(small, RELATIONAL["joins"])
    assert "broadcast (" in planned.explain() if strategy == "broadcast" else \
        "shuffle (" in planned.explain()


def test_order_by_limit_is_a_top_k_per_partition(small):
    query = ("SELECT name, amount FROM people ORDER BY score DESC NULLS LAST, id "
             "LIMIT 3 OFFSET 1")
    planned = check(small, query, ordered=True)
    assert "top 4 by 2 key(s), per partition" in planned.explain()


def test_scan_gets_columns_and_filters(small):
    source, _ = small
    source.scans.clear()
    compute.sql.plan(source, "SELECT name FROM people WHERE amount >= 30 AND grp = 'a'")
    (table, columns, filters), = source.scans
    assert (table, columns) == ("people", ["name", "grp", "amount"])
    assert sorted(filters) == [("amount", ">=", 30), ("grp", "==", "a")]


def test_a_string_compared_with_a_number_or_date_is_pushed_as_one(small):
    source, _ = small
    source.scans.clear()
    compute.sql.plan(source, "SELECT name FROM people WHERE amount >= '30' AND born = '1990-1-31'")
    (_, _, filters), = source.scans
    assert sorted(filters) == [("amount", ">=", 30), ("born", "==", dt.date(1990, 1, 31))]


def test_unknown_join_strategy_is_refused(small):
    with dask.config.set({"govgrid.sql.join": "hash"}), pytest.raises(
            compute.sql.SqlError, match=r"govgrid\.sql\.join"):
        compute.sql.plan(small[0], RELATIONAL["joins"])


def test_results_are_lazy_dask_frames(small):
    frame = compute.sql.sql(small[0], "SELECT id FROM people")
    assert hasattr(frame, "dask") and list(frame.columns) == ["id"]
    assert np.issubdtype(frame.dtypes["id"], np.integer)


def test_sizes_over_the_limits_shuffle_joins_and_sort_across_partitions(small, compute_on):
    # a broadcast limit of one byte: every join is shuffled, every sort distributed (on the
    # cluster: a distributed sort's shuffles need workers). Dask computed the sort's divisions
    # through the client, inside Python 3.11's class-wide lock of Expr.divisions, which the
    # in-process scheduler's thread then needed: this hung (cluster.handle unlocks it).
    query = ("SELECT p.name, v.cost, p.id FROM people p JOIN visits v ON p.id = v.person "
             "ORDER BY v.cost DESC, p.id")
    source, duck = small
    with dask.config.set({"govgrid.join.broadcast-limit": "1 B"}):
        planned = compute.sql.plan(source, query)
    assert_same(compute_on(planned.frame), duck.execute(query).df(), True)
    assert "sort by 2 key(s) across partitions" in planned.explain()
    assert "shuffle (" in planned.explain()


@pytest.mark.parametrize("order", [
    "cost DESC, id", "cost, id", "cost DESC NULLS FIRST, id DESC NULLS FIRST",
    "kind DESC, cost, id", "kind NULLS FIRST, cost NULLS FIRST, id NULLS FIRST"])
def test_a_sort_across_partitions_places_nulls_as_duckdb_does(tmp_path, order):
    # Dask's distributed sort took partitions [NULL, 8, 7.5] and [6, 1, 2, 3] for sorted
    # (descending), as their least and greatest values pass over NULLs: the NULL stayed
    # second. A join shuffled to several partitions feeds the sort.
    write_table(tmp_path, "costs", pd.DataFrame({
        "id": range(7), "cost": [None, 8.0, 7.5, 6.0, 1.0, 2.0, None],
        "kind": ["a", None, "b", "a", None, "c", "b"]}))
    query = ("SELECT c.id, c.cost, c.kind FROM costs c JOIN costs d ON c.id = d.id "
             f"ORDER BY {order.replace('cost', 'c.cost').replace('kind', 'c.kind')}")
    with dask.config.set({"govgrid.join.broadcast-limit": "1 B"}):
        planned = check((ParquetSource(tmp_path), duckdb_over(tmp_path)), query, ordered=True)
    assert "across partitions" in planned.explain()


def test_order_by_mixes_nulls_first_and_last(small):
    check(small, "SELECT id, grp, score FROM people "
                 "ORDER BY grp NULLS FIRST, score DESC NULLS LAST, id", ordered=True)


def test_scalar_subquery_of_several_rows_is_refused(small):
    with pytest.raises(compute.sql.SqlError, match="more than one row"):
        compute.sql.plan(small[0], "SELECT id FROM people WHERE id = (SELECT person FROM visits)")


def test_a_lookup_that_finds_several_rows_fails_as_in_duckdb(small):
    # persons 1 and 4 have several visits: DuckDB raises 'More than one row returned by a
    # subquery' too, though in some runs of this module it did not (so not asserted here)
    query = "SELECT id, (SELECT cost FROM visits v WHERE v.person = p.id) AS c FROM people p"
    with dask.config.set(scheduler="sync"), pytest.raises(SeveralRowsError,
                                                          match="more than one row"):
        compute.sql.plan(small[0], query).frame.compute()
    # people with one visit or none: no error
    check(small, query + " WHERE id NOT IN (1, 4)")


SMALL_LEFT_SEMI = {
    "in": "SELECT id FROM people WHERE grp = 'a' AND id IN (SELECT person FROM visits)",
    "exists": "SELECT id FROM people p WHERE grp = 'a' AND EXISTS "
              "(SELECT 1 FROM visits v WHERE v.person = p.id)",
    "not_exists": "SELECT id FROM people p WHERE grp = 'a' AND NOT EXISTS "
                  "(SELECT 1 FROM visits v WHERE v.person = p.id)",
    "not_in_with_null": "SELECT id FROM people WHERE grp = 'a' AND id NOT IN "
                        "(SELECT person FROM visits)",
}


@pytest.mark.parametrize("name", SMALL_LEFT_SEMI)
def test_semi_join_of_a_smaller_left_probes_it_with_the_right(small, name):
    # people filtered to one group is smaller than all the visits: the visits' rows are
    # probed against the people's keys, and the people then kept by the keys found
    planned = check(small, SMALL_LEFT_SEMI[name])
    assert "the right side probing the left's keys" in planned.explain()


def test_an_expression_is_tokenized_by_its_text_and_columns(monkeypatch):
    # Dask names tasks by tokens of their functions; a compiled expression's token comes
    # from the expression and the columns it reads, without pickling the closure.
    from dask import tokenize as tokenizing
    from sqlglot import parse_one

    from compute.sql.translate import compile_expression

    def refuse(value):
        raise AssertionError(f"pickled {value!r} to tokenize it")

    monkeypatch.setattr(tokenizing, "_normalize_pickle", refuse)
    columns = {"t.a": "x", "t.b": "y"}
    token = tokenizing.tokenize(compile_expression(parse_one("t.a + t.b"), columns))
    assert token == tokenizing.tokenize(compile_expression(parse_one("t.a + t.b"), columns))
    assert token != tokenizing.tokenize(compile_expression(parse_one("t.a - t.b"), columns))
    assert token != tokenizing.tokenize(
        compile_expression(parse_one("t.a + t.b"), {"t.a": "y", "t.b": "x"}))


def test_a_query_in_from_passes_on_only_the_columns_read_after_it(small):
    # sqlglot makes the ON term over visits a CTE that keeps `day`, read only by its own
    # WHERE: the join takes person and cost alone
    planned = check(small, "SELECT p.id, COUNT(v.cost) AS n FROM people p LEFT JOIN visits v "
                           "ON v.person = p.id AND v.day > DATE '2024-01-02' GROUP BY p.id")
    assert "v: columns ['day'] dropped, read nowhere here" in planned.steps, planned.explain()
