"""Partition-level building blocks the jobs share.

These run on each partition (pandas on CPU workers, cuDF on GPU workers) and use only
operations both libraries have.
"""

from __future__ import annotations

import dask.dataframe as dd
from dask.dataframe.methods import concat
from dask.utils import M

import kernels
from compute.planner import JoinChoice

KEY = "rid"  # the packed resident ID: int64, -1 where the ID is invalid
PRESENT = "_present"
KEY_ROW_BYTES = 16  # a side of keys in memory: the int64 key and a marker, padded


def with_resident_key(frame: dd.DataFrame, column: str = "resident_id") -> dd.DataFrame:
    """Add the packed key of ``column`` (resident IDs, normalised first) as ``rid``."""
    return frame.assign(**{KEY: kernels.pack_resident_id(frame[column])})


def with_normalised_id(frame, column: str = "resident_id"):
    """Add ``normalised_id``: the ID of ``column`` as the kernels normalise it (an invalid
    one still normalised, null for null). For the rows a job reports, not for joins."""
    return frame.assign(normalised_id=kernels.normalise_resident_id(frame[column]))


# Which row of an authority wins when it holds one ID more than once: the smallest of these
# (those the side has), then of its other columns, so the choice never depends on file order.
# The order puts first what the jobs report, so a job that reports only a prefix of it reads
# only that prefix (see :func:`deciding_elements`).
REGISTRY_ORDER = ("birth_date", "division_code", "sex", "resident_id", "person_name")


def deciding_elements(entry, reported: tuple[str, ...]) -> list[str]:
    """The elements of ``REGISTRY_ORDER`` a job must read to keep the right row per ID when
    it reports only ``reported`` of the registry ``entry``: the order up to the last of them.
    Later elements only choose between rows equal on everything reported."""
    last = max(REGISTRY_ORDER.index(element) for element in reported)
    return [e for e in REGISTRY_ORDER[:last + 1] if entry.column_of(e)]


def by_key(frame: dd.DataFrame, choice: JoinChoice, reduce, *args) -> dd.DataFrame:
    """``reduce(part, *args)`` on the rows of ``frame`` brought together by key, as the
    planner chose: in one partition (to broadcast), or hash-partitioned on the key (every
    row of a key in one partition). The result is a side :func:`join_unique` takes."""
    grouped = frame.repartition(npartitions=1) if choice.strategy == "broadcast" \
        else frame.shuffle(on=KEY)
    return grouped.map_partitions(reduce, *args)


def unique_registry(frame: dd.DataFrame, choice: JoinChoice) -> dd.DataFrame:
    """An authority's rows reduced to one per valid packed key, as a join side.

    Rows with an invalid ID (key -1) are dropped: they match nothing. A key held more than
    once keeps the row with the smallest ``REGISTRY_ORDER`` values (then of the other
    columns), whatever the files' order. ``choice`` sizes the registry's keys.
    """
    frame = frame[frame[KEY] != -1]
    return by_key(frame, choice, _first_per_key, _row_order(frame))


def _row_order(frame: dd.DataFrame) -> list[str]:
    order = [c for c in REGISTRY_ORDER if c in frame.columns]
    return order + [c for c in frame.columns if c not in order and c != KEY]


def repeated_keys(frame: dd.DataFrame, choice: JoinChoice) -> dd.Series:
    """The valid keys of ``frame`` held more than once, as one small partition.

    Keys the planner would broadcast are looked at in one task; more are hash-partitioned
    first, so no task holds more than its share of the keys (and their hash table).
    """
    keys = frame.loc[frame[KEY] != -1, [KEY]]
    if choice.strategy == "broadcast":
        return keys.repartition(npartitions=1).map_partitions(_repeated_keys)
    return keys.shuffle(on=KEY).map_partitions(_repeated_keys).repartition(npartitions=1)


def _repeated_keys(keys):
    """The keys held more than once (all of a key's rows are in this partition)."""
    return keys[KEY][keys[KEY].duplicated(keep=False)].drop_duplicates()


def rows_by_repetition(
    frame: dd.DataFrame, repeated: dd.Series, held_more_than_once: bool, invalid: bool = False
) -> dd.DataFrame:
    """The rows of ``frame`` whose key is (or is not, by ``held_more_than_once``) among
    ``repeated``, and with ``invalid`` also those whose ID is invalid (key -1).

    ``repeated`` is one partition, which Dask hands whole to the task of every partition of
    ``frame``. The rows are chosen inside that task: a filter on a mask computed from the
    broadcast keys would make Dask align mask and frame with a shuffle.
    """
    return frame.map_partitions(_rows_by_repetition, repeated, held_more_than_once, invalid)


def _rows_by_repetition(part, repeated, held_more_than_once: bool, invalid: bool):
    # isin builds one hash set of the few repeated keys: no merge copying every column.
    keep = part[KEY].isin(repeated)
    if not held_more_than_once:
        keep = ~keep
    if invalid:
        keep = keep | (part[KEY] == -1)
    return part[keep]


