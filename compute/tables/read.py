"""Read one version of a table as a Dask DataFrame: files pruned, footers checked, dtypes fixed.

How columns load (on the CPU backend; cuDF gives its own equivalents): in the engine's dtypes
(:mod:`compute.tables.dtypes`: strings as pandas 3 ``str``, dates as ``datetime64[s]``,
decimals as float64, timestamps with their time zone), then a column mapped to an element in
the element's type (an int64 division code loads as int32).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
from dask.dataframe.dask_expr import new_collection
from dask.dataframe.dask_expr.io.parquet import ReadParquetFSSpec

from cluster import current_backend
from compute.exceptions import DataError, ParameterError
from compute.tables.catalog import TableEntry, read_footer
from compute.tables.delta import DataFile, Version
from compute.tables.dtypes import DATE_DTYPE, STRING_DTYPE, engine_dtypes
from compute.tables.elements import ELEMENTS
from compute.tables.parquet_engine import PolarsParquetEngine

Filter = tuple[str, str, Any]
Filters = Sequence[Filter] | Sequence[Sequence[Filter]]

# What each comparison needs of a file's [min, max] to possibly hold a matching row.
_MAY_MATCH: dict[str, Callable[[Any, Any, Any], bool]] = {
    "==": lambda low, high, v: low <= v <= high,
    "=": lambda low, high, v: low <= v <= high,
    "<": lambda low, high, v: low < v,
    "<=": lambda low, high, v: low <= v,
    ">": lambda low, high, v: high > v,
    ">=": lambda low, high, v: high >= v,
    "in": lambda low, high, values: any(low <= v <= high for v in values),
}


def read_version(
    entry: TableEntry,
    version: Version,
    columns: Sequence[str] | None = None,
    filters: Filters | None = None,
    partitions: Callable[[int, int], int] | None = None,
) -> dd.DataFrame:
    """Columns ``columns`` of ``version`` of the table ``entry``, lazily.

    ``filters`` (pyarrow DNF, e.g. ``[("year", "==", 2024)]``; dates may be given as
    ``datetime.date``, ``Timestamp`` or ISO strings) first prune files by the statistics in
    the Delta log, then go into the Parquet read. ``partitions(row groups, bytes)`` says how
    many partitions to read the files left into, from their row groups and the columns' size
    in memory (estimated from the footers: :func:`memory_bytes`); without it, one per file.
    The footers of the files left are checked before the graph is built: a missing or
    corrupt file, a missing column or a changed type raises DataError naming them.
    """
    schema = version.schema
    selected = list(schema.names if columns is None else columns)
    for column in selected:
        if column not in schema.names:
            raise ParameterError(f"table {entry.name!r} has no column {column!r}; it has "
                                 f"{', '.join(schema.names)}")
    groups = _normalise_filters(entry, schema, filters) if filters else None
    files = [f for f in version.files if groups is None or _may_match(f, groups)]
    if not version.files:
        meta = pa.schema([schema.field(name) for name in selected]).empty_table().to_pandas(
            types_mapper=pd.ArrowDtype)
        return _loaded(dd.from_pandas(meta, npartitions=1), _kinds(entry, selected))
    # A filter that rules out every file still needs one file to give the frame its meta.
    files = files or list(version.files[:1])
    gpu = current_backend() == "gpu"
    # dask-cudf applies filters to each partition's rows with the values as given, and a
    # datetime.date there matches nothing (docs/gpu.md): on the GPU the rows are filtered
    # after the read, as column comparisons on the loaded dtypes.
    read = selected if not (gpu and groups) else list(dict.fromkeys(
        [*selected, *(column for group in groups for column, _, _ in group)]))
    check_files(entry.name, schema, files, read)
    # each row group's bytes, in file order: the finest partitions a read can make
    sizes = [size for file in files for size in read_footer(entry.name, file.path).row_group_sizes]
    count = partitions(len(sizes), memory_bytes(entry.name, files, read)) if partitions \
        else None
    paths = [str(file.path) for file in files]
    grouping = _grouping(sizes, len(files), count, gpu)
    key = None if gpu else _read_key(paths, groups, grouping)
    kinds = _kinds(entry, read)
    loaded_key = None if key is None else (key, tuple(read), tuple(sorted(kinds.items())))
    loaded = _known(loaded_key)
    if loaded is not None:  # the same read in the same dtypes: the same frame
        return loaded
    known = _known(key)
    if known is not None:  # as Dask's own column projection plans a read of other columns
        frame = new_collection(known.substitute_parameters({"columns": read}))
    else:
        frame = dd.read_parquet(
            paths,
            columns=read,
            filters=None if gpu else groups,
            index=False,
            # on the GPU Dask picks cuDF's engine; on CPUs polars decodes most columns
            **({} if gpu else {"engine": PolarsParquetEngine}),
            **grouping,
        )
        if type(frame.expr) is ReadParquetFSSpec:  # Dask's fsspec read (not dask-cudf's)
            frame = new_collection(_SizedRead(*frame.expr.operands))
            _remember(key, frame.expr)
    frame = _loaded(frame, kinds)
    _remember(loaded_key, frame)
    if gpu and groups:
        frame = frame.map_partitions(_filter_rows, groups)[selected]
    return frame


class _SizedRead(ReadParquetFSSpec):
    """Dask's Parquet read, its partitions kept as :func:`read_version` sized them.

    Dask fuses the partitions of a read of a few of a file's columns, a bucket of up to
    (all columns / columns read) of them per task, reckoning them sized for all columns.
    Ours are sized for the columns read already, so that fused them a second time: TPC-H
    q21 read all of lineitem's keys in one task, on one worker, while the other waited.
    """

    @property
    def _fusion_compression_factor(self) -> float:
        return 1


# Reads already planned, by their files (each with its size and modification time), filters
# and partitioning: Dask's read_parquet lists the files, opens a pyarrow dataset over them
# and checksums them for every read (11 % of planning the 22 TPC-H queries), and a hub asks
# of the same tables again and again. With the columns read and their elements' kinds, the
# frame in the engine's dtypes (Dask works out the meta of each cast: another 7 %). Planning
# may run in several threads (the service).
_READS: OrderedDict[tuple[Any, ...], _SizedRead | dd.DataFrame] = OrderedDict()
_READS_KEPT = 256
_READS_LOCK = threading.Lock()


def _read_key(paths: list[str], groups: Any, grouping: dict[str, Any]) -> tuple[Any, ...]:
    files = tuple((path, (stat := os.stat(path)).st_mtime_ns, stat.st_size) for path in paths)
    return files, repr(groups), tuple(sorted(grouping.items()))


def _known(key: tuple[Any, ...] | None) -> Any:
    with _READS_LOCK:
        known = _READS.get(key) if key is not None else None
        if known is not None:
            _READS.move_to_end(key)
        return known


def _remember(key: tuple[Any, ...] | None, value: _SizedRead | dd.DataFrame) -> None:
    if key is None:
        return
    with _READS_LOCK:
        _READS[key] = value
        while len(_READS) > _READS_KEPT:
            _READS.popitem(last=False)


def _kinds(entry: TableEntry, columns: Sequence[str]) -> dict[str, str]:
    """The element kind of each of ``columns`` mapped to an element."""
    return {name: ELEMENTS[entry.column(name).element].kind for name in columns
            if entry.column(name).element}


def _loaded(frame: dd.DataFrame, kinds: dict[str, str]) -> dd.DataFrame:
    """``frame`` in the engine's dtypes, the columns of ``kinds`` in their elements' types."""
    return to_elements(engine_dtypes(frame), kinds)


def check_files(table: str, schema: pa.Schema, files: Sequence[DataFile],
                columns: Sequence[str]) -> None:
    """Raise DataError unless every file holds ``columns`` with the table's stored types."""
    for file in files:
        stored = read_footer(table, file.path).schema
        for column in columns:
            index = stored.get_field_index(column)
            if index < 0:
                raise DataError(f"table {table!r}: file {str(file.path)!r} lacks column "
                                f"{column!r}")
            expected = schema.field(column).type
            found = stored.field(index).type
            # Strings and dates load alike however they are stored; other types must agree.
            kind = kind_of(found)
            if found != expected and (kind is None or kind != kind_of(expected)):
                raise DataError(f"table {table!r}: file {str(file.path)!r}: column {column!r} "
                                f"is stored as {found}, the table's schema says {expected}")


