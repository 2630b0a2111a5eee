"""Sizes that shape a job's graph: read partitions, and broadcast or hash-shuffle joins.

Pure functions of sizes from the catalog and the cluster, so they are unit-tested and the
jobs can show what they chose. A broadcast side is reduced to one partition that every
partition of the other side joins against (``compute.jobs._frames.join_unique``); a side
too big for that is hash-shuffled with the other by Dask on the packed key.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import dask.config
import dask.dataframe as dd
from dask.utils import format_bytes, parse_bytes
from distributed import get_client

from cluster import smallest_memory_limit


@dataclass(frozen=True)
class JoinChoice:
    """What the planner decided for one join and why."""

    name: str
    strategy: str  # "broadcast" or "shuffle"
    estimated_bytes: int
    limit: int

    def __str__(self) -> str:
        relation = "<=" if self.strategy == "broadcast" else ">"
        return (
            f"{self.name}: {self.strategy} "
            f"({format_bytes(self.estimated_bytes)} {relation} {format_bytes(self.limit)})"
        )


# A read partition may take this share of a worker's memory limit, and a broadcast side
# this share: a task holds its input, its output and intermediates at once, and every worker
# holds a broadcast side and its index beside its own partitions.
READ_FRACTION = 1 / 32
BROADCAST_FRACTION = 1 / 8


def read_partitions(row_groups: int, memory_bytes: int, threads: int,
                    limit: int | None = None) -> int:
    """How many partitions to read ``row_groups`` Parquet row groups of ``memory_bytes`` bytes
    in memory into.

    One per thread at least, so no worker idles; more only when partitions would exceed
    ``limit`` (default :func:`partition_limit`); never more than row groups (a partition is
    one row group or more, of one file or of neighbouring files). Fewer, larger partitions
    mean fewer tasks, and per-task overhead dominates small tables.
    """
    limit = partition_limit() if limit is None else limit
    wanted = max(threads, math.ceil(memory_bytes / max(limit, 1)))
    return max(1, min(row_groups, wanted))


# The workers' memory limit as one plan found it: a plan sizes each scan and join by it, and
# each asking is a round trip to the scheduler (ten per TPC-H query).
_PLANNING_MEMORY: ContextVar[tuple[int | None] | None] = ContextVar("memory", default=None)


def worker_memory() -> int | None:
    """The smallest memory limit of the current client's workers (None: no client or no
    limit); inside :func:`one_memory_reading`, as read when it began."""
    known = _PLANNING_MEMORY.get()
    if known is not None:
        return known[0]
    try:
        client = get_client()
    except ValueError:
        return None
    return smallest_memory_limit(client)


@contextmanager
def one_memory_reading() -> Iterator[None]:
    """Within: :func:`worker_memory` asks the scheduler once, for all the sizes of a plan."""
    token = _PLANNING_MEMORY.set((worker_memory(),))
    try:
        yield
    finally:
        _PLANNING_MEMORY.reset(token)


def _bounded(configured: str, fraction: float) -> int:
    limit = parse_bytes(dask.config.get(configured))
    memory = worker_memory()
    return limit if memory is None else min(limit, int(memory * fraction))


def partition_limit() -> int:
    """Largest read partition in memory: ``govgrid.read.partition-size``, at most
    ``READ_FRACTION`` of a worker's memory limit."""
    return _bounded("govgrid.read.partition-size", READ_FRACTION)


def broadcast_limit() -> int:
    """Largest side, in bytes in memory, that is broadcast: ``govgrid.join.broadcast-limit``,
    at most ``BROADCAST_FRACTION`` of a worker's memory limit."""
    return _bounded("govgrid.join.broadcast-limit", BROADCAST_FRACTION)


def choose(name: str, estimated_bytes: int, limit: int | None = None) -> JoinChoice:
    """Broadcast the side of ``estimated_bytes`` when it is at most ``limit`` bytes."""
    limit = broadcast_limit() if limit is None else limit
    strategy = "broadcast" if estimated_bytes <= limit else "shuffle"
    return JoinChoice(name, strategy, int(estimated_bytes), limit)


def split_out(choice: JoinChoice) -> int | bool:
    """Group-by output partitions for a side the planner sized: one when it is broadcast,
    else as many as Dask picks (a shuffle-based group-by for high cardinality, dask #9292)."""
    return 1 if choice.strategy == "broadcast" else True


def shape_side(side: dd.DataFrame, choice: JoinChoice) -> dd.DataFrame:
    """The small side as the planner wants it: one partition when broadcast."""
    return side.repartition(npartitions=1) if choice.strategy == "broadcast" else side
