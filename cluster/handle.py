"""Start a local cluster or join a running one; either way get a :class:`Cluster` handle."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
from pathlib import Path
from typing import Any

import dask.config
import dask.utils
from distributed import Client, LocalCluster, WorkerPlugin

from cluster import backend as backends
from cluster.allocator import UNTRIMMED_MALLOC, TrimWhenFull
from cluster.exceptions import ClusterError, ClusterUnreachable
from cluster.info import ClusterInfo, describe
from cluster.settings import ClusterSettings


class Cluster:
    """A Dask client with the backend it runs on.

    Use as a context manager; closing it shuts down what :func:`start` started and only
    disconnects from what :func:`connect` joined.
    """

    def __init__(self, client: Client, backend: str, owned: LocalCluster | None) -> None:
        self.client = client
        self.backend = backend
        self._owned = owned

    @property
    def dashboard_link(self) -> str | None:
        return self.client.dashboard_link

    @property
    def owns_cluster(self) -> bool:
        return self._owned is not None

    def info(self) -> ClusterInfo:
        """Workers, threads, memory and GPUs, as the scheduler reports them."""
        return describe(self.client, self.backend)

    def close(self) -> None:
        self.client.close()
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "local" if self.owns_cluster else "joined"
        return f"<Cluster {kind} backend={self.backend} scheduler={self.client.scheduler.address}>"


def start(
    backend: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | int | float | None = None,
    dashboard_address: str | None = None,
    **cluster_kwargs: Any,
) -> Cluster:
    """Start a local cluster of worker processes and connect a client to it.

    CPU: :class:`distributed.LocalCluster`. GPU: :class:`dask_cuda.LocalCUDACluster`, one
    worker per GPU, with an RMM pool and cuDF's native spilling. Unset arguments come from
    ``govgrid.cluster`` in Dask's config; ``cluster_kwargs`` go to the cluster class.
    """
    _refuse_in_spawned_import()
    settings = ClusterSettings.from_config(
        backend=backend, n_workers=n_workers,
        threads_per_worker=threads_per_worker, memory_limit=memory_limit,
        dashboard_address=dashboard_address,
    )
    resolved = backends.resolve(settings.backend)
    common = dict(
        n_workers=settings.n_workers,
        memory_limit=settings.memory_limit,
        dashboard_address=settings.dashboard_address,
    )
    # Dask's default bandwidth (100 MB/s) suits a network; between processes of one machine a
    # broadcast side moves fast, and the lower figure keeps every task needing it on one worker.
    # Dask's default saturation (1.1) gives a worker of one thread two tasks at once (it
    # rounds up): a job's two big reads then queue on one worker while the other idles.
    with dask.config.set({"distributed.scheduler.bandwidth": settings.local_bandwidth,
                          "distributed.scheduler.worker-saturation":
                              settings.local_worker_saturation,
                          **p2p_buffers(settings.memory_limit), **UNTRIMMED_MALLOC}):
        local = _local_cluster(resolved, settings, common, cluster_kwargs)
    # The in-process scheduler logs every p2p shuffle's start and end at WARNING level.
    logging.getLogger("distributed.shuffle._scheduler_plugin").setLevel(logging.ERROR)
    _no_class_wide_divisions_lock()
    handle = Cluster(Client(local), resolved, owned=local)
    try:
        # A failed task's traceback goes to the log file; the user reads one line.
        handle.client.register_plugin(LogToFile(settings.worker_log))
        handle.client.register_plugin(TrimWhenFull())
        backends.prepare_workers(handle.client, resolved)
    except BaseException:
        handle.close()
        raise
    backends.activate(resolved, smallest_memory_limit(handle.client))
    return handle


def _no_class_wide_divisions_lock() -> None:
    """Let Dask compute a sort's divisions on this process's scheduler without deadlocking.

    Python 3.11's ``functools.cached_property`` holds one lock per property for all its
    instances (CPython gh-87634; 3.12 has no lock). dask-expr computes a distributed sort's
    divisions inside ``Expr.divisions``, through the client; the scheduler started here, in
    this process, materialises that graph in a thread of its own, which needs
    ``Expr.divisions`` of other expressions and waits for the lock for ever (an ORDER BY
    sorted across partitions after a shuffled join hung). The lock is dropped, as 3.12 did:
    at worst two threads compute one expression's divisions twice.
    """
    if sys.version_info < (3, 12):
        from dask.dataframe.dask_expr._expr import Expr

        Expr.__dict__["divisions"].lock = contextlib.nullcontext()


def smallest_memory_limit(client: Client) -> int | None:
    """The smallest memory limit among the client's workers (None: none has one)."""
    limits = [w.get("memory_limit") or 0 for w in client.scheduler_info()["workers"].values()]
    return min((limit for limit in limits if limit > 0), default=None)


