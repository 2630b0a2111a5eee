"""Partition-level building blocks the jobs share.

These run on each partition (pandas on CPU workers, cuDF on GPU workers) and use only
operations both libraries have.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import dask
import dask.dataframe as dd
import numpy as np
from dask.dataframe.methods import concat
from dask.delayed import Delayed
from dask.utils import M
from distributed.collections import LRU

import kernels
from compute.exceptions import JobError
from compute.planner import JoinChoice
from compute.sql.hashjoin import built_lookup

if TYPE_CHECKING:
    from compute.session import Session
    from compute.tables import Snapshot

KEY = "rid"  # the packed resident ID: int64, -1 where the ID is invalid
PRESENT = "_present"
KEY_ROW_BYTES = 16  # a side of keys in memory: the int64 key and a marker, padded


def with_resident_key(frame: dd.DataFrame, column: str = "resident_id") -> dd.DataFrame:
    """Add the packed key of ``column`` (resident IDs, normalised first) as ``rid``."""
    # Inside one function per partition: Dask fuses it into the read's task, where an assign
    # of a column computed from the frame becomes tasks of their own.
    meta = frame._meta.assign(**{KEY: frame._meta[column].astype("int64")})
    return frame.map_partitions(_with_resident_key, column, meta=meta)


def _with_resident_key(part, column: str):
    return part.assign(**{KEY: kernels.pack_resident_id(part[column])})


def valid_rows(frame: dd.DataFrame) -> dd.DataFrame:
    """The rows whose ID is valid (key not -1); fused into the task that makes them."""
    return frame.map_partitions(_valid_rows, meta=frame._meta)


def _valid_rows(part):
    return part[part[KEY] != -1]


def resident_keys(snapshot: Snapshot, table: str) -> dd.DataFrame:
    """``table``'s resident IDs as held, with their packed keys."""
    return with_resident_key(snapshot.elements(table, ["resident_id"]))


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
    return shaped(frame, choice).map_partitions(reduce, *args)


def shaped(frame: dd.DataFrame, choice: JoinChoice) -> dd.DataFrame:
    """``frame`` as a join side the planner chose: one partition to broadcast, else
    hash-partitioned on the key (see :func:`join_unique`)."""
    return frame.repartition(npartitions=1) if choice.strategy == "broadcast" \
        else frame.shuffle(on=KEY)


def unique_rows(frame: dd.DataFrame, repeated) -> dd.DataFrame:
    """An authority's rows reduced to one per valid packed key, in ``frame``'s partitions.

    Rows with an invalid ID (key -1) are dropped: they match nothing. A key held more than
    once keeps the row with the smallest ``REGISTRY_ORDER`` values (then of the other
    columns), whatever the files' order. ``repeated`` holds (at least) every key ``frame``
    holds more than once (see :func:`registry_repeated_keys`): only their rows are brought
    together, into one extra partition; the others stay where they are.
    """
    frame = valid_rows(frame)
    firsts = rows_by_repetition(frame, repeated, True).repartition(npartitions=1)
    return dd.concat([rows_by_repetition(frame, repeated, False),
                      firsts.map_partitions(_first_per_key, _row_order(frame), meta=frame._meta)])


def unique_registry(frame: dd.DataFrame, choice: JoinChoice, repeated) -> dd.DataFrame:
    """:func:`unique_rows` as a join side shaped as ``choice`` says: one partition to
    broadcast, else hash-partitioned on the key (see :func:`join_unique`)."""
    return shaped(unique_rows(frame, repeated), choice)


def _row_order(frame: dd.DataFrame) -> list[str]:
    order = [c for c in REGISTRY_ORDER if c in frame.columns]
    return order + [c for c in frame.columns if c not in order and c != KEY]


# Small results computed once per process (see :func:`computed_once`), by the name of the Dask
# expression that computes them: the name is a hash of the files (of one table version),
# columns and masks read, so a new version, another view or another table has another name.
_COMPUTED: LRU[str, object] = LRU(maxsize=64)
_CACHE_LOCK = threading.Lock()


def computed_once(
    frame: dd.DataFrame | dd.Series, session: Session, snapshot: Snapshot, job: str
):
    """``frame`` (small) computed now on ``session``'s cluster as pandas, or taken from this
    process's earlier computation of the same expression. A failure is a JobError naming
    ``job`` (and the table and file that could not be read)."""

    def compute():
        from compute.session import GRAPH_LOCK, failure  # the session's graph lock, errors

        try:
            with GRAPH_LOCK, dask.config.set({"optimization.tune.active": False}):
                future = session.client.compute(frame.to_backend("pandas"))
            return future.result()
        except Exception as exc:
            raise JobError(failure(job, snapshot, exc)) from exc

    return _remembered(_COMPUTED, frame._name, compute)


