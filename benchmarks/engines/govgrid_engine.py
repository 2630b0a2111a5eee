"""govgrid: the jobs of ``compute.jobs`` on a Session, as a user runs them."""

from __future__ import annotations

from benchmarks.engines.base import ClusterEngine, Outputs
from compute.jobs import JOBS, Params
from compute.session import Session
from compute.tables import Catalog


class GovgridEngine(ClusterEngine):
    name = "govgrid"

    def __init__(self, data, workers: int, threads_per_worker: int,
                 scheduler: str | None = None, backend: str = "auto") -> None:
        super().__init__(data, workers, threads_per_worker, scheduler=scheduler, backend=backend)
        self.session = Session(Catalog.load(self.data), self.cluster)

    def run(self, job: str, params: Params) -> Outputs:
        built = JOBS[job].build(self.session, params)
        result = self.session.run(built, show_progress=False)
        self.last_run = {"stage_seconds": result.timings, "task_seconds": result.task_seconds}
        return result.outputs