def memory_bytes(table: str, files: Sequence[DataFile], columns: Sequence[str]) -> int:
    """Estimated bytes in memory of ``columns`` of ``files``, from the footers: each column
    chunk's uncompressed size, but at least its rows times a width by type (a dictionary-
    encoded string column is small on disk and large in memory)."""
    total = 0
    for file in files:
        metadata = read_footer(table, file.path).metadata
        names = [metadata.schema.column(i).name for i in range(metadata.num_columns)]
        wanted = [names.index(column) for column in columns if column in names]
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in wanted:
                chunk = row_group.column(index)
                width = 32 if chunk.physical_type == "BYTE_ARRAY" else 8
                total += max(chunk.total_uncompressed_size, row_group.num_rows * width)
    return total


def kind_of(stored: pa.DataType) -> str | None:
    """The kind a stored type loads as where several stored types load alike (strings,
    dates), else None."""
    if pa.types.is_string(stored) or pa.types.is_large_string(stored) or \
            pa.types.is_string_view(stored):
        return "string"
    if pa.types.is_date(stored):
        return "date"
    return None


def to_elements(frame: dd.DataFrame, kinds: dict[str, str]) -> dd.DataFrame:
    """Cast the columns mapped to elements (``kinds``: column -> the element's kind) to the
    element's type, after :func:`engine_dtypes` made strings, dates and decimals uniform."""
    cast = {}
    for name, kind in kinds.items():
        dtype = frame.dtypes[name]
        target = STRING_DTYPE if kind == "string" else DATE_DTYPE if kind == "date" \
            else np.dtype(kind)
        if dtype != target:
            cast[name] = target
    return frame.astype(cast) if cast else frame


