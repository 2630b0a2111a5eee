"""Load a contract table as a Dask DataFrame, checked against the contract first.

How columns load (on the CPU backend; cuDF gives its own equivalents):
- strings: pandas 3 ``str`` (``StringDtype("pyarrow", na_value=nan)``), Arrow-backed;
- dates: ``datetime64[s]`` (Parquet date32, converted through Arrow without Python objects);
- integers and floats: numpy ``int8``/``int16``/``int32``/``int64``/``float64``.
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Sequence
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa

from compute.exceptions import DataError, ParameterError
from compute.tables.catalog import Catalog, TableEntry, read_footer
from compute.tables.contract import Table, contract_table

DATE_DTYPE = "datetime64[s]"
STRING_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)

Filters = Sequence[tuple[str, str, Any]] | Sequence[Sequence[tuple[str, str, Any]]]


def read_table(
    data: str | os.PathLike[str] | Catalog,
    name: str,
    columns: Sequence[str] | None = None,
    filters: Filters | None = None,
    partitions: int | None = None,
) -> dd.DataFrame:
    """Table ``name`` of a data directory (or catalog) as a Dask DataFrame, lazily.

    ``columns`` and ``filters`` (pyarrow DNF, e.g. ``[("year", "==", 2024)]``; dates may be
    given as ``datetime.date``, ``Timestamp`` or ISO strings) are pushed into the Parquet read.
    One partition per file, or about ``partitions`` when fewer: neighbouring files are then
    read together by one task.
    Every file's footer is checked against the contract before the graph is built: a missing
    or corrupt file, a missing column or a wrong type raises DataError naming them.
    """
    contract = contract_table(name)
    entry = Catalog.load(data).table(name)
    check_files(contract, entry)
    selected = list(contract.column_names if columns is None else columns)
    for column in selected:
        if column not in contract.column_names:
            known = ", ".join(contract.column_names)
            raise ParameterError(f"table {name!r} has no column {column!r}; it has {known}")
    frame = dd.read_parquet(
        [str(file) for file in entry.files],
        columns=selected,
        filters=_normalise_filters(contract, filters) if filters else None,
        index=False,
        **_grouping(contract.name, entry, partitions),
    )
    return _to_contract_dtypes(contract, frame)


def _grouping(table: str, entry: TableEntry, partitions: int | None) -> dict[str, Any]:
    """read_parquet options that read the files into about ``partitions`` partitions.

    Dask packs neighbouring row groups into partitions of at most ``blocksize`` bytes
    (uncompressed, from the footers); room for ``files / partitions`` of the largest file
    puts that many files at least in each partition.
    """
    if partitions is None or partitions >= len(entry.files):
        return {}
    largest = max(read_footer(table, file).row_group_bytes for file in entry.files)
    return {
        "split_row_groups": "adaptive",
        "aggregate_files": True,
        "blocksize": largest * math.ceil(len(entry.files) / max(partitions, 1)),
    }


def check_files(contract: Table, entry: TableEntry) -> None:
    """Raise DataError unless every file of ``entry`` holds the contract's columns and types."""
    for file in entry.files:
        schema = read_footer(contract.name, file).schema
        for column in contract.columns:
            index = schema.get_field_index(column.name)
            if index < 0:
                raise DataError(
                    f"table {contract.name!r}: file {str(file)!r} lacks column {column.name!r}"
                )
            stored = schema.field(index).type
            if not column.accepts(stored):
                raise DataError(
                    f"table {contract.name!r}: file {str(file)!r}: column {column.name!r} is "
                    f"stored as {stored}, the contract says {column.kind} ({column.arrow_type})"
                )


def _to_contract_dtypes(contract: Table, frame: dd.DataFrame) -> dd.DataFrame:
    """Dates to datetime64[s], NA-strings to pandas 3 ``str``; decided on the meta's dtypes."""
    via_arrow, direct = {}, {}
    for name, dtype in frame.dtypes.items():
        kind = contract.column(name).kind
        if kind == "date" and isinstance(dtype, pd.ArrowDtype):
            # date32 -> timestamp[s] in Arrow, then a zero-copy view; astype straight to
            # datetime64 goes through Python date objects (~1 s per million rows).
            via_arrow[name] = pd.ArrowDtype(pa.timestamp("s"))
            direct[name] = DATE_DTYPE
        elif kind == "date" and dtype != DATE_DTYPE:
            direct[name] = DATE_DTYPE
        elif kind == "string" and isinstance(dtype, pd.StringDtype) and dtype != STRING_DTYPE:
            direct[name] = STRING_DTYPE
    if via_arrow:
        frame = frame.astype(via_arrow)
    return frame.astype(direct) if direct else frame


def _normalise_filters(contract: Table, filters: Filters) -> list[list[tuple[str, str, Any]]]:
    """Filters as DNF, unknown columns rejected, date values turned into ``datetime.date``."""
    # A flat list of (column, op, value) terms is one conjunction.
    groups = [filters] if isinstance(filters[0][0], str) else filters
    normalised = []
    for group in groups:
        terms = []
        for column, op, value in group:
            if column not in contract.column_names:
                raise ParameterError(
                    f"filter on unknown column {column!r} of table {contract.name!r}"
                )
            if contract.column(column).kind == "date":
                value = _as_dates(value)
            terms.append((column, op, value))
        normalised.append(terms)
    return normalised


def _as_dates(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return type(value)(_as_dates(v) for v in value)
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    return pd.Timestamp(value).date()