def p2p_buffers(memory_limit: str | int | float | None) -> dict[str, int | str]:
    """Dask config bounding a worker's P2P shuffle buffers by its memory limit.

    distributed buffers up to 1 GiB of outgoing shards per worker (``p2p.comm.buffer``) and
    100 MiB on the way to disk: with a 1 GiB worker one shuffle alone would kill it. An eighth
    and a sixteenth of the limit leave room for the tasks. Nothing changes without a set limit.
    """
    if memory_limit in (None, "auto", 0):
        return {}
    limit = dask.utils.parse_bytes(memory_limit) if isinstance(memory_limit, str) \
        else int(memory_limit)
    return {
        "distributed.p2p.comm.buffer": min(dask.utils.parse_bytes("1GiB"), limit // 8),
        "distributed.p2p.storage.buffer": min(dask.utils.parse_bytes("100MiB"), limit // 16),
        # Arrow's own allocator keeps freed memory for reuse, which the nanny counts against
        # the limit; the system allocator (glibc, which trims a heap's free top) gives it back.
        "distributed.nanny.pre-spawn-environ.ARROW_DEFAULT_MEMORY_POOL": "system",
    }


class LogToFile(WorkerPlugin):
    """Send what Dask logs in a local cluster's worker processes (a failed task's traceback
    included) to the file ``path`` instead of the terminal the user is reading."""

    name = "govgrid-log-to-file"

    def __init__(self, path: str) -> None:
        self.path = path

    def setup(self, worker: Any) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.path)
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
        for name in ("distributed", "dask"):
            logger = logging.getLogger(name)
            logger.handlers = [handler]
            logger.propagate = False


def _refuse_in_spawned_import() -> None:
    """Raise when called while a new worker process imports the user's script.

    Worker processes start by importing the script that started them (multiprocessing's
    spawn, as ``__mp_main__``). A script that starts a cluster at module level, without an
    ``if __name__ == "__main__":`` guard, would start a cluster inside every worker, and the
    first one then waits forever for its workers.
    """
    # The test multiprocessing itself makes (spawn._check_not_importing_main): the process is
    # still bootstrapping, and the script runs as __mp_main__.
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        script = getattr(sys.modules.get("__mp_main__"), "__file__", "?")
        raise ClusterError(
            f"a worker process started a cluster while importing the script {script!r}: put "
            "the code that starts the cluster (compute.connect, cluster.start) under "
            "'if __name__ == \"__main__\":'"
        )


def _local_cluster(
    resolved: str, settings: ClusterSettings, common: dict[str, Any], cluster_kwargs: dict[str, Any]
) -> LocalCluster:
    if resolved == "gpu":
        from dask_cuda import LocalCUDACluster

        return LocalCUDACluster(
            threads_per_worker=settings.threads_per_worker or 1,
            rmm_pool_size=settings.rmm_pool_size,
            enable_cudf_spill=settings.cudf_spill,
            # cuDF spills its own buffers; a device limit would spill them twice (dask-cuda #1363)
            device_memory_limit=0 if settings.cudf_spill else "default",
            **common, **cluster_kwargs,
        )
    return LocalCluster(
        processes=True,
        threads_per_worker=settings.threads_per_worker,
        **common, **cluster_kwargs,
    )


def connect(address: str, backend: str | None = "auto", timeout: str | None = None) -> Cluster:
    """Join a running scheduler: a ``tcp://`` or ``tls://`` address, or a scheduler file.

    The workers are asked whether they hold usable GPUs; the backend follows them (with
    ``backend="auto"``) or must agree with them. Raises :class:`ClusterUnreachable` when no
    scheduler answers within ``timeout`` (``govgrid.cluster.connect-timeout``).
    """
    settings = ClusterSettings.from_config(backend=backend, connect_timeout=timeout)
    seconds = dask.utils.parse_timedelta(settings.connect_timeout)
    target = {"scheduler_file": address} if os.path.isfile(address) else {"address": address}
    try:
        client = Client(**target, timeout=seconds)
    except (OSError, TimeoutError) as exc:
        raise ClusterUnreachable(
            f"no Dask scheduler answered at {address!r} within {settings.connect_timeout}: {exc}"
        ) from exc
    try:
        try:
            # A cluster that is still starting gets the same time to show a worker.
            client.wait_for_workers(1, timeout=seconds)
        except TimeoutError as exc:
            raise ClusterError(
                f"the scheduler at {address!r} has no workers after {settings.connect_timeout}"
            ) from exc
        probes = list(client.run(backends.probe_gpu).values())
        resolved = backends.resolve_for_workers(settings.backend, probes)
        backends.prepare_workers(client, resolved)
    except BaseException:
        client.close()
        raise
    backends.activate(resolved, smallest_memory_limit(client))
    return Cluster(client, resolved, owned=None)
