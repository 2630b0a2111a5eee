"""Broadcast joins whose hash table is built once per worker, not once per partition.

Dask's broadcast merge calls ``merge`` once per partition of the large side, and pandas'
merge hashes the whole small side again on every call: TPC-H q09 at SF 1 hashed the 1.5
million orders once for each of lineitem's partitions. Here the small side, one partition,
is hashed by the first task of each worker that probes it, into a :class:`HashedSide`: its
distinct keys as a pandas Index (pandas builds the Index's hash table on first use and keeps
it with the object) and its rows grouped by key. A worker passes the same side object to all
its tasks, so the others find that HashedSide (:func:`hashed`) and pay only for hashing their
own keys: 20x less than a merge for 45,000 rows against 1.5 million.

cuDF joins on the device, a hash join per call with no Index to keep, so on GPU workers each
partition merges with the side as Dask's broadcast merge did: the same graph, with the
library chosen from the partition's type (:func:`frames.is_cudf`).
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Literal

import dask.dataframe as dd
import numpy as np
import pandas as pd
from pandas.core.sorting import get_group_index_sorter

from compute.sql import frames

# inner: matched pairs; preserve: also each probing row without a match (a LEFT join of the
# probing side); semi / anti: the probing rows with / without a match, once each.
How = Literal["inner", "preserve", "semi", "anti"]


@dataclass
class HashedSide:
    """A join side hashed on its keys: ``rows`` grouped by key, key i's rows at
    ``rows[starts[i]:starts[i] + counts[i]]``, keys in ``keys`` (whose hash table pandas
    keeps once built)."""

    rows: pd.DataFrame
    keys: pd.Index
    starts: np.ndarray
    counts: np.ndarray
    # Integer keys packed into one int64 (a MultiIndex hashes tuples of Python objects):
    # each key's smallest value and its span of values; None when keys are not packed.
    packing: list[tuple[int, int]] | None = None


def broadcast_join(probing: dd.DataFrame, side: dd.DataFrame, probing_keys: list[str],
                   side_keys: list[str], how: How, side_first: bool = False) -> dd.DataFrame:
    """Join every partition of ``probing`` to all of ``side`` (small: it is made one
    partition, which Dask passes whole to every task) on ``probing_keys`` = ``side_keys``.

    Columns: both sides' (the side's first when ``side_first``), as ``merge`` gives them;
    only ``probing``'s for semi and anti. Rows with a NULL key never match; drop them from the
    side first. The sides must not share column names.
    """
    meta = probe(probing._meta, side._meta, probing_keys, side_keys, how, side_first)
    return probing.map_partitions(probe, side.repartition(npartitions=1), probing_keys,
                                  side_keys, how, side_first, meta=meta)


# The sides hashed in this process, by the side object's id and the keys; an entry leaves
# with its side (a worker releases the side when the join's last task is done).
_HASHED: dict[tuple[int, tuple[str, ...]], tuple[weakref.ref, HashedSide]] = {}
_HASHING = threading.Lock()


def hashed(side: pd.DataFrame, keys: list[str]) -> HashedSide:
    """``side`` hashed on ``keys``: made by the first caller, found by the others."""
    key = (id(side), tuple(keys))
    with _HASHING:
        entry = _HASHED.get(key)
        if entry is not None and entry[0]() is side:
            return entry[1]
        made = hash_side(side, keys)
        _HASHED[key] = (weakref.ref(side, lambda _: _HASHED.pop(key, None)), made)
        return made


def hash_side(side: pd.DataFrame, keys: list[str]) -> HashedSide:
    """``side`` hashed on ``keys`` (rows with a NULL key are left out: they match nothing)."""
    nulls = side[keys].isna().any(axis=1)
    if nulls.any():
        side = side[~nulls]
    packing = _packing(side, keys)
    index = _key_index(side, keys, packing)
    # Keys are mostly unique (a dimension's primary key): then the Index itself is the
    # lookup, hashed once by the uniqueness check, and side row i holds key i.
    if built_lookup(index).is_unique:
        return HashedSide(side.reset_index(drop=True), index, np.arange(len(side)),
                          np.ones(len(side), dtype=np.int64), packing)
    codes, distinct = index.factorize()
    counts = np.bincount(np.asarray(codes), minlength=len(distinct))
    built_lookup(distinct)
    # factorize numbers keys by first appearance: the rows sorted by code are in key order.
    # pandas' counting sort (its groupby's): 1.5 million rows, 100,000 keys (TPC-H q13's
    # orders by customer) in 9 ms, where numpy's stable argsort takes 126 ms.
    rows = side.take(get_group_index_sorter(np.asarray(codes, dtype=np.intp), len(distinct)))
    return HashedSide(rows.reset_index(drop=True), distinct, np.cumsum(counts) - counts,
                      counts, packing)


def built_lookup(index: pd.Index) -> pd.Index:
    """``index`` with its hash table built now, before threads share it.

    pandas builds an Index's table on the first lookup and stores it before filling it,
    with the GIL released (``IndexEngine._ensure_mapping_populated``, ``map_locations``
    ``with nogil``): a second thread of the worker looking up at that moment would find
    keys missing. Not a pandas Index (a cuDF one): left as it is.
    """
    # is_unique fills a flat Index's table; a MultiIndex's only a lookup does (unique only)
    if isinstance(index, pd.Index) and len(index) and index.is_unique:
        index.get_indexer(index[:1])
    return index


def probe(part: Any, side: Any, part_keys: list[str], side_keys: list[str],
          how: How, side_first: bool = False) -> Any:
    """One partition joined to the whole ``side`` (see :func:`broadcast_join`)."""
    if frames.is_cudf(part):
        return _merged(part, side, part_keys, side_keys, how, side_first)
    side = hashed(side, side_keys)
    found = side.keys.get_indexer(_key_index(part, part_keys, side.packing))
    matched = found >= 0
    if how in ("semi", "anti"):
        return part[matched == (how == "semi")]
    # An inner join works on the matched rows only: often a small part of the partition.
    rows = np.flatnonzero(matched) if how == "inner" else np.arange(len(part))
    found = found[rows]
    if len(side.keys) == len(side.rows):  # each key once: side row i holds key i
        return _joined(part, rows, side, found, how, side_first)
    # Each probing row repeats once per side row of its key (once, unmatched, to preserve;
    # its -1 picks the last key's count and start, which np.where then discards).
    hit = found >= 0
    counts = np.where(hit, side.counts[found], 1)
    ends = np.cumsum(counts)
    within = np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - counts, counts)
    side_rows = np.repeat(np.where(hit, side.starts[found], -1), counts)
    side_rows = np.where(side_rows >= 0, side_rows + within, -1)
    return _joined(part, np.repeat(rows, counts), side, side_rows, how, side_first)


def _joined(part: pd.DataFrame, rows: np.ndarray, side: HashedSide, side_rows: np.ndarray,
            how: How, side_first: bool) -> pd.DataFrame:
    """``part``'s ``rows`` beside the side's ``side_rows`` (-1: none, NULLs)."""
    probed = part.take(rows).reset_index(drop=True)
    # A row position of -1 is no row of the side's RangeIndex: reindex fills it with NULLs,
    # in the dtypes a merge would give (an int column becomes float64).
    taken = side.rows.take(side_rows) if how == "inner" else side.rows.reindex(side_rows)
    taken = taken.reset_index(drop=True)
    return pd.concat([taken, probed] if side_first else [probed, taken], axis=1)


def _key_index(part: pd.DataFrame, keys: list[str],
               packing: list[tuple[int, int]] | None = None) -> pd.Index:
    """The keys of ``part``'s rows as one Index: packed by ``packing`` (see :func:`_packed`),
    else a column or a MultiIndex."""
    if packing is not None:
        return pd.Index(_packed(part, keys, packing))
    if len(keys) == 1:
        return pd.Index(part[keys[0]])
    return pd.MultiIndex.from_arrays([part[key] for key in keys])


def _packed(part: pd.DataFrame, keys: list[str], packing: list[tuple[int, int]]
            ) -> np.ndarray:
    """``part``'s integer keys packed into one int64 each, in [0, spans' product): a row with
    a key outside its range (or none, see :func:`_integers`) packs to that product, which
    the side never holds."""
    packed = np.zeros(len(part), dtype=np.int64)
    outside = np.zeros(len(part), dtype=bool)
    for key, (low, span) in zip(keys, packing, strict=True):
        offsets = _offsets(part[key], low, span)
        outside |= offsets == span
        packed = packed * span + offsets
    packed[outside] = math.prod(span for _, span in packing)
    return packed


def _offsets(column: pd.Series, low: int, span: int) -> np.ndarray:
    """Each key of ``column`` less ``low``, or ``span`` where that is not in [0, span)."""
    values, valid = _integers(column)
    # Where the subtraction wraps, the value is out of range, and stays so as unsigned: the
    # range is less than 2**62 wide (_packing).
    offsets = np.minimum((values - low).view(np.uint64), np.uint64(span)).view(np.int64)
    if valid is not None:
        offsets[~valid] = span
    return offsets


def _integers(column: pd.Series) -> tuple[np.ndarray, np.ndarray | None]:
    """A key column as int64 values, and where each is an integer key at all (None: all):
    NULL, a float with a fraction, or an integer past int64 is none, and matches nothing.
    Exact: a nullable column's 18-digit keys do not pass through floats."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "i":
        return column.to_numpy().astype(np.int64, copy=False), None
    if pd.api.types.is_integer_dtype(dtype):  # nullable or unsigned
        valid = column.notna().to_numpy()
        values = column.to_numpy(dtype="uint64" if pd.api.types.is_unsigned_integer_dtype(
            dtype) else "int64", na_value=0)
        if values.dtype.kind == "u":
            valid &= values <= np.iinfo(np.int64).max
        return values.astype(np.int64), valid
    values = column.to_numpy(dtype="float64", na_value=np.nan)
    valid = (values == np.floor(values)) & (np.abs(values) < 2.0**63)
    return np.where(valid, values, 0).astype(np.int64), valid