def _remembered(cache: LRU, name: str, make):
    """``cache[name]``, made by ``make()`` when absent. Safe from several threads (a
    service's requests): at worst two make the same value."""
    with _CACHE_LOCK:
        if name in cache:
            return cache[name]
    value = make()
    with _CACHE_LOCK:
        cache[name] = value
    return value


def registry_repeated_keys(
    session: Session, snapshot: Snapshot, table: str, choice: JoinChoice, job: str
) -> np.ndarray:
    """The valid keys ``table`` holds more than once, as a small array computed now (for
    ``job``), once per process for the same table version read the same way: a registry
    holds few, and every job of a session reuses them.

    Keys the planner would broadcast are looked at in one task; more are hash-partitioned
    first, so no task holds more than its share of the keys (and their hash table).
    """
    keys = valid_rows(resident_keys(snapshot, table)[[KEY]])
    found = computed_once(by_key(keys, choice, _repeated_keys), session, snapshot, job)
    return np.asarray(found, dtype=np.int64)


def _repeated_keys(keys):
    """The keys held more than once (all of a key's rows are in this partition)."""
    return keys[KEY][keys[KEY].duplicated(keep=False)].drop_duplicates()


def rows_by_repetition(
    frame: dd.DataFrame, repeated, held_more_than_once: bool, invalid: bool = False
) -> dd.DataFrame:
    """The rows of ``frame`` whose key is (or is not, by ``held_more_than_once``) among the
    array ``repeated``, and with ``invalid`` also those whose ID is invalid (key -1). Chosen
    inside each partition's task, which Dask fuses with the task that made the partition."""
    # One task holds the array; every partition's task refers to it (a plain argument would
    # be copied into each of them, megabytes of graph at scale 10).
    keys = dask.delayed(repeated, pure=True)
    return frame.map_partitions(_rows_by_repetition, keys, held_more_than_once, invalid,
                                meta=frame._meta)


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


def registry_issues(
    session: Session, snapshot: Snapshot, table: str, repeated: np.ndarray, job: str
) -> dd.DataFrame:
    """One row per (resident_id as held, normalised_id) of the registry ``table`` found in
    more than one registry row or invalid: issue ``duplicate`` or ``invalid_id`` (an invalid
    ID is only that) and ``rows``, the number of registry rows carrying that normalised ID.

    ``repeated`` holds the keys the table holds more than once (see
    :func:`registry_repeated_keys`); only the rows they and the invalid IDs flag travel to
    one task. Like them, computed once per process for a table version (a small frame).
    """
    ids = resident_keys(snapshot, table)
    flagged = rows_by_repetition(ids, repeated, True, invalid=True)
    issues = flagged.repartition(npartitions=1).map_partitions(_registry_issues)
    return dd.from_pandas(computed_once(issues, session, snapshot, job), npartitions=1)


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
    keys = valid_rows(keys)
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
        indexed = side.repartition(npartitions=1).map_partitions(
            _indexed_by_key, meta=side._meta.set_index(KEY))
        # As a Delayed object the side is no second ancestor of the result, so Dask keeps
        # treating later column operations as aligned (no alignment shuffle).
        return frame.map_partitions(
            _lookup, _delayed(indexed), flag,
            meta=_lookup(frame._meta, indexed._meta, flag),
        )
    records = frame.shuffle(on=KEY, npartitions=side.npartitions)
    return records.map_partitions(
        _lookup_partition, side, flag,
        meta=_lookup(frame._meta, side._meta.set_index(KEY), flag),
    )


# Broadcast sides as Delayed objects, by expression name: optimising a side's graph is the
# dearest part of planning a job, and a side joined to several sources (or by the next job
# of a session over the same versions) has the same name.
_DELAYED: LRU[str, Delayed] = LRU(maxsize=64)


def _delayed(side: dd.DataFrame) -> Delayed:
    """The one-partition ``side`` as a Delayed object, its graph optimised once."""
    return _remembered(_DELAYED, side._name, lambda: side.to_delayed()[0])


def _indexed_by_key(side):
    """The broadcast side indexed by key, its hash table built before the worker's threads
    look keys up in it at once (see :func:`compute.sql.hashjoin.built_lookup`)."""
    indexed = side.set_index(KEY)
    built_lookup(indexed.index)
    return indexed


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
