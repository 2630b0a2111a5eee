"""The Session: a cluster, the catalog of a data directory, and running jobs on them."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import dask.dataframe as dd
from distributed import get_task_stream, progress
from distributed.utils import key_split

import cluster
from compute.exceptions import JobError
from compute.jobs.base import Job
from compute.planner import read_partitions
from compute.results import JobResult
from compute.tables import Catalog, contract_table, read_table
from compute.tables.read import Filters

# Coarse in-memory widths of a value, for the planner's size estimates.
VALUE_BYTES = {"string": 32, "date": 8, "int8": 1, "int16": 2, "int32": 4, "int64": 8,
               "float64": 8}


class Session:
    """A cluster and the catalog of one data directory; runs jobs and returns their results.

    Use :func:`connect` to make one. A context manager: closing it closes the cluster it
    started and only disconnects from a cluster it joined.
    """

    def __init__(self, catalog: Catalog, cluster_handle: cluster.Cluster) -> None:
        self.catalog = catalog
        self.cluster = cluster_handle
        # Read partitions follow the cluster's threads when the session opens.
        self.threads = max(1, sum(cluster_handle.client.nthreads().values()))

    @property
    def client(self):
        return self.cluster.client

    @property
    def backend(self) -> str:
        return self.cluster.backend

    def table(
        self, name: str, columns: Sequence[str] | None = None, filters: Filters | None = None
    ) -> dd.DataFrame:
        """Table ``name`` as a lazy Dask DataFrame, columns and filters pushed into the read.

        Neighbouring files are read into one partition when the table has more files than the
        cluster needs (see :func:`compute.planner.read_partitions`).
        """
        entry = self.catalog.table(name)
        partitions = read_partitions(len(entry.files), entry.bytes, self.threads)
        return read_table(self.catalog, name, columns=columns, filters=filters,
                          partitions=partitions)

    def rows(self, name: str) -> int:
        """Rows of table ``name``, from the catalog."""
        return self.catalog.table(name).rows

    def estimate_bytes(self, name: str, columns: Sequence[str]) -> int:
        """Rough bytes in memory of ``columns`` of table ``name`` (for the join planner)."""
        contract = contract_table(name)
        width = sum(VALUE_BYTES[contract.column(column).kind] for column in columns)
        return self.rows(name) * width

    def run(self, job: Job, show_progress: bool = True) -> JobResult:
        """Compute a job's outputs on the cluster and return them as pandas DataFrames.

        Shows a progress bar (text in a terminal, a widget in a notebook) and the dashboard
        link. The result records rows read, rows out, and wall time per stage.
        """
        timings: dict[str, float] = {}
        start = time.perf_counter()
        frames = [frame.to_backend("pandas") for frame in job.outputs.values()]
        if show_progress:
            print(f"govgrid {job.name}: dashboard {self.cluster.dashboard_link}", flush=True)
        try:
            with get_task_stream(self.client) as stream:
                futures = self.client.compute(frames)
                timings["plan"] = time.perf_counter() - start
                if show_progress:
                    progress(futures, multi=False)
                computed = self.client.gather(futures)
        except Exception as exc:
            raise JobError(f"job {job.name!r} failed: {type(exc).__name__}: {exc}") from exc
        timings["compute"] = time.perf_counter() - start - timings["plan"]
        outputs = {name: frame.reset_index(drop=True)
                   for name, frame in zip(job.outputs, computed, strict=True)}
        return JobResult(
            job=job.name,
            params=job.params.as_dict(),
            outputs=outputs,
            rows_read={table: self.rows(table) for table in job.tables},
            timings=timings,
            task_seconds=_seconds_by_task_group(stream.data),
            plan=[str(choice) for choice in job.plan],
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
) -> Session:
    """Open the catalog of ``data`` and start a local cluster, or join ``scheduler``.

    The catalog is read before any cluster starts, so a wrong directory fails at once.
    """
    catalog = Catalog.load(data)
    if scheduler:
        handle = cluster.connect(scheduler, backend=backend)
    else:
        handle = cluster.start(backend=backend, n_workers=workers)
    return Session(catalog, handle)


def _seconds_by_task_group(tasks: list[dict[str, Any]]) -> dict[str, float]:
    """Busy seconds per task group (read-parquet, hash-join, ...), summed over workers."""
    seconds: dict[str, float] = defaultdict(float)
    for task in tasks:
        for span in task.get("startstops", ()):
            if span["action"] == "compute":
                seconds[key_split(task["key"])] += span["stop"] - span["start"]
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))
