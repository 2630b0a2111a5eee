"""compute.sql.frames, the SQL layer's one place for what pandas and cuDF do differently:
each helper against a plain-Python reference on small inputs whose index is neither 0..n-1
nor unique, on pandas partitions, and the same on cuDF partitions (marked ``gpu``: skipped
without a GPU, or without cuDF)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from compute.sql import frames
from compute.tables.dtypes import DATE_DTYPE, STRING_DTYPE

INDEX = pd.Index([7, 3, 3, 9, 1, 4, 8, 2, 5], name="row")  # shuffled, 3 repeated
LOGIC = [True, False, None]
NAMES = ["Ann", "bob", None, "a.c", "abc", "Fl\no", "x%y", "A+B", "(z)"]


@pytest.fixture(params=["pandas", pytest.param("cudf", marks=pytest.mark.gpu)])
def backend(request: pytest.FixtureRequest) -> Callable[[Any], Any]:
    """pandas objects as the partition's library holds them: as they are, or on the GPU."""
    if request.param == "pandas":
        return lambda value: value
    cudf = pytest.importorskip("cudf")
    return cudf.from_pandas


def host(value: Any) -> Any:
    return value.to_pandas() if hasattr(value, "to_pandas") else value


def values(column: Any) -> list[Any]:
    """A column's values, NULL (NaN, NaT, NA, null) as None."""
    column = host(column)
    return [None if pd.isna(v) else v for v in column.astype(object)]


def assert_column(got: Any, expected: list[Any], index: pd.Index = INDEX) -> None:
    assert frames.is_column(got)
    assert host(got).index.equals(index)
    assert values(got) == expected


def frame(**columns: list[Any]) -> pd.DataFrame:
    return pd.DataFrame(columns, index=INDEX[:len(next(iter(columns.values())))])


def on_gpu(backend: Callable[[Any], Any]) -> bool:
    return frames.is_cudf(backend(pd.Series([0])))


def same(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and (
        a == b or (math.isnan(a) and math.isnan(b))))


def test_the_library_is_chosen_from_the_partition(backend):
    part = backend(frame(a=[1, 2]))
    assert frames.library(part).__name__ == ("cudf" if on_gpu(backend) else "pandas")
    assert frames.library(part["a"]) is frames.library(part)


def test_missing_is_null_in_the_partitions_own_way(backend):
    part = backend(frame(a=list(range(9))))
    nulls = frames.missing(part)
    assert_column(nulls, [None] * 9)
    assert str(nulls.dtype) == "float64"
    if frames.is_cudf(nulls):  # nulls, not NaN values: NaN would sum and not concatenate
        assert nulls.null_count == len(nulls)
    both = frames.with_missing(part, ["x", "y"])
    assert list(both.columns) == ["a", "x", "y"]
    assert values(both["y"]) == [None] * 9
    assert frames.with_missing(part, []) is part


def test_logical_makes_nullable_booleans(backend):
    part = backend(frame(a=list(range(3))))
    column = backend(pd.Series(LOGIC, index=INDEX[:3], dtype="boolean"))
    assert_column(frames.logical(column, part), LOGIC, INDEX[:3])
    for scalar, expected in ((True, True), (False, False), (None, None)):
        result = frames.logical(scalar, part)
        assert str(result.dtype) == frames.LOGICAL
        assert_column(result, [expected] * 3, INDEX[:3])


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


@pytest.mark.parametrize(("function", "reference"), [(frames.kleene_and, _and),
                                                     (frames.kleene_or, _or)])
def test_and_or_follow_three_valued_logic(backend, function, reference):
    pairs = [(a, b) for a in LOGIC for b in LOGIC]
    a = backend(pd.Series([p[0] for p in pairs], index=INDEX, dtype="boolean"))
    b = backend(pd.Series([p[1] for p in pairs], index=INDEX, dtype="boolean"))
    result = function(a, b)
    assert str(result.dtype) == frames.LOGICAL
    assert_column(result, [reference(x, y) for x, y in pairs])


def _divide(a: int | None, b: int | float | None) -> float | None:
    if a is None or b is None:
        return None
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


