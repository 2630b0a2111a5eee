"""Partition-level building blocks the jobs share.

These run on each partition (pandas on CPU workers, cuDF on GPU workers) and use only
operations both libraries have.
"""

from __future__ import annotations

import dask.dataframe as dd
from dask.utils import M

import kernels
from compute.planner import JoinChoice, shape_side

KEY = "rid"  # the packed resident ID: int64, -1 where the ID is invalid
PRESENT = "_present"
KEY_ROW_BYTES = 16  # a side of keys in memory: the int64 key and the int64 marker


def with_resident_key(frame: dd.DataFrame, column: str = "resident_id") -> dd.DataFrame:
    """Add the packed key of ``column`` (resident IDs) as ``rid``."""
    return frame.assign(**{KEY: kernels.pack_resident_id(frame[column])})


def keys_of(frame: dd.DataFrame, column: str = "resident_id") -> dd.DataFrame:
    """The distinct packed keys of ``column``, with a marker column for membership tests."""
    keys = with_resident_key(frame[[column]], column)[[KEY]]
    return keys.drop_duplicates(split_out=True).assign(**{PRESENT: 1})


def flag_membership(
    frame: dd.DataFrame, keys: dd.DataFrame, flag: str, choice: JoinChoice
) -> dd.DataFrame:
    """``frame`` with a boolean column ``flag``: whether its key is among ``keys``.

    ``keys`` comes from :func:`keys_of` (distinct, so no row of ``frame`` is repeated).
    """
    joined = frame.merge(shape_side(keys, choice), on=KEY, how="left")
    return joined.assign(**{flag: joined[PRESENT].notnull()}).drop(columns=PRESENT)


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
