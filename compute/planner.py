"""Sizes that shape a job's graph: read partitions, and broadcast or hash-shuffle joins.

Pure functions of sizes from the catalog and the cluster, so they are unit-tested and the
jobs can show what they chose. A broadcast side is reduced to one partition that every
partition of the other side joins against (``compute.jobs._frames.join_unique``); a side
too big for that is hash-shuffled with the other by Dask on the packed key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import dask.config
import dask.dataframe as dd
from dask.utils import format_bytes, parse_bytes


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


def read_partitions(files: int, table_bytes: int, threads: int) -> int:
    """How many partitions to read a table of ``files`` files and ``table_bytes`` bytes into.

    One per thread at least, so no worker idles; more only when partitions would exceed
    ``govgrid.read.partition-size``; never more than files. Fewer, larger partitions mean
    fewer tasks, and per-task overhead dominates small tables.
    """
    size = parse_bytes(dask.config.get("govgrid.read.partition-size"))
    wanted = max(threads, math.ceil(table_bytes / size))
    return max(1, min(files, wanted))


def broadcast_limit() -> int:
    """Largest side, in bytes in memory, that is broadcast (``govgrid.join.broadcast-limit``)."""
    return parse_bytes(dask.config.get("govgrid.join.broadcast-limit"))


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
