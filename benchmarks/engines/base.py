"""What a benchmarked engine is: it runs the four jobs and returns pandas outputs."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pandas as pd

import cluster
from compute.jobs import Params

Outputs = dict[str, pd.DataFrame]


class Engine:
    """One engine opened on one data directory; a context manager.

    ``workers`` counts processes doing the work and ``threads`` their threads in total, as
    recorded in the results; single-process engines have one worker with all the threads.
    """

    name: ClassVar[str]
    backend: str = "cpu"
    # Where the time of the last run went, for engines that can tell (govgrid: wall seconds
    # per stage and busy seconds per task group); recorded beside the suite's timings.
    last_run: dict[str, dict[str, float]]

    def __init__(self, data: Path, workers: int, threads: int) -> None:
        self.data = Path(data)
        self.workers = workers
        self.threads = threads
        self.last_run = {}

    def run(self, job: str, params: Params) -> Outputs:
        """Compute one job's outputs, every one a pandas DataFrame.

        Peers define a method per job (``verify``, ``eligibility``, ``integrity``, ``rollup``).
        """
        return getattr(self, job)(params)

    def close(self) -> None:
        """Release what the engine holds (clusters, connections); peers in-process hold none."""
        return None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ClusterEngine(Engine):
    """An engine running on a Dask cluster: a local one it starts, or ``scheduler``'s."""

    def __init__(
        self, data: Path, workers: int, threads_per_worker: int,
        scheduler: str | None = None, backend: str = "cpu",
    ) -> None:
        handle = (
            cluster.connect(scheduler, backend=backend) if scheduler else cluster.start(
                backend=backend, n_workers=workers, threads_per_worker=threads_per_worker,
                dashboard_address=":0",
            )
        )
        info = handle.info()
        super().__init__(data, len(info.workers), info.threads)
        self.cluster = handle
        self.backend = handle.backend

    def close(self) -> None:
        self.cluster.close()
