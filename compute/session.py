"""The Session: a cluster, the catalog of a data directory, and running jobs on them."""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import dask
import dask.dataframe as dd
import pyarrow as pa
from distributed import get_task_stream, progress
from distributed.utils import key_split

import cluster
from compute.exceptions import JobError
from compute.fusion import fused
from compute.jobs.base import Job, SqlParams
from compute.planner import read_partitions
from compute.results import JobResult
from compute.tables import Catalog, Snapshot
from compute.tables.read import Filters

# On Python 3.11 functools.cached_property holds one lock per property for all instances, and
# dask-expr's nested cached properties deadlock when two threads of one process optimise graphs
# at once (fixed in Python 3.12): graphs are optimised and submitted under this lock. Threads
# that build jobs themselves (the hub's service) take it too.
GRAPH_LOCK = threading.RLock()


class Session:
    """A cluster and the catalog of one data directory; runs jobs and returns their results.

    Use :func:`connect` to make one. A context manager: closing it closes the cluster it
    started and only disconnects from a cluster it joined.
    """

    def __init__(
        self, catalog: Catalog, cluster_handle: cluster.Cluster, as_of: Any = None
    ) -> None:
        self.catalog = catalog
        self.cluster = cluster_handle
        self.as_of = as_of
        # Read partitions follow the cluster's threads when the session opens.
        self.threads = max(1, sum(cluster_handle.client.nthreads().values()))

    @property
    def client(self):
        return self.cluster.client

    @property
    def backend(self) -> str:
        return self.cluster.backend

    def snapshot(self, as_of: Any = None, inputs: dict[str, str] | None = None) -> Snapshot:
        """A consistent view of the catalog: each table's version fixed at first use, the
        latest then or the one current at ``as_of`` (default: the session's ``as_of``).
        ``inputs`` maps an element to the table jobs read it from instead of its authority."""
        return Snapshot(self.catalog, as_of if as_of is not None else self.as_of,
                        partitions=self._read_partitions, inputs=inputs)

    def table(
        self,
        name: str,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
        as_of: Any = None,
    ) -> dd.DataFrame:
        """Table ``name`` as a lazy Dask DataFrame, columns and filters pushed into the read.

        The latest version, or the one current at ``as_of``. Neighbouring row groups (of
        one file or of several) are read into one partition when the table has more than
        the cluster needs (see :func:`compute.planner.read_partitions`).
        """
        return self.snapshot(as_of).table(name, columns=columns, filters=filters)

    def sql(self, query: str, as_of: Any = None) -> dd.DataFrame:
        """The lazy result of SQL ``query`` over the catalog's tables (one snapshot)."""
        return self.sql_job(query, as_of).outputs["result"]

    def sql_job(self, query: str, as_of: Any = None) -> Job:
        """``query`` planned like a job: its output ``result``, the snapshot it reads and
        the plan's steps (scans, join strategies); ``explain()`` shows them. Unsupported SQL
        is refused here, before anything runs."""
        from compute.sql import plan

        snapshot = self.snapshot(as_of)
        planned = plan(snapshot, query)
        # Not the result's partitions (EXPLAIN shows them): Dask optimises the whole
        # expression to count them, up to a quarter of a second before anything runs.
        return Job("sql", SqlParams(query), {"result": planned.frame}, snapshot,
                   plan=list(planned.steps))

    def run_sql(self, query: str, as_of: Any = None, show_progress: bool = True) -> JobResult:
        """Compute ``query`` with the progress bar; the result is a job's (``result["result"]``,
        rows, timings, plan, versions read)."""
        return self.run(self.sql_job(query, as_of), show_progress=show_progress)

    def rows(self, name: str) -> int:
        """Rows of the latest version of table ``name``, from the catalog."""
        return self.catalog.table(name).rows

    def _read_partitions(self, row_groups: int, memory_bytes: int) -> int:
        return read_partitions(row_groups, memory_bytes, self.threads)

    def run(self, job: Job, show_progress: bool = True) -> JobResult:
        """Compute a job's outputs on the cluster and return them as pandas DataFrames.

        Shows a progress bar (text in a terminal, a widget in a notebook) and the dashboard
        link. The result records rows read, rows out, and wall time per stage.
        """
        timings: dict[str, float] = {}
        start = time.perf_counter()
        with GRAPH_LOCK:
            frames = [frame.to_backend("pandas") for frame in job.outputs.values()]
        if show_progress:
            print(f"govgrid {job.name}: dashboard {self.cluster.dashboard_link}", flush=True)
        try:
            # The read partitions are sized from the columns' size in memory already;
            # dask-expr's IO fusion would merge them again by column count and make tasks
            # bigger than a worker's memory allows.
            spilled_before = self.client.run(spilled_bytes)
            with get_task_stream(self.client) as stream:
                with GRAPH_LOCK, dask.config.set({"optimization.tune.active": False}):
                    futures = self.client.compute(fused(frames))
                timings["plan"] = time.perf_counter() - start
                if show_progress:
                    progress(futures, multi=False)
                computed = self.client.gather(futures)
        except Exception as exc:
            raise JobError(failure(job.name, job.snapshot, exc)) from exc
        timings["compute"] = time.perf_counter() - start - timings["plan"]
        spilled_after = self.client.run(spilled_bytes)
        outputs = {name: frame.reset_index(drop=True)
                   for name, frame in zip(job.outputs, computed, strict=True)}
        return JobResult(
            job=job.name,
            params=job.params.as_dict(),
            outputs=outputs,
            rows_read=dict(job.rows),
            versions=dict(job.versions),
            timings=timings,
            task_seconds=_seconds_by_task_group(stream.data),
            plan=[str(choice) for choice in job.plan],
            spilled_bytes=_spilled_during(spilled_before, spilled_after),
        )

    def close(self) -> None:
        self.cluster.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Session data={str(self.catalog.root)!r} {self.cluster!r}>"