def _packing(side: pd.DataFrame, keys: list[str]) -> list[tuple[int, int]] | None:
    """How to pack several integer keys of ``side`` into one int64, if their ranges fit."""
    columns = [side[key] for key in keys]
    if len(keys) < 2 or not all(isinstance(c.dtype, np.dtype) and c.dtype.kind == "i"
                                for c in columns):
        return None
    if not len(side):
        return [(0, 1)] * len(keys)
    packing, total = [], 1
    for column in columns:
        low, high = int(column.min()), int(column.max())
        packing.append((low, high - low + 1))
        total *= high - low + 1
    return packing if total < 2**62 else None


def _merged(part: Any, side: Any, part_keys: list[str], side_keys: list[str], how: How,
            side_first: bool) -> Any:
    """The cuDF join of one partition to the whole side, by the library's merge."""
    if how in ("semi", "anti"):
        keys = side[side_keys].drop_duplicates()
        return part.merge(keys, left_on=part_keys, right_on=side_keys,
                          how="leftsemi" if how == "semi" else "leftanti")
    if side_first:
        return side.merge(part, left_on=side_keys, right_on=part_keys,
                          how="inner" if how == "inner" else "right")
    return part.merge(side, left_on=part_keys, right_on=side_keys,
                      how="inner" if how == "inner" else "left")