def _first_per_key(part, order: list[str]):
    # Sorting only the repeated keys: a registry holds few, and a full sort costs a lot.
    repeated = part[KEY].duplicated(keep=False)
    if not repeated.any():
        return part
    firsts = part[repeated].sort_values([KEY, *order], na_position="last").drop_duplicates(KEY)
    return concat([part[~repeated], firsts])


def registry_issues(ids: dd.DataFrame, choice: JoinChoice) -> dd.DataFrame:
    """One row per (resident_id as held, normalised_id) of the registry found in more than
    one registry row or invalid: issue ``duplicate`` or ``invalid_id`` (an invalid ID is only
    that) and ``rows``, the number of registry rows carrying that normalised ID. ``ids``
    holds resident_id and its key; only the repeated keys (:func:`repeated_keys`, sized by
    ``choice``) and the rows they and the invalid IDs flag travel to one task."""
    flagged = rows_by_repetition(ids, repeated_keys(ids, choice), True, invalid=True)
    return flagged.repartition(npartitions=1).map_partitions(_registry_issues)


def _registry_issues(flagged):
    flagged = with_normalised_id(flagged)
    invalid = flagged[KEY] == -1
    # Invalid IDs count by their normalised string (nulls together), valid ones by key.
    group = ("n" + flagged["normalised_id"].fillna("")).where(
        invalid, "k" + flagged[KEY].astype("str"))
    rows = group.map(group.value_counts()).astype("int64")
    issue = invalid.map({True: "invalid_id", False: "duplicate"})
    out = flagged.assign(issue=issue, rows=rows)[["resident_id", "normalised_id", "issue", "rows"]]
    return out.drop_duplicates().sort_values(["issue", "normalised_id", "resident_id"])


def keys_of(
    frame: dd.DataFrame, choice: JoinChoice, column: str = "resident_id"
) -> dd.DataFrame:
    """The distinct packed keys of ``column``: a side for membership tests, shaped as the
    planner chose (one partition to broadcast, else hash-partitioned)."""
    keys = with_resident_key(frame[[column]], column)[[KEY]]
    # An invalid ID (key -1) matches nothing, so it is no member of any side.
    keys = keys[keys[KEY] != -1]
    if choice.strategy == "broadcast":  # a tree reduction: few keys travel to the one task
        return keys.drop_duplicates(split_out=1)
    return by_key(keys, choice, M.drop_duplicates)


def join_unique(
    frame: dd.DataFrame, side: dd.DataFrame, choice: JoinChoice, flag: str | None = None
) -> dd.DataFrame:
    """Left-join ``side`` (each key at most once, made by :func:`by_key` with ``choice``) to
    ``frame`` on the packed key.

    Adds the side's other columns (null where no key matched) and, when ``flag`` names one,
    a boolean column saying whether a key matched. A broadcast side becomes one partition
    indexed by key and every partition of ``frame`` looks its keys up in it (see
    :func:`_lookup`). Otherwise the side is hash-partitioned on the key already, and only
    ``frame`` is shuffled, into as many partitions and by the same hash: its partition i
    meets the side's partition i. A side used by several joins is shuffled once.

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
    records = frame.shuffle(on=KEY, npartitions=side.npartitions)
    return records.map_partitions(
        _lookup_partition, side, flag,
        meta=_lookup(frame._meta, side._meta.set_index(KEY), flag),
    )


def _lookup_partition(part, side_part, flag: str | None):
    """One partition of records left-joined to the side's partition of the same keys."""
    return _lookup(part, side_part.set_index(KEY), flag)


def _lookup(part, indexed, flag: str | None):
    """One partition left-joined to the broadcast side, by index lookup.

    The keys go in as an array where the partition holds them (``.values``: numpy on pandas,
    cupy on cuDF), so device data never visits the host. pandas' index builds its hash
    table on first use and keeps it, so each partition pays only for its own lookups; a
    merge would rebuild the table of the whole side for every partition (5x slower at 1M
    keys). cuDF's reindex joins on the device and keeps the side's dtypes (nulls where no key
    matched), as pandas does up to its NaN upcasts.
    """
    matched = indexed.reindex(part[KEY].values)
    # The same index object on both sides: assign then aligns nothing (on either backend).
    matched.index = part.index
    joined = part.assign(**{column: matched[column] for column in matched.columns})
    return _present_as(joined, flag)


def _present_as(joined, flag: str | None):
    """The join's marker column as the boolean ``flag`` (or dropped when no flag is wanted)."""
    if flag:
        joined = joined.assign(**{flag: joined[PRESENT].notna()})
    return joined.drop(columns=PRESENT)


def known(mask):
    """A comparison's result with missing operands read as False, on pandas and cuDF alike.

    pandas compares NaN, NaT and missing strings as False; cuDF returns null there (it fills
    only in its pandas-compatible mode). Wrap every comparison whose operands can be
    missing: ``known(a > b)``, and ``~known(a == b)`` for "differs" (pandas' ``!=``).
    """
    return mask.fillna(False)


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
