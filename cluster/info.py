"""What a cluster holds: workers, threads, memory, GPUs, dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from dask.utils import format_bytes
from distributed import Client


@dataclass(frozen=True)
class WorkerInfo:
    address: str
    threads: int
    memory_limit: int
    gpus: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ClusterInfo:
    scheduler: str
    backend: str
    dashboard_link: str | None
    workers: tuple[WorkerInfo, ...]

    @property
    def threads(self) -> int:
        return sum(w.threads for w in self.workers)

    @property
    def memory_limit(self) -> int:
        return sum(w.memory_limit for w in self.workers)

    def render(self) -> str:
        """A short report for a terminal."""
        lines = [
            f"scheduler   {self.scheduler}",
            f"backend     {self.backend}",
            f"dashboard   {self.dashboard_link or '-'}",
            f"workers     {len(self.workers)} ({self.threads} threads, "
            f"{format_bytes(self.memory_limit)} memory)",
        ]
        for w in self.workers:
            gpus = ", ".join(f"{name} {format_bytes(mem)}" for name, mem in w.gpus) or "no GPU"
            lines.append(
                f"  {w.address}  {w.threads} threads  {format_bytes(w.memory_limit)}  {gpus}"
            )
        return "\n".join(lines)


def describe(client: Client, backend: str) -> ClusterInfo:
    """Ask the scheduler and the workers what the cluster holds."""
    from cluster.backend import probe_gpu

    probes = client.run(probe_gpu)
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return ClusterInfo(
        scheduler=client.scheduler.address,
        backend=backend,
        dashboard_link=client.dashboard_link,
        workers=tuple(
            WorkerInfo(addr, w["nthreads"], w["memory_limit"], probes[addr].devices)
            for addr, w in sorted(workers.items())
        ),
    )
