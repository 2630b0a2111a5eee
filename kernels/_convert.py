"""Input and output kinds: pandas, pyarrow, cuDF and Dask columns in, the same kind out.

A public kernel function is a chunk function (buffers or key arrays of one chunk in, an
:class:`Output` out) mapped over its inputs by :func:`map_strings` or :func:`map_keys`:

- pandas Series (Arrow-backed, or object dtype, converted) -> Series / DataFrame, same index;
- pyarrow Array -> Array / Table; ChunkedArray -> ChunkedArray / Table, chunk by chunk;
- numpy key arrays -> pyarrow; cupy key arrays and cuDF Series -> cuDF;
- Dask Series -> the same function over each partition, lazily, with ``meta`` from the
  function applied to the empty ``_meta`` partition (pandas or cuDF alike).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from dask import is_dask_collection

from kernels import _buffers


@dataclass(frozen=True)
class FixedStrings:
    """A column of fixed-width strings: a rows x width byte matrix and its offsets."""

    matrix: Any
    offsets: Any


@dataclass(frozen=True)
class Output:
    """One chunk's result: equally long columns of host or device arrays.

    ``valid`` marks the non-null rows of every column (None: the columns have no nulls,
    and pandas gets numpy dtypes); ``arrow_types`` names a type to view a column as
    (date32 over int32 days); ``frame`` makes a DataFrame / Table even of one column.
    """

    columns: dict[str, Any]
    valid: Any = None
    arrow_types: dict[str, pa.DataType] = field(default_factory=dict)
    frame: bool = False


def map_strings(chunk: Callable[..., Output], *columns: Any) -> Any:
    """Apply ``chunk`` to the string buffers of ``columns``, chunk by chunk, in their kind."""
    return _map(chunk, columns, strings=True)


def map_keys(chunk: Callable[..., Output], *columns: Any) -> Any:
    """Apply ``chunk`` to integer key columns (nulls read as -1), chunk by chunk."""
    return _map(chunk, columns, strings=False)


def _map(chunk: Callable[..., Output], columns: Sequence[Any], strings: bool) -> Any:
    first = columns[0]
    if is_dask_collection(first):
        # The result of the function on the empty partition is the meta, in its backend.
        meta = _map(chunk, [column._meta for column in columns], strings)
        return first.map_partitions(
            partial(_map_partition, chunk, strings), *columns[1:], meta=meta
        )
    kind = _kind(first)
    if kind == "cudf":
        read = _buffers.cudf_buffers if strings else _cudf_keys
        return _to_cudf(chunk(*(read(column) for column in columns)), like=first)
    if kind == "cupy":
        return _to_cudf(chunk(*(column.astype(np.int64) for column in columns)))
    chunked = [_to_arrow(column, strings) for column in columns]
    outputs = [
        chunk(*(_host_input(part, strings) for part in parts)) for parts in _aligned(chunked)
    ]
    tables = [_arrow_columns(output) for output in outputs]
    names = list(outputs[0].columns) if outputs else []
    if kind == "pandas":
        return _to_pandas(tables, outputs[0], first)
    if kind == "chunked":
        arrays = {name: pa.chunked_array([t[name] for t in tables]) for name in names}
    else:
        arrays = tables[0]
    if outputs[0].frame:
        return pa.table(arrays)
    return arrays[names[0]]


def _map_partition(chunk: Callable[..., Output], strings: bool, *partitions: Any) -> Any:
    return _map(chunk, partitions, strings)


def _kind(value: Any) -> str:
    if isinstance(value, pd.Series):
        return "pandas"
    if isinstance(value, pa.ChunkedArray):
        return "chunked"
    if isinstance(value, pa.Array):
        return "arrow"
    if isinstance(value, np.ndarray):
        return "numpy"
    module = type(value).__module__.partition(".")[0]
    if module in ("cudf", "cupy"):
        return module
    raise TypeError(
        "expected a pandas, pyarrow, cuDF or Dask Series (or numpy / cupy keys), "
        f"not {type(value).__name__}"
    )


def _to_arrow(column: Any, strings: bool) -> pa.ChunkedArray:
    if isinstance(column, pa.ChunkedArray):
        return column
    if isinstance(column, pa.Array):
        return pa.chunked_array([column])
    if isinstance(column, pd.Series):
        if hasattr(column.array, "__arrow_array__"):
            return pa.chunked_array(column.array.__arrow_array__())
        if strings:
            return pa.chunked_array([pa.array(column, type=pa.large_string(), from_pandas=True)])
        return pa.chunked_array([column.to_numpy(dtype=np.int64, na_value=-1)])
    return pa.chunked_array([pa.array(np.asarray(column, dtype=np.int64))])


def _aligned(columns: Sequence[pa.ChunkedArray]) -> list[tuple[pa.Array, ...]]:
    """Chunks of equal length across ``columns``; rechunked only when their layouts differ."""
    if len({len(column) for column in columns}) > 1:
        raise ValueError(f"columns differ in length: {[len(c) for c in columns]}")
    layouts = {tuple(len(chunk) for chunk in column.chunks) for column in columns}
    if len(layouts) > 1 or not columns[0].num_chunks:
        columns = [pa.chunked_array([column.combine_chunks()]) for column in columns]
    return list(zip(*(column.chunks for column in columns), strict=True))


def _host_input(array: pa.Array, strings: bool) -> Any:
    if strings:
        return _buffers.arrow_buffers(array)
    if array.type != pa.int64():
        array = array.cast(pa.int64())
    if array.null_count:
        array = pc.fill_null(array, -1)
    return array.to_numpy(zero_copy_only=False)


def _arrow_columns(output: Output) -> dict[str, pa.Array]:
    valid = output.valid
    bitmap = None
    if valid is not None and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    arrays = {}
    for name, values in output.columns.items():
        if isinstance(values, FixedStrings):
            arrays[name] = _buffers.arrow_strings(values.matrix, values.offsets, valid)
            continue
        kind = output.arrow_types.get(name, pa.from_numpy_dtype(values.dtype))
        arrays[name] = pa.Array.from_buffers(kind, len(values), [bitmap, pa.py_buffer(values)])
    return arrays


def _to_pandas(tables: list[dict[str, pa.Array]], output: Output, like: pd.Series) -> Any:
    series = {}
    for name in output.columns:
        values = pa.chunked_array([table[name] for table in tables])
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            series[name] = pd.Series(values, dtype="str", index=like.index)
        elif output.valid is not None:
            series[name] = pd.Series(values, dtype=pd.ArrowDtype(values.type), index=like.index)
        else:
            series[name] = pd.Series(values.to_numpy(), index=like.index)
    if output.frame:
        return pd.DataFrame(series, index=like.index)
    return series[next(iter(output.columns))].rename(like.name)


def _cudf_keys(series: Any) -> Any:
    return series.fillna(-1).astype(np.int64).values


def _to_cudf(output: Output, like: Any = None) -> Any:
    """``output`` as a cuDF Series / DataFrame on the device, with the index and name of
    ``like`` (a cuDF Series) as pandas keeps them; cupy inputs (``like`` None) get 0..n-1."""
    import cudf
    import cupy

    valid = None if output.valid is None else cupy.asarray(output.valid)
    # Every column is built on a 0..n-1 index first: cuDF's mask() aligns its condition by
    # label, so the input's index (possibly non-unique) is attached once, at the end.
    nulls = None if valid is None else cudf.Series(~valid)
    columns = {}
    for name, values in output.columns.items():
        if isinstance(values, FixedStrings):
            columns[name] = _buffers.cudf_strings(values.matrix, values.offsets, valid)
            continue
        column = cudf.Series(cupy.asarray(values))
        if pa.types.is_date32(output.arrow_types.get(name, pa.null())):
            column = (column.astype(np.int64) * 86_400).astype("datetime64[s]")
        columns[name] = column if nulls is None else column.mask(nulls)
    result = cudf.DataFrame(columns) if output.frame else next(iter(columns.values()))
    if like is not None:
        result.index = like.index
        if not output.frame:
            result.name = like.name
    return result
