"""Where pandas and cuDF partitions differ, for the SQL layer: the one place that knows.

Every per-partition function of :mod:`compute.sql` runs on pandas (CPU workers) and on cuDF
(GPU workers). Most operations both libraries share with the same semantics and are called
directly. The few that differ are here, each written once, either with operations both share
(most of them, so the CPU tests run the very code the GPU runs) or, where no shared form
exists, by calling the partition's own library, chosen from the object's type. cuDF is
imported only when a partition is a cuDF object. docs/gpu.md, "SQL partition functions",
lists each difference with the cuDF source it was checked against.

- ``missing``, ``with_missing``: columns of NULLs. cuDF keeps ``np.nan`` as a value
  (group-by aggregations do not skip it, and a NaN column does not concatenate with a
  string one); only a null is NULL there.
- ``logical``, ``kleene_and``, ``kleene_or``: SQL's three-valued logic. Both carry pandas'
  nullable ``boolean`` dtype, but cuDF's ``&`` and ``|`` propagate nulls (libcudf
  BITWISE_AND/OR), where SQL and pandas say ``NULL AND FALSE`` is FALSE.
- ``definite``, ``may_be_null``: conditions as plain booleans. A cuDF column of any dtype
  can hold nulls, and a bool one too; on pandas a numpy bool or integer column cannot.
- ``true_divide``: cuDF divides int32 by int32 into float32 (outside pandas-compatible mode).
- ``remainder``: ``np.fmod`` on a cuDF Series is Python's ``%`` (the divisor's sign).
- ``to_datetime``, ``to_numeric``: functions of the library, not methods; cuDF guesses a
  date format from the first string even when it is NULL.
- ``calendar``: cuDF adds ``cudf.DateOffset``, not ``pd.DateOffset``, to a datetime column.
- ``first_day``: neither library floors a date to its month (``dt.floor`` takes fixed
  frequencies); both assemble dates from year, month and day columns, a library function.
- ``matches_whole``: libcudf's regex engine has no inline flags and its ``$`` also matches
  before a final newline.
- ``sort_stable``: cuDF always sorts stably and warns when asked for ``kind="stable"``.
- ``date_column``: the kernels give Arrow dates on pandas, ``datetime64[s]`` on cuDF.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from compute.tables.dtypes import DATE_DTYPE, STRING_DTYPE

LOGICAL = "boolean"  # pandas' nullable boolean; cuDF carries the same dtype (nulls native)
# The characters a LIKE pattern's literal text must escape: those libcudf documents as
# escapable ("Backslash escapes a metacharacter"), which Python's re and RE2 also accept.
_REGEX_SPECIAL = frozenset("[\\^$.|?*+(){}")


def is_cudf(value: Any) -> bool:
    """Whether ``value`` is a cuDF object (Series, DataFrame, Index)."""
    return type(value).__module__.partition(".")[0] == "cudf"


def library(value: Any) -> ModuleType:
    """The module that made ``value``: ``cudf`` for a cuDF object (imported only then),
    else ``pandas``."""
    if is_cudf(value):
        import cudf

        return cudf
    return pd


def is_column(value: Any) -> bool:
    """Whether ``value`` is a column (pandas or cuDF Series) rather than a scalar."""
    return hasattr(value, "dtype") and hasattr(value, "index")


def is_frame(value: Any) -> bool:
    """Whether ``value`` is a frame (pandas or cuDF DataFrame): several columns."""
    return hasattr(value, "columns") and not hasattr(value, "dtype")


# -- NULLs and three-valued logic ------------------------------------------------------------


def missing(part: Any) -> Any:
    """A float64 column of NULLs aligned with the DataFrame ``part``: NaN on pandas, null
    on cuDF (``mask`` fills with each library's own missing value)."""
    zeros = part[[]].assign(_missing=0.0)["_missing"]
    return zeros.mask(zeros == 0.0)


def with_missing(part: Any, labels: list[str]) -> Any:
    """``part`` with float64 columns ``labels``, all NULL (see :func:`missing`)."""
    if not labels:
        return part
    nulls = missing(part)
    return part.assign(**dict.fromkeys(labels, nulls))


def logical(value: Any, part: Any) -> Any:
    """``value`` (a column, a bool or None) as a nullable boolean column aligned with
    ``part``: SQL's TRUE, FALSE and NULL."""
    if is_column(value):
        return value.astype(LOGICAL)
    if value is None or value is pd.NA:
        return missing(part).astype(LOGICAL)
    return part[[]].assign(_logical=bool(value))["_logical"].astype(LOGICAL)


def definite(mask: Any) -> Any:
    """A boolean column as plain booleans, NULL as False."""
    if isinstance(mask.dtype, np.dtype) and mask.dtype == bool and not is_cudf(mask):
        return mask
    return mask.fillna(False).astype(bool)


def may_be_null(column: Any) -> bool:
    """Whether ``column`` may hold a NULL: on pandas a numpy integer or boolean one cannot;
    on cuDF every column can."""
    return is_cudf(column) or not (isinstance(column.dtype, np.dtype)
                                   and column.dtype.kind in "iub")


def kleene_and(a: Any, b: Any) -> Any:
    """SQL ``a AND b`` of two nullable boolean columns: FALSE where either is FALSE, TRUE
    where both are TRUE, else NULL."""
    both_true = a.fillna(False) & b.fillna(False)
    some_false = ~a.fillna(True) | ~b.fillna(True)
    return both_true.mask(~(both_true | some_false))


def kleene_or(a: Any, b: Any) -> Any:
    """SQL ``a OR b`` of two nullable boolean columns: TRUE where either is TRUE, FALSE
    where both are FALSE, else NULL."""
    some_true = a.fillna(False) | b.fillna(False)
    both_false = ~a.fillna(True) & ~b.fillna(True)
    return some_true.mask(~(some_true | both_false))


# -- arithmetic -------------------------------------------------------------------------------


def true_divide(a: Any, b: Any) -> Any:
    """``a / b`` in double precision, integers too; as DuckDB, ``x / 0`` is IEEE (inf or
    NaN)."""
    if not (is_column(a) or is_column(b)):
        return np.float64(a) / np.float64(b)
    return _as_float(a) / _as_float(b)


def as_double(value: Any) -> Any:
    """``value`` in double precision: a column as float64, a scalar as ``np.float64``."""
    return value.astype("float64") if is_column(value) else np.float64(value)


def _as_float(value: Any) -> Any:
    if not is_column(value) or value.dtype.kind not in "iu":
        return value
    masked = isinstance(value.dtype, pd.api.extensions.ExtensionDtype) and not isinstance(
        value.dtype, pd.ArrowDtype)
    return value.astype("Float64" if masked else "float64")


def truncated_divide(a: Any, b: Any) -> Any:
    """SQL's ``a // b`` of integers: the quotient rounded toward zero (``-7 // 2 = -3``), the
    one whose remainder :func:`remainder` gives; ``x // 0`` is NULL (DuckDB raises)."""
    if not (is_column(a) or is_column(b)) and b == 0:
        return None
    with np.errstate(all="ignore"):  # numpy warns of each NaN that x // 0 makes
        return (a - remainder(a, b)) // b


def remainder(a: Any, b: Any) -> Any:
    """SQL's ``a % b``: the remainder takes the dividend's sign (``-7 % 3 = -1``); for
    columns, ``x % 0`` is NULL.

    Python's ``%``, which both libraries have, takes the divisor's sign; where the signs
    differ and the remainder is not 0, the truncated remainder is that minus the divisor.
    (``np.fmod`` would do on pandas, but cuDF maps it to Python's ``%``.)
    """
    if not (is_column(a) or is_column(b)):
        return np.fmod(a, b)
    modulo = a % b
    # cuDF compares NULL operands to null: read them as "no correction" (the result is NULL)
    differ = ((modulo != 0) & ((a < 0) != (b < 0))).fillna(False)
    result = modulo.where(~differ, modulo - b)
    # x % 0 is NaN (integers too: both promote them to float): NULL on cuDF as well
    return result.mask(result.isna()) if result.dtype.kind == "f" else result


# -- dates and numbers parsed from strings ---------------------------------------------------


def to_datetime(column: Any) -> Any:
    """``column`` (dates, or strings of dates) as datetime64, by the column's library.

    Both guess the format of strings from one value: pandas from the first non-NULL one,
    cuDF from the first one even when it is NULL (and then fails). cuDF gets the format
    guessed pandas' way. Dates already are returned as they are.
    """
    if column.dtype.kind == "M":
        return column
    if not is_cudf(column):
        return library(column).to_datetime(column)
    present = column.dropna()
    guessed = pd.tseries.api.guess_datetime_format(present.iloc[0]) if len(present) else None
    return library(column).to_datetime(column, format=guessed)


def as_text(column: Any, places: int | None) -> Any:
    """``column`` as strings, NULL kept, as DuckDB writes a value of its SQL type: a DOUBLE
    as Python's repr (``places`` None), a BOOLEAN as ``true`` or ``false``; an integer
    (``places`` 0) as ``3`` and not ``3.0`` where pandas holds it as float64 (an outer join's
    or a ROLLUP's NULLs make it one); a DECIMAL, held as float64, with its scale's ``places``
    digits (``205654.30``)."""
    if pd.api.types.is_string_dtype(column.dtype):
        return column
    if places is None or (places == 0 and column.dtype.kind != "f"):
        text = column.astype(STRING_DTYPE)
        if pd.api.types.is_bool_dtype(column.dtype):  # true and false, as SQL writes them
            text = text.str.lower()
        return text.where(column.notna())
    # the value in units of its last place, an integer: through pandas' nullable Int64, or
    # cuDF's int64, which keeps nulls
    units = (column * 10.0 ** places).round().astype("int64" if is_cudf(column) else "Int64")
    if places == 0:
        return units.astype(STRING_DTYPE)
    digits = units.abs()
    text = ((digits // 10 ** places).astype(STRING_DTYPE) + "."
            + (digits % 10 ** places).astype(STRING_DTYPE).str.zfill(places))
    return text.mask((units < 0).fillna(False), "-" + text)


def on_scale(value: Any, scale: int) -> Any:
    """``value``, a DECIMAL of ``scale`` held as a double some units in the last place off
    (a product or a sum of doubles), as the double nearest the exact decimal: DuckDB computes
    DECIMALs exactly, so ``price * 12 = price * 10 + price * 2`` holds there for every row."""
    factor = 10.0 ** scale
    if value is None or not is_column(value):
        return None if value is None else round(value * factor) / factor
    return (value * factor).round() / factor


def to_numeric(column: Any) -> Any:
    """``column`` (strings) as numbers, NULL where a string is not a number."""
    return library(column).to_numeric(column, errors="coerce")


def parse_dates(strings: Any) -> Any:
    """``strings`` as dates the way DuckDB casts them: ``YYYY-M-D`` between spaces, a time
    after it ignored; NULL where a string is no such date (``2024-02-30`` too).

    Only real dates reach the library's parser, as ``YYYY-MM-DD``: cuDF's does not check
    the day against the month, nor does it coerce a bad string to NULL row by row.
    """
    # ASCII digits, as DuckDB's: Python's re (pandas' extract) takes full-width ones as \d
    parts = strings.str.strip().str.extract(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[ T].*)?$")
    year, month, day = (to_numeric(parts[i]) for i in range(3))
    text = (parts[0] + "-" + parts[1].str.zfill(2) + "-" + parts[2].str.zfill(2)).where(
        _real_days(year, month, day))
    return library(strings).to_datetime(text, format="%Y-%m-%d").astype(DATE_DTYPE)


def _real_days(year: Any, month: Any, day: Any) -> Any:
    """Where the numbers ``year``, ``month``, ``day`` make a date of the calendar."""
    leap = ((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))).astype("int64")
    days = 31 - month.isin([4, 6, 9, 11]).astype("int64") - (month == 2).astype("int64") * (
        3 - leap)
    return month.between(1, 12) & (day >= 1) & (day <= days)


# STRPTIME's directives: each field's ASCII digits, as DuckDB reads them (up to 4 of a year, 1
# or 2 of the others), and its value where the format lacks it (C's: 1900-01-01 00:00:00)
STRPTIME_FIELDS = {"Y": ("([0-9]{1,4})", 1900), "m": ("([0-9]{1,2})", 1),
                   "d": ("([0-9]{1,2})", 1), "H": ("([0-9]{1,2})", 0),
                   "M": ("([0-9]{1,2})", 0), "S": ("([0-9]{1,2})", 0)}


def parse_with_format(strings: Any, pattern: str, fields: list[str]) -> Any:
    """``strings`` read by the regex ``pattern`` (see :func:`strptime_pattern`), whose groups
    are the STRPTIME ``fields`` in order, as timestamps (``datetime64[s]``); NULL where a
    string does not match or makes no date or time. Only real timestamps reach the library's
    parser, as ``YYYY-MM-DD HH:MM:SS`` (cuDF's checks no calendar)."""
    parts = strings.str.extract(pattern)
    empty = strings.str.slice(0, 0)  # NULL where the string is
    text = {field: parts[fields.index(field)] if field in fields else empty + str(default)
            for field, (_, default) in STRPTIME_FIELDS.items()}
    number = {field: to_numeric(digits) for field, digits in text.items()}
    real = _real_days(number["Y"], number["m"], number["d"]) & (number["H"] <= 23) & (
        number["M"] <= 59) & (number["S"] <= 59)
    stamp = (text["Y"].str.zfill(4) + "-" + text["m"].str.zfill(2) + "-"
             + text["d"].str.zfill(2) + " " + text["H"].str.zfill(2) + ":"
             + text["M"].str.zfill(2) + ":" + text["S"].str.zfill(2)).where(real)
    return library(strings).to_datetime(stamp, format="%Y-%m-%d %H:%M:%S").astype(DATE_DTYPE)


def strptime_pattern(form: str) -> tuple[str, list[str]] | None:
    """STRPTIME's ``form`` as a regex of the whole string (spaces around it allowed, as
    DuckDB's) and the fields its groups read; None where it uses a directive other than
    those of :data:`STRPTIME_FIELDS` and ``%%``, or repeats one."""
    pattern, fields, rest = "", [], form
    while rest:
        if rest[0] != "%":
            pattern, rest = pattern + re.escape(rest[0]), rest[1:]
            continue
        directive, rest = rest[1:2], rest[2:]
        if directive == "%":
            pattern += "%"
        elif directive in STRPTIME_FIELDS and directive not in fields:
            pattern += STRPTIME_FIELDS[directive][0]
            fields.append(directive)
        else:
            return None
    return rf"^\s*{pattern}\s*$", fields


def date_column(dates: Any) -> Any:
    """A kernel's date column as the engine's ``datetime64[s]``. On pandas the kernels give
    Arrow ``date32``: through an Arrow timestamp, a zero-copy route with no Python dates.
    cuDF's kernels already give ``datetime64[s]``."""
    if isinstance(dates.dtype, pd.ArrowDtype):
        dates = dates.astype(pd.ArrowDtype(pa.timestamp("s")))
    return dates.astype(DATE_DTYPE)


def widened(value: Any) -> Any:
    """An integer column of fewer than 64 bits as int64 (``Int64`` where pandas' nullable),
    anything else as it is: SQL's integer arithmetic runs in BIGINT here, where numpy's would
    wrap in the column's own width (a SMALLINT year * 100) or refuse a literal beyond it."""
    dtype = getattr(value, "dtype", None)
    if dtype is None or dtype.kind not in "iu" or dtype.itemsize >= 8:
        return value
    return value.astype("Int64" if isinstance(dtype, pd.api.extensions.ExtensionDtype)
                        else "int64")


def calendar(offset: Any, other: Any) -> Any:
    """``offset`` ready to add to ``other``: a ``pd.DateOffset`` becomes a
    ``cudf.DateOffset`` of the same months and years when ``other`` is a cuDF column."""
    if isinstance(offset, pd.DateOffset) and is_cudf(other):
        return library(other).DateOffset(**offset.kwds)
    return offset


def first_day(dates: Any, unit: str) -> Any:
    """``dates`` (datetime64) cut back to the first day of their ``unit``: "year", "quarter",
    "month" or "week" (its Monday, as ISO's and DuckDB's weeks start) (SQL's DATE_TRUNC), as
    ``datetime64[s]``; NULL stays NULL."""
    if unit == "week":  # back by the days since Monday (dayofweek 0)
        back = (dates.dt.dayofweek * 86400).astype("timedelta64[s]")
        return (dates.dt.floor("D") - back).astype(DATE_DTYPE)
    month = dates.dt.month
    if unit == "year":
        month = 1
    elif unit == "quarter":
        month = (month - 1) // 3 * 3 + 1
    elif unit != "month":
        raise ValueError(f"no first day of a {unit!r}")
    lib = library(dates)
    fields = lib.DataFrame({"year": dates.dt.year, "month": month, "day": 1}, index=dates.index)
    return lib.to_datetime(fields).astype(DATE_DTYPE)


# -- strings and sorting ---------------------------------------------------------------------


def like_regex(pattern: str) -> str:
    """A SQL LIKE pattern as the body of a regular expression: ``%`` any characters, ``_``
    one character, everything else literal."""
    return "".join(
        ".*" if c == "%" else "." if c == "_" else f"\\{c}" if c in _REGEX_SPECIAL else c
        for c in pattern
    )


def matches_whole(column: Any, body: str, case_insensitive: bool) -> Any:
    """Whether each string of ``column`` matches the regex ``body`` as a whole, ``.``
    matching newlines too; FALSE for NULL.

    pandas hands the pattern to RE2, which takes inline flags and whose ``$`` is the end of
    the text. libcudf takes flags as an argument, has no inline ``(?i)``, and its ``$``
    also matches before a final newline, so its pattern is anchored with ``\\A``/``\\Z``.
    """
    if is_cudf(column):
        flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
        return column.str.contains(f"\\A{body}\\Z", flags=flags, regex=True, na=False)
    inline = "(?is)" if case_insensitive else "(?s)"
    return column.str.contains(f"{inline}^{body}$", regex=True, na=False)


def regex_search(column: Any, pattern: str, case_insensitive: bool, whole: bool) -> Any:
    """Whether the regex ``pattern`` (RE2's syntax, as DuckDB's) matches in each string of
    ``column`` (``whole``: all of it); FALSE for NULL. pandas hands the pattern to RE2, with
    inline flags; libcudf takes flags as an argument and has no inline ones."""
    if is_cudf(column):
        body = f"\\A(?:{pattern})\\Z" if whole else pattern
        return column.str.contains(body, flags=re.IGNORECASE if case_insensitive else 0,
                                   regex=True, na=False)
    body = f"^(?:{pattern})$" if whole else pattern
    # RE2's count of matches: contains, which runs RE2 too, warns of each pattern's groups
    found = column.str.count(f"(?i){body}" if case_insensitive else body) > 0
    return found.fillna(False).astype(bool)


BACKREFERENCE = re.compile(r"\\[0-9]")


def regex_replace(column: Any, pattern: str, replacement: str, every: bool) -> Any:
    """``column`` with the first match of ``pattern`` replaced (``every`` match), ``\\1`` in
    ``replacement`` a group's text. pandas has RE2 do it; libcudf replaces by a literal
    string or, with back-references, every match (the planner asks for ``every`` then)."""
    if is_cudf(column) and BACKREFERENCE.search(replacement):
        return column.str.replace_with_backrefs(pattern, replacement)
    return column.str.replace(pattern, replacement, n=-1 if every else 1, regex=True)


def regex_extract(column: Any, pattern: str, group: int) -> Any:
    r"""The text of ``group`` (0: the whole match; at most 9) of the first match of
    ``pattern`` in each string of ``column``; '' where none matches, NULL for NULL
    (DuckDB's). libcudf extracts; pandas' extract would run Python's ``re``, whose ``\d``
    takes full-width digits and which knows no ``\p{Han}``, so RE2 replaces the whole string
    by the group there."""
    if is_cudf(column):
        found = column.str.extract(f"({pattern})", expand=True)[group]
        return found.where(column.isna() | found.notna(), "")
    around = f"(?s)^.*?({pattern}).*$" if group == 0 else f"(?s)^.*?(?:{pattern}).*$"
    taken = column.str.replace(around, f"\\{max(group, 1)}", n=1, regex=True)
    return taken.where(regex_search(column, pattern, False, False) | column.isna(), "")


def sort_stable(part: Any, by: str | list[str], ascending: bool | list[bool],
                na_position: str) -> Any:
    """``part`` sorted by ``by``, rows with equal keys in their order. pandas needs
    ``kind="stable"`` for one key; cuDF always sorts stably and warns when given a kind."""
    if is_cudf(part):
        return part.sort_values(by, ascending=ascending, na_position=na_position)
    return part.sort_values(by, ascending=ascending, kind="stable", na_position=na_position)