def _grouping(sizes: Sequence[int], files: int, partitions: int | None, gpu: bool
              ) -> dict[str, Any]:
    """read_parquet options that read ``files`` files, of row groups of ``sizes`` bytes in
    file order, into ``partitions`` partitions or fewer, as even as neighbouring row groups
    make them.

    Dask packs neighbouring row groups, across files, into partitions of up to ``blocksize``
    bytes (uncompressed, from the footers), each next one while it fits. The least blocksize
    that makes no more than ``partitions`` of them makes the largest as small as it can be:
    lineitem at TPC-H SF 1 in seven files of tpchgen-cli's row groups (eight a file) reads
    into two partitions of 28 row groups, where whole files would make 4 against 3 (a
    worker idle an eighth of the read). dask-cudf takes ``blocksize`` alone
    (``split_row_groups`` is deprecated there, ``aggregate_files`` obsolete) and, without
    one, merges files up to 1/32 of the device: None keeps one partition per file.
    """
    if partitions is None or (partitions >= files and len(sizes) == files):
        return {"blocksize": None} if gpu else {}
    low, high = max(sizes), sum(sizes)
    while low < high:  # the least blocksize packing into no more than ``partitions``
        middle = (low + high) // 2
        low, high = (low, middle) if _packed(sizes, middle) <= partitions else (middle + 1, high)
    if gpu:
        return {"blocksize": low}
    return {"split_row_groups": "adaptive", "aggregate_files": True, "blocksize": low}


def _packed(sizes: Sequence[int], blocksize: int) -> int:
    """How many partitions Dask's packing (``aggregate_row_groups``) makes of row groups of
    ``sizes`` bytes, in order, with ``blocksize``."""
    count, filled = 1, 0
    for size in sizes:
        if filled and filled + size > blocksize:
            count, filled = count + 1, size
        else:
            filled += size
    return count


def _filter_rows(part, groups: list[list[Filter]]):
    """The rows of ``part`` matching the DNF ``groups`` (dates compared as Timestamps)."""
    keep = None
    for group in groups:
        matches = None
        for column, op, value in group:
            term = _compare(part[column], op, value)
            matches = term if matches is None else matches & term
        keep = matches if keep is None else keep | matches
    return part[keep.fillna(False)]


def _compare(values, op: str, value: Any):
    def scalar(v: Any) -> Any:
        return pd.Timestamp(v) if isinstance(v, dt.date) else v

    if op == "in":
        return values.isin([scalar(v) for v in value])
    if op == "not in":
        return ~values.isin([scalar(v) for v in value])
    compare = {"==": "eq", "=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
    return getattr(values, compare[op])(scalar(value))


def _may_match(file: DataFile, groups: list[list[Filter]]) -> bool:
    """Whether the file's min/max statistics leave room for a row matching ``groups`` (DNF)."""
    return any(all(_term_may_match(file, term) for term in group) for group in groups)


def _term_may_match(file: DataFile, term: Filter) -> bool:
    column, op, value = term
    test = _MAY_MATCH.get(op)
    if test is None or column not in file.minimum or column not in file.maximum:
        return True
    low, high = file.minimum[column], file.maximum[column]
    if isinstance(low, dt.datetime) and not isinstance(value, dt.datetime):
        return True  # a timestamp statistic against a date: do not guess
    try:
        return bool(test(low, high, value))
    except TypeError:
        return True


def _normalise_filters(entry: TableEntry, schema: pa.Schema,
                       filters: Filters) -> list[list[Filter]]:
    """Filters as DNF, unknown columns refused, date values made ``datetime.date``."""
    # A flat list of (column, op, value) terms is one conjunction.
    groups = [filters] if isinstance(filters[0][0], str) else filters
    normalised = []
    for group in groups:
        terms = []
        for column, op, value in group:
            if column not in schema.names:
                raise ParameterError(
                    f"filter on unknown column {column!r} of table {entry.name!r}"
                )
            stored = schema.field(column).type
            if pa.types.is_date(stored):
                value = _as_dates(value)
            elif pa.types.is_timestamp(stored):
                value = _as_timestamps(value, stored.tz)
            terms.append((column, op, value))
        normalised.append(terms)
    return normalised


def _as_dates(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return type(value)(_as_dates(v) for v in value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return pd.Timestamp(value).date()


def _as_timestamps(value: Any, tz: str | None) -> Any:
    if isinstance(value, (list, tuple, set)):
        return type(value)(_as_timestamps(v, tz) for v in value)
    stamp = pd.Timestamp(value)
    if tz is not None and stamp.tzinfo is None:
        stamp = stamp.tz_localize(tz)
    return stamp.to_pydatetime()

