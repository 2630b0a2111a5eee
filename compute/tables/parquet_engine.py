"""Dask's pyarrow Parquet engine, with the plain columns of whole files or of runs of their
row groups decoded by polars.

pyarrow turns each value of a ``FIXED_LEN_BYTE_ARRAY`` decimal (how ``tpchgen-cli``, Spark
and most writers store money) into a Decimal128 one at a time: about 28 ms per column of an
860,000-row file, ten times what polars takes. Its strings, integers and dates are slower
too: TPC-H's lineitem, every column of one file, took 155 ms with pyarrow (decimals by
polars) and 91 ms with polars. So here polars decodes a file's columns (or a run of its row
groups') of the types in :func:`polars_reads`, cast back to the file's Arrow types (polars
gives strings as ``string_view``), and pyarrow the rest; everything after the read (Dask's
partitions, filters and meta, the engine's dtypes) is as with the plain engine.

CPU workers only: cuDF reads on the device with its own engine.
"""

from __future__ import annotations

import datetime
import operator
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq
from dask.core import flatten
from dask.dataframe.io.parquet.arrow import ArrowDatasetEngine, _filters_to_expression
from fsspec.implementations.local import LocalFileSystem


class PolarsParquetEngine(ArrowDatasetEngine):
    """``dd.read_parquet(engine=PolarsParquetEngine)``: a local file's columns (all its rows, or
    a run of its row groups) of the types polars reads faster and alike
    (:func:`polars_reads`) decoded by polars."""

    @classmethod
    def multi_support(cls) -> bool:
        # Dask reads a partition of several files as one Arrow table, converted to pandas
        # once, only with its own engine class; other engines' partitions are converted file
        # by file and joined by pandas' concat (5 % of the workers' time in TPC-H at SF 1).
        # Tables from _read_table have the dataset's types, so they concatenate.
        return True

    @classmethod
    def read_partition(cls, fs, pieces, *args, **kwargs):
        # Dask gives each row group of a partition as a piece of its own where it pruned
        # row groups by their statistics: read one file's neighbours at once (TPC-H q06,
        # 47 reads of one row group each, is read in 7).
        return super().read_partition(fs, _coalesced(pieces), *args, **kwargs)

    @classmethod
    def _read_table(cls, path_or_frag, fs, row_groups, columns, schema, filters, partitions,
                    partition_keys, **kwargs) -> pa.Table:
        wanted = [c for c in columns if c is not None]
        # a filter may read columns the partition does not keep
        read = wanted + [c for c in _filtered_columns(filters) if c not in wanted]
        by_polars = _polars_columns_of(read, schema)
        # polars reads local files, whole or a run of neighbouring row groups: other row
        # groups, a fragment or another file system go the plain way, as do hive partitions
        # (the catalog writes none).
        rows = None if (not by_polars or isinstance(path_or_frag, pa_ds.Fragment)
                        or partitions or not isinstance(fs, LocalFileSystem)) \
            else _row_range(str(path_or_frag), row_groups)
        if rows is None:
            return _as_dataset(super()._read_table(
                path_or_frag, fs, row_groups, columns, schema, filters, partitions,
                partition_keys, **kwargs), schema)
        others = [c for c in read if c not in by_polars]
        predicate = None if others or not filters else _polars_predicate(filters, schema)
        if predicate is not None:  # polars filters as it decodes: kept rows only to Arrow
            return _as_dataset(_polars_columns(str(path_or_frag), read, rows, predicate)
                               .select(wanted), schema)
        table = super()._read_table(path_or_frag, fs, row_groups, others, schema, None,
                                    partitions, partition_keys, **kwargs) if others else None
        decoded = _polars_columns(str(path_or_frag), by_polars, rows)
        table = _as_dataset(pa.table({name: table[name] if name in others else decoded[name]
                                      for name in read}), schema)
        if not filters:
            return table
        return table.filter(_filters_to_expression(filters)).select(wanted)


def _coalesced(pieces: Any) -> Any:
    """``pieces`` (each ``(path, row groups, partition keys)``) with the row groups of
    consecutive pieces of the same file and keys in one piece."""
    if not isinstance(pieces, list) or any(not isinstance(p, (tuple, list)) for p in pieces):
        return pieces
    merged: list[tuple[Any, list[int | None], Any]] = []
    for path, groups, keys in pieces:
        groups = list(groups) if isinstance(groups, (list, tuple)) else [groups]
        if merged and merged[-1][0] == path and merged[-1][2] == keys \
                and None not in groups and None not in merged[-1][1]:
            merged[-1][1].extend(groups)
        else:
            merged.append((path, groups, keys))
    return merged


def _filtered_columns(filters: list[Any] | None) -> list[str]:
    """The columns DNF ``filters`` (a list of terms, or of lists of them) compare, found as
    Dask's own engine finds them (``_need_filtering``)."""
    return list(dict.fromkeys(term[0] for term in flatten(filters or [], container=list)))


