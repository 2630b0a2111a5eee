"""Dask's pyarrow Parquet engine, with a whole file's plain columns decoded by polars.

pyarrow turns each value of a ``FIXED_LEN_BYTE_ARRAY`` decimal (how ``tpchgen-cli``, Spark
and most writers store money) into a Decimal128 one at a time: about 28 ms per column of an
860,000-row file, ten times what polars takes. Its strings, integers and dates are slower
too: TPC-H's lineitem, every column of one file, took 155 ms with pyarrow (decimals by
polars) and 91 ms with polars. So here polars decodes a file's columns of the types in
:func:`polars_reads`, cast back to the file's Arrow types (polars gives strings as
``string_view``), and pyarrow the rest; everything after the read (Dask's partitions,
filters and meta, the engine's dtypes) is as with the plain engine.

CPU workers only: cuDF reads on the device with its own engine.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq
from dask.core import flatten
from dask.dataframe.io.parquet.arrow import ArrowDatasetEngine, _filters_to_expression
from fsspec.implementations.local import LocalFileSystem


class PolarsParquetEngine(ArrowDatasetEngine):
    """``dd.read_parquet(engine=PolarsParquetEngine)``: a whole local file's columns of the
    types polars reads faster and alike (:func:`polars_reads`) decoded by polars."""

    @classmethod
    def multi_support(cls) -> bool:
        # Dask reads a partition of several files as one Arrow table, converted to pandas
        # once, only with its own engine class; other engines' partitions are converted file
        # by file and joined by pandas' concat (5 % of the workers' time in TPC-H at SF 1).
        # Tables from _read_table have the dataset's types, so they concatenate.
        return True

    @classmethod
    def _read_table(cls, path_or_frag, fs, row_groups, columns, schema, filters, partitions,
                    partition_keys, **kwargs) -> pa.Table:
        wanted = [c for c in columns if c is not None]
        # a filter may read columns the partition does not keep
        read = wanted + [c for c in _filtered_columns(filters) if c not in wanted]
        by_polars = _polars_columns_of(read, schema)
        # polars reads whole local files: a subset of the row groups, a fragment or another
        # file system goes the plain way, as do hive partitions (the catalog writes none).
        if (not by_polars or isinstance(path_or_frag, pa_ds.Fragment) or partitions
                or not isinstance(fs, LocalFileSystem)
                or not _whole_file(str(path_or_frag), row_groups)):
            return _as_dataset(super()._read_table(
                path_or_frag, fs, row_groups, columns, schema, filters, partitions,
                partition_keys, **kwargs), schema)
        others = [c for c in read if c not in by_polars]
        table = super()._read_table(path_or_frag, fs, row_groups, others, schema, None,
                                    partitions, partition_keys, **kwargs) if others else None
        decoded = _polars_columns(str(path_or_frag), by_polars)
        table = _as_dataset(pa.table({name: table[name] if name in others else decoded[name]
                                      for name in read}), schema)
        if not filters:
            return table
        return table.filter(_filters_to_expression(filters)).select(wanted)


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


def _whole_file(path: str, row_groups: list[int | None] | None) -> bool:
    if row_groups in (None, [None]):
        return True
    return sorted(row_groups) == list(range(pq.ParquetFile(path).metadata.num_row_groups))


def _polars_columns(path: str, columns: list[str]) -> pa.Table:
    import polars as pl  # imported in the worker that reads, not by every process

    try:
        return pl.read_parquet(path, columns=columns, parallel="none",
                               hive_partitioning=False).to_arrow()
    except pl.exceptions.PolarsError as exc:
        # an OSError, as pyarrow reports an unreadable file: the job's error names the file
        raise OSError(f"{path}: {exc}") from exc
