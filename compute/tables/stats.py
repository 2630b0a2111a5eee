"""Estimates of a column's distinct values, for planning (nothing here is exact).

At most the table's rows, and fewer where the statistics say so: an integer or date column,
the range its files' statistics in the Delta log span; a string column, the values of its
first row group when they are few next to the rows there (flags, codes, categories). The
planner sizes group-bys and what follows them (a sort, a join) from these.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from compute.tables.delta import Version

# A string column counts as low-cardinality when its first row group holds at most this
# share of distinct values (and is then estimated at that count, as if it held them all).
FEW = 0.01


def distinct_estimate(version: Version, column: str, bounds: tuple[Any, Any] | None) -> int:
    """Estimated distinct values of ``column`` in ``version`` (at most its rows); ``bounds``:
    the column's smallest and largest value as the reader may know them (None: unknown)."""
    stored = version.schema.field(column).type
    rows = version.rows
    if not version.files or rows == 0:
        return 0
    found = None
    if pa.types.is_integer(stored) or pa.types.is_date(stored):
        steps = None if bounds is None else ordinals(list(bounds))
        found = None if steps is None else steps[1] - steps[0] + 1
    elif pa.types.is_string(stored) or pa.types.is_large_string(stored) or \
            pa.types.is_dictionary(stored):
        found = _sampled(version.files[0].path, column)
    return rows if found is None else min(found, rows)


def ordinals(values: list[Any]) -> list[int] | None:
    """``values`` as integers (dates as day numbers) when all are integers or all dates, so
    a range of them can be counted; None otherwise."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return values
    if all(isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in values):
        return [v.toordinal() for v in values]
    return None


@functools.lru_cache(maxsize=1024)
def _sampled(path: Path, column: str) -> int | None:
    """Distinct values of ``column`` in the first row group of file ``path``, when few."""
    try:
        parquet = pq.ParquetFile(path, read_dictionary=[column])
        if parquet.metadata.num_row_groups == 0:
            return None
        values = parquet.read_row_group(0, columns=[column]).column(0)
    except (OSError, pa.ArrowException):
        return None  # the read itself names the file, later, if it is unreadable
    found = len(pa.chunked_array(values).unique())
    return found if found <= max(len(values) * FEW, 1) else None