def _as_dataset(table: pa.Table, schema: pa.Schema | None) -> pa.Table:
    """``table`` with the dataset's type for each column: a file may store a string as
    ``large_string`` where the dataset (its first file) says ``string``, and polars gives
    strings as ``large_string``."""
    if schema is None:
        return table
    types = [schema.field(name).type if name in schema.names else field.type
             for name, field in zip(table.column_names, table.schema, strict=True)]
    if types == table.schema.types:
        return table
    return table.cast(pa.schema([field.with_type(kind)
                                 for field, kind in zip(table.schema, types, strict=True)]))


def polars_reads(stored: pa.DataType) -> bool:
    """Whether polars decodes a column stored as ``stored`` (and gives it back, cast, in that
    type): numbers, booleans, dates, decimals and strings. Anything else (dictionaries,
    nested and binary types, times, timestamps) pyarrow reads as Dask would."""
    return (pa.types.is_integer(stored) or pa.types.is_float32(stored)
            or pa.types.is_float64(stored) or pa.types.is_boolean(stored)
            or pa.types.is_date32(stored) or pa.types.is_decimal128(stored)
            or pa.types.is_string(stored) or pa.types.is_large_string(stored))


def _polars_columns_of(columns: list[str], schema: pa.Schema | None) -> list[str]:
    if schema is None:
        return []
    return [c for c in columns if c in schema.names and polars_reads(schema.field(c).type)]


def _row_range(path: str, row_groups: list[int | None] | None) -> slice | None:
    """The rows of ``path`` that ``row_groups`` hold, when they are neighbours (all of them
    included); None when they are not."""
    if row_groups in (None, [None]):
        return slice(None)
    metadata = pq.ParquetFile(path).metadata
    first, last = min(row_groups), max(row_groups)
    if sorted(row_groups) != list(range(first, last + 1)):
        return None
    if first == 0 and last == metadata.num_row_groups - 1:
        return slice(None)
    start = sum(metadata.row_group(i).num_rows for i in range(first))
    return slice(start, start + sum(metadata.row_group(i).num_rows
                                    for i in range(first, last + 1)))


def _polars_predicate(filters: list[Any], schema: pa.Schema | None) -> Any:
    """DNF ``filters`` as a polars expression, or None where a term is not one polars
    compares as pyarrow does: a comparison (``==``, ``<``, ``<=``, ``>``, ``>=``, ``in``) of an
    integer, string, date or boolean column with values of its kind (see
    :func:`_comparable`). A row whose column is NULL fails the term either way."""
    import polars as pl

    if schema is None:
        return None
    conjunctions = filters if isinstance(filters[0], list) else [filters]
    alternatives = []
    for conjunction in conjunctions:
        terms = []
        for column, op, value in conjunction:
            listed = op == "in"
            values = list(value) if listed else [value]  # an empty IN: pyarrow's
            if (op not in _COMPARISONS and not listed) or not values \
                    or column not in schema.names or not all(
                        _comparable(schema.field(column).type, v, listed) for v in values):
                return None
            terms.append(pl.col(column).is_in(values) if listed
                         else _COMPARISONS[op](pl.col(column), pl.lit(value)))
        alternatives.append(pl.all_horizontal(terms))
    return pl.any_horizontal(alternatives)


# Not "!=": Dask's filters keep a row whose column is NULL for it, polars' would not.
_COMPARISONS = {"==": operator.eq, "=": operator.eq, "<": operator.lt, "<=": operator.le,
                ">": operator.gt, ">=": operator.ge}


def _comparable(kind: pa.DataType, value: Any, listed: bool) -> bool:
    """Whether polars compares a column stored as ``kind`` with ``value`` (one of an IN list
    when ``listed``) as pyarrow does. Floats are left to pyarrow (polars orders NaN above
    every number, so NaN > 2 holds there), as are decimals (polars' literal types for them
    differ); polars' IN takes only values of the column's own kind."""
    if pa.types.is_integer(kind):
        return isinstance(value, int if listed else (int, float)) \
            and not isinstance(value, bool)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return isinstance(value, str)
    if pa.types.is_date32(kind):
        return isinstance(value, datetime.date) and not isinstance(value, datetime.datetime)
    if pa.types.is_boolean(kind):
        return isinstance(value, bool)
    return False


def _polars_columns(path: str, columns: list[str], rows: slice,
                    predicate: Any = None) -> pa.Table:
    """``columns`` of the ``rows`` of ``path``, decoded by polars, only the rows where
    ``predicate`` (a polars expression) holds if one is given. A run of row groups is a
    slice of the file's rows: polars decodes only the row groups that hold them (a quarter
    of a lineitem file's four row groups in 7 ms, the whole file in 17 ms)."""
    import polars as pl  # imported in the worker that reads, not by every process

    try:
        scan = pl.scan_parquet(path, parallel="none", hive_partitioning=False).select(columns)
        if rows != slice(None):
            scan = scan.slice(rows.start, rows.stop - rows.start)
        if predicate is not None:
            scan = scan.filter(predicate)
        return scan.collect().to_arrow()
    except pl.exceptions.PolarsError as exc:
        # an OSError, as pyarrow reports an unreadable file: the job's error names the file
        raise OSError(f"{path}: {exc}") from exc
