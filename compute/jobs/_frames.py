"""Partition-level building blocks the jobs share.

These run on each partition (pandas on CPU workers, cuDF on GPU workers) and use only
operations both libraries have.
"""

from __future__ import annotations

import dask.dataframe as dd
from dask.dataframe.methods import concat
from dask.utils import M

import kernels
from compute.planner import JoinChoice, split_out

KEY = "rid"  # the packed resident ID: int64, -1 where the ID is invalid
PRESENT = "_present"
KEY_ROW_BYTES = 16  # a side of keys in memory: the int64 key and a marker, padded


def with_resident_key(frame: dd.DataFrame, column: str = "resident_id") -> dd.DataFrame:
    """Add the packed key of ``column`` (resident IDs) as ``rid``."""
    return frame.assign(**{KEY: kernels.pack_resident_id(frame[column])})


def keys_of(
    frame: dd.DataFrame, choice: JoinChoice, column: str = "resident_id"
) -> dd.DataFrame:
    """The distinct packed keys of ``column``: a side for membership tests, shaped as the
    planner chose (one partition to broadcast, else hash-partitioned)."""
    keys = with_resident_key(frame[[column]], column)[[KEY]]
    return keys.drop_duplicates(split_out=split_out(choice))


def join_unique(
    frame: dd.DataFrame, side: dd.DataFrame, choice: JoinChoice, flag: str | None = None
) -> dd.DataFrame:
    """Left-join ``side`` (each key at most once) to ``frame`` on the packed key.

    Adds the side's other columns (null where no key matched) and, when ``flag`` names one,
    a boolean column saying whether a key matched. A broadcast side becomes one partition
    indexed by key and every partition of ``frame`` looks its keys up in it (see
    :func:`_lookup`); otherwise Dask hash-shuffles both sides.

    A broadcast side is computed on its own (it reaches the graph as a Delayed object), so
    it must not derive from ``frame``'s own lineage: that part would be computed twice.
    Join such sides with ``merge``.
    """
    side = side.assign(**{PRESENT: True})
    if choice.strategy == "broadcast":
        indexed = side.repartition(npartitions=1).map_partitions(M.set_index, KEY)
        # As a Delayed object the side is no second ancestor of the result, so Dask keeps
        # treating later column operations as aligned (no alignment shuffle).
        return frame.map_partitions(
            _lookup, indexed.to_delayed()[0], flag,
            meta=_lookup(frame._meta, indexed._meta, flag),
        )
    return frame.merge(side, on=KEY, how="left").map_partitions(_present_as, flag)


def _lookup(part, indexed, flag: str | None):
    """One partition left-joined to the broadcast side, by index lookup.

    The side is one object in the worker's memory, and its index builds its hash table on
    first use and keeps it, so each partition pays only for its own lookups; a merge would
    rebuild the table of the whole side for every partition (5x slower at 1M keys).
    """
    matched = indexed.reindex(part[KEY].to_numpy())
    matched.index = part.index
    joined = part.assign(**{column: matched[column] for column in matched.columns})
    return _present_as(joined, flag)


def _present_as(joined, flag: str | None):
    """The join's marker column as the boolean ``flag`` (or dropped when no flag is wanted)."""
    if flag:
        joined = joined.assign(**{flag: joined[PRESENT].notna()})
    return joined.drop(columns=PRESENT)


def unpivot_flags(part, flags: tuple[str, ...], columns: list[str], label: str):
    """One row per true flag of each row: ``columns`` and ``label`` naming the flag."""
    return concat([part.loc[part[flag], columns].assign(**{label: flag}) for flag in flags])


def province_of(division_code):
    """GB/T 2260: the province code of a division code (PP0000)."""
    return division_code // 10000 * 10000


def prefecture_of(division_code):
    """GB/T 2260: the prefecture code of a division code (PPCC00)."""
    return division_code // 100 * 100


def sorted_small(frame: dd.DataFrame, by: list[str]) -> dd.DataFrame:
    """A small result (an aggregate) as one partition sorted by ``by``.

    Dask's own multi-partition sort samples quantiles first; an aggregate needs none of that.
    """
    return frame.repartition(npartitions=1).map_partitions(M.sort_values, by)