def test_divide_is_double_precision_for_integers(backend):
    a = [1, 2, -3, 7, 0, 1_000_001, 5, -1, 9]
    b = [3, 4, 2, 0, 0, 3, 7, 0, 2]
    got = frames.true_divide(backend(pd.Series(a, index=INDEX, dtype="int32")),
                             backend(pd.Series(b, index=INDEX, dtype="int32")))
    assert str(got.dtype) == "float64"  # cuDF alone gives float32 for int32 / int32
    expected = [_divide(x, y) for x, y in zip(a, b, strict=True)]
    assert host(got).index.equals(INDEX)
    assert all(same(g, e) for g, e in zip(host(got).tolist(), expected, strict=True))
    assert values(frames.true_divide(backend(pd.Series(a, index=INDEX)), 2)) == [
        x / 2 for x in a]
    assert frames.true_divide(7, 2) == 3.5


# DECIMALs as engines hold them: doubles, some a unit in the last place off the decimal
MONEY = [205654.3, -0.07, 3.0, None, -205.6543, 0.0, 24710.350000000002, 0.30000000000000004,
         -1.0000000000000002]


def test_decimals_are_put_on_their_scale(backend):
    got = frames.on_scale(backend(pd.Series(MONEY, index=INDEX)), 2)
    expected = [None if v is None else float(round(Decimal(v), 2)) for v in MONEY]
    assert_column(got, expected)
    assert frames.on_scale(0.1 + 0.2, 1) == 0.3 and frames.on_scale(None, 2) is None


@pytest.mark.parametrize("places", [0, 2, 5])
def test_decimals_integers_and_booleans_are_written_as_duckdb_writes_them(backend, places):
    money = backend(pd.Series(MONEY, index=INDEX))
    # + 0 makes a negative zero positive: DuckDB writes no -0.00
    expected = [None if v is None else f"{round(Decimal(v), places) + 0:f}" for v in MONEY]
    assert_column(frames.as_text(money, places), expected)
    flags = backend(pd.Series([True, False, None, True], index=INDEX[:4], dtype="boolean"))
    assert_column(frames.as_text(flags, None), ["true", "false", None, "true"], INDEX[:4])