def connect(
    data: str | os.PathLike[str],
    scheduler: str | None = None,
    backend: str = "auto",
    workers: int | None = None,
    as_of: Any = None,
) -> Session:
    """Open the catalog of ``data`` and start a local cluster, or join ``scheduler``.

    The catalog is read before any cluster starts, so a wrong directory fails at once.
    ``as_of`` (a time) makes every table, job and query read the versions current then.
    """
    catalog = Catalog.load(data)
    if scheduler:
        handle = cluster.connect(scheduler, backend=backend)
    else:
        handle = cluster.start(backend=backend, n_workers=workers)
    return Session(catalog, handle, as_of=as_of)


def failure(job: str, snapshot: Snapshot, exc: Exception) -> str:
    """One line for a failed job: the table and file when the data could not be read."""
    if isinstance(exc, (OSError, pa.ArrowException)):
        found = snapshot.unreadable_file()
        if found:
            table, path, error = found
            return (f"job {job!r} failed: table {table!r}, file {str(path)!r} cannot "
                    f"be read: {error}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"job {job!r} failed: {type(exc).__name__}: {first}"


def spilled_bytes(dask_worker: Any) -> float | None:
    """Bytes this worker's spill buffer has written to disk so far (None: it has none, as a
    GPU worker spilling through cuDF)."""
    metrics = getattr(dask_worker.data, "cumulative_metrics", None)
    return None if metrics is None else metrics.get(("disk-write", "bytes"), 0.0)


def _spilled_during(before: dict[str, float | None], after: dict[str, float | None]) -> int | None:
    """Bytes the workers spilled between two readings (a worker restarted meanwhile has a new
    address, so it counts from zero)."""
    spilled = [max(value - (before.get(worker) or 0.0), 0.0)
               for worker, value in after.items() if value is not None]
    return int(sum(spilled)) if spilled else None


def _seconds_by_task_group(tasks: list[dict[str, Any]]) -> dict[str, float]:
    """Busy seconds per task group (read-parquet, hash-join, ...), summed over workers."""
    seconds: dict[str, float] = defaultdict(float)
    for task in tasks:
        for span in task.get("startstops", ()):
            if span["action"] == "compute":
                seconds[key_split(task["key"])] += span["stop"] - span["start"]
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))