def _remainder(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return math.fmod(a, b)


def test_remainder_takes_the_dividends_sign(backend):
    a = [-7, 7, -7, 7, 5, 0, 9, -9, 4]
    b = [3, -3, -3, 3, 0, 5, 4, 4, -2]
    ints = frames.remainder(backend(pd.Series(a, index=INDEX)),
                            backend(pd.Series(b, index=INDEX)))
    assert_column(ints, [_remainder(x, y) for x, y in zip(a, b, strict=True)])
    floats = [-7.5, 7.5, None, 2.25, 1.0, -0.5, 6.0, -6.5, 3.0]
    got = frames.remainder(backend(pd.Series(floats, index=INDEX)), 2)
    assert_column(got, [_remainder(x, 2) for x in floats])
    by_scalar = frames.remainder(backend(pd.Series(a, index=INDEX)), 3)
    assert str(by_scalar.dtype) == "int64"
    assert_column(by_scalar, [math.fmod(x, 3) for x in a])
    assert_column(frames.remainder(100, backend(pd.Series(b, index=INDEX))),
                  [_remainder(100, y) for y in b])
    assert frames.remainder(-7, 3) == -1


def test_integer_division_rounds_toward_zero_and_by_zero_is_null(backend):
    a = [-7, 7, -7, 7, 5, 0, 9, -9, 4]
    b = [3, -3, -3, 3, 0, 5, 4, 4, -2]
    expected = [None if y == 0 else math.trunc(x / y) for x, y in zip(a, b, strict=True)]
    got = frames.truncated_divide(backend(pd.Series(a, index=INDEX)),
                                  backend(pd.Series(b, index=INDEX)))
    assert host(got).index.equals(INDEX)
    assert_column(got, expected)
    by_scalar = frames.truncated_divide(backend(pd.Series(a, index=INDEX)), 2)
    assert str(by_scalar.dtype) == "int64"
    assert_column(by_scalar, [math.trunc(x / 2) for x in a])
    assert_column(frames.truncated_divide(backend(pd.Series(a, index=INDEX)), 0),
                  [None] * len(a))
    assert frames.truncated_divide(-7, 2) == -3
    assert frames.truncated_divide(7, 0) is None


@pytest.mark.parametrize(("pattern", "insensitive", "whole"), [
    ("b", False, False), ("^a", True, False), ("[a-z.]+", False, True), ("l.o", False, False),
    ("A", True, True)])
def test_regex_search_agrees_with_python_re(backend, pattern, insensitive, whole):
    found = frames.regex_search(backend(pd.Series(NAMES, index=INDEX)), pattern, insensitive,
                                whole)
    match = re.fullmatch if whole else re.search
    flags = re.IGNORECASE if insensitive else 0
    assert host(found).index.equals(INDEX)
    assert values(found) == [n is not None and bool(match(pattern, n, flags)) for n in NAMES]


def test_regex_replace_and_extract_agree_with_python_re(backend):
    names = backend(pd.Series(NAMES, index=INDEX))
    for pattern, replacement, every in [("[aeiou]", "*", False), ("[aeiou]", "*", True),
                                        (r"(.)(.)", r"\2\1", True), ("z", "", True)]:
        got = frames.regex_replace(names, pattern, replacement, every)
        assert values(got) == [None if n is None else re.sub(
            pattern, replacement, n, count=0 if every else 1) for n in NAMES]
    for pattern, group in [("[a-z]", 0), (r"([a-z])([a-z])", 2), ("q", 0)]:
        got = frames.regex_extract(names, pattern, group)
        expected = [None if n is None else (m.group(group) if (m := re.search(pattern, n))
                                            else "") for n in NAMES]
        assert values(got) == expected


def test_dates_parse_from_strings_and_pass_through(backend):
    texts = [None, "2024-02-29", "1990-01-31"]  # the format comes from a non-NULL one
    got = frames.to_datetime(backend(pd.Series(texts, index=INDEX[:3], dtype=STRING_DTYPE)))
    assert got.dtype.kind == "M"
    assert_column(got, [pd.Timestamp(t) if t else None for t in texts], INDEX[:3])
    stamps = backend(pd.Series(pd.to_datetime(texts), index=INDEX[:3]).astype(DATE_DTYPE))
    assert_column(frames.to_datetime(stamps), values(stamps), INDEX[:3])


def test_numbers_parse_from_strings_null_where_not_a_number(backend):
    texts = ["11", "x1", None, "65", ""]
    got = frames.to_numeric(backend(pd.Series(texts, index=INDEX[:5], dtype=STRING_DTYPE)))
    assert_column(got.astype("float64"), [11.0, None, None, 65.0, None], INDEX[:5])


def test_dates_parse_as_duckdb_casts_them_null_where_no_date(backend):
    texts = ["2024-02-03", " 2024-2-3 ", "2024-02-03 10:00:00", "2024-02-30", "02/03/2024",
             "20240203", None, "x", "1999-12-31T23:59", "2024-02-29", "1900-02-29",
             "2000-02-29", "2023-04-31", "2023-13-01", "2023-00-10", "2023-1-0"]
    index = pd.Index(range(len(texts), 0, -1), name="row")  # descending: not 0..n-1
    got = frames.parse_dates(backend(pd.Series(texts, index=index, dtype=STRING_DTYPE)))
    assert str(got.dtype) == DATE_DTYPE

    def reference(text: str | None) -> pd.Timestamp | None:
        head = (text or "").strip().replace("T", " ").split(" ")[0].split("-")
        try:
            return pd.Timestamp(dt.date(*map(int, head))) if len(head[0]) == 4 else None
        except (TypeError, ValueError):
            return None

    assert_column(got, [reference(t) for t in texts], index)


def test_kernel_dates_become_datetime64_seconds(backend):
    dates = [dt.date(2000, 2, 29), None, dt.date(1949, 12, 31)]
    arrow = pd.Series(dates, index=INDEX[:3], dtype=pd.ArrowDtype(pa.date32()))
    # what the kernels give: Arrow dates on pandas, datetime64[s] on cuDF
    given = backend(arrow.astype(DATE_DTYPE)) if on_gpu(backend) else arrow
    got = frames.date_column(given)
    assert str(got.dtype) == DATE_DTYPE
    assert_column(got, [pd.Timestamp(d) if d else None for d in dates], INDEX[:3])


FIRST_MONTH = {"year": lambda month: 1, "quarter": lambda month: (month - 1) // 3 * 3 + 1,
               "month": lambda month: month}


@pytest.mark.parametrize("unit", FIRST_MONTH)
def test_first_day_of_the_year_quarter_or_month(backend, unit):
    days = [dt.date(2024, 2, 29), None, dt.date(1949, 12, 31), dt.date(2000, 1, 1),
            dt.date(1999, 5, 17)]
    column = backend(pd.Series(pd.to_datetime(days), index=INDEX[:5]).astype(DATE_DTYPE))
    got = frames.first_day(column, unit)
    assert str(got.dtype) == DATE_DTYPE
    expected = [pd.Timestamp(d.replace(month=FIRST_MONTH[unit](d.month), day=1)) if d else None
                for d in days]
    assert_column(got, expected, INDEX[:5])


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


@pytest.mark.parametrize("months", [1, 13, -1, -12])
def test_calendar_offsets_add_months_clamped_to_the_month_end(backend, months):
    days = [dt.date(2024, 1, 31), dt.date(2023, 12, 15), None, dt.date(2024, 3, 31)]
    column = backend(pd.Series(pd.to_datetime(days), index=INDEX[:4]).astype(DATE_DTYPE))
    got = column + frames.calendar(pd.DateOffset(months=months), column)
    expected = [pd.Timestamp(_add_months(d, months)) if d else None for d in days]
    assert_column(got, expected, INDEX[:4])
    week = pd.Timedelta(days=7)
    assert frames.calendar(week, column) is week


def _like(text: str | None, pattern: str, fold: bool) -> bool:
    """SQL LIKE without regular expressions: % any characters, _ one character."""
    if text is None:
        return False
    if fold:
        text, pattern = text.lower(), pattern.lower()

    def match(t: int, p: int) -> bool:
        if p == len(pattern):
            return t == len(text)
        if pattern[p] == "%":
            return any(match(k, p + 1) for k in range(t, len(text) + 1))
        return t < len(text) and pattern[p] in ("_", text[t]) and match(t + 1, p + 1)

    return match(0, 0)


@pytest.mark.parametrize("pattern", ["a%", "%o%", "_o%", "a.c", "%+%", "(%)", "x\\%y%",
                                     "x%y", "Fl_o", "%", "___", "A%B", "%c"])
@pytest.mark.parametrize("fold", [False, True], ids=["LIKE", "ILIKE"])
def test_like_matches_whole_strings(backend, pattern, fold):
    column = backend(pd.Series(NAMES, index=INDEX, dtype=STRING_DTYPE))
    got = frames.matches_whole(column, frames.like_regex(pattern), fold)
    assert_column(got.astype(bool), [_like(t, pattern, fold) for t in NAMES])


@pytest.mark.parametrize("nulls", ["first", "last"])
@pytest.mark.parametrize("ascending", [True, False])
def test_sort_is_stable_and_keeps_the_index(backend, nulls, ascending):
    keys = [2.0, 1.0, None, 2.0, 1.0, None, 3.0, 1.0, 2.0]
    part = frame(k=keys, order=list(range(9)))
    got = host(frames.sort_stable(backend(part), "k", ascending, nulls))
    present = sorted((i for i, k in enumerate(keys) if k is not None),
                     key=lambda i: keys[i], reverse=not ascending)
    # Python's sort is stable, also with reverse=True: ties keep their order
    absent = [i for i, k in enumerate(keys) if k is None]
    rows = absent + present if nulls == "first" else present + absent
    assert got["order"].tolist() == rows
    assert got.index.tolist() == [INDEX[i] for i in rows]
    # two keys, each its own direction; NULL keys placed as asked
    two = host(frames.sort_stable(backend(part), ["k", "order"], [ascending, False], nulls))
    present = sorted(present, key=lambda i: -i)
    present = sorted(present, key=lambda i: keys[i], reverse=not ascending)
    absent = sorted(absent, key=lambda i: -i)
    rows = absent + present if nulls == "first" else present + absent
    assert two["order"].tolist() == rows
