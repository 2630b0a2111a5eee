"""The one place that decides between the CPU and the GPU backend.

Everything downstream reads the decision from Dask's config (``dataframe.backend``) or
from :func:`current`; nothing else in govgrid probes for CUDA or imports cuDF to decide.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import dask.config
from distributed import Client, WorkerPlugin

from cluster.exceptions import BackendUnavailable, ClusterError
from cluster.settings import BACKENDS, shuffle_method

DATAFRAME_BACKEND = {"cpu": "pandas", "gpu": "cudf"}
GPU_INSTALL_HINT = "install the GPU extra: pip install 'govgrid[gpu]'"


@dataclass(frozen=True)
class GpuProbe:
    """What this process can see of CUDA: devices (name, bytes) and why it is unusable."""

    devices: tuple[tuple[str, int], ...] = ()
    problem: str | None = None
    libraries: dict[str, str] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.problem is None and bool(self.devices)


def probe_gpu() -> GpuProbe:
    """Look for visible CUDA devices and an importable cuDF stack in this process.

    Runs on the client for local clusters and on every worker for :func:`cluster.connect`.
    """
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        return GpuProbe(problem=f"cupy is not importable ({exc}); {GPU_INSTALL_HINT}")
    try:
        runtime = cupy.cuda.runtime
        devices = tuple(
            (_decode(runtime.getDeviceProperties(i)["name"]),
             int(runtime.getDeviceProperties(i)["totalGlobalMem"]))
            for i in range(runtime.getDeviceCount())
        )
    except Exception as exc:  # cupy raises CUDARuntimeError or driver errors without a device
        return GpuProbe(problem=f"no CUDA device is visible ({exc})")
    if not devices:
        return GpuProbe(problem="no CUDA device is visible (CUDA_VISIBLE_DEVICES empty?)")
    libraries = {}
    for name in ("cudf", "dask_cudf", "dask_cuda", "rmm"):
        try:
            libraries[name] = importlib.import_module(name).__version__
        except ImportError as exc:
            return GpuProbe(devices, f"{name} is not importable ({exc}); {GPU_INSTALL_HINT}")
    return GpuProbe(devices, None, libraries)


def _decode(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name


def resolve(requested: str, probe: GpuProbe | None = None) -> str:
    """Turn "auto" / "cpu" / "gpu" into "cpu" or "gpu".

    "gpu" where the GPU stack is unusable raises :class:`BackendUnavailable` with the reason;
    it never falls back to the CPU. "auto" picks the GPU only when it is usable.
    """
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {requested!r}")
    if requested == "cpu":
        return "cpu"
    probe = probe if probe is not None else probe_gpu()
    if probe.usable:
        return "gpu"
    if requested == "gpu":
        raise BackendUnavailable(f"backend='gpu' was requested but {probe.problem}")
    return "cpu"


def resolve_for_workers(requested: str, probes: list[GpuProbe]) -> str:
    """Like :func:`resolve`, for a joined cluster whose workers reported ``probes``.

    All workers must agree: a cluster with GPUs on some workers only is an error.
    The client itself needs cuDF (to build cuDF graphs) but no device.
    """
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {requested!r}")
    if requested == "cpu":
        return "cpu"
    usable = sum(probe.usable for probe in probes)
    if 0 < usable < len(probes):
        raise ClusterError(
            f"{usable} of {len(probes)} workers have a usable GPU; "
            "govgrid needs every worker of a cluster on one backend"
        )
    if usable == 0:
        if requested == "gpu":
            raise BackendUnavailable(
                f"backend='gpu' was requested but the workers report: {probes[0].problem}"
            )
        return "cpu"
    try:
        importlib.import_module("dask_cudf")
    except ImportError as exc:
        raise BackendUnavailable(
            f"the workers hold GPUs but this client cannot build cuDF graphs ({exc}); "
            f"{GPU_INSTALL_HINT}"
        ) from exc
    return "gpu"


def activate(backend: str, worker_memory: int | None = None) -> None:
    """Make ``backend`` ("cpu" or "gpu") the one Dask uses for new collections, shuffling
    as suits workers of ``worker_memory`` bytes (see :func:`cluster.settings.shuffle_method`)."""
    if backend not in DATAFRAME_BACKEND:
        raise ValueError(f"a resolved backend is 'cpu' or 'gpu', not {backend!r}")
    dask.config.set({
        "dataframe.backend": DATAFRAME_BACKEND[backend],
        "dataframe.shuffle.method": shuffle_method(backend, worker_memory),
        "array.backend": "cupy" if backend == "gpu" else "numpy",
    })


def current() -> str:
    """The backend in force: "gpu" when Dask creates cuDF collections, else "cpu"."""
    return "gpu" if dask.config.get("dataframe.backend") == "cudf" else "cpu"


class RmmAllocators(WorkerPlugin):
    """GPU worker setup: cupy and numba.cuda allocate from RMM, like cuDF.

    dask-cuda gives each worker an RMM pool of most of its device; cupy's and numba's own
    allocators would compete for the rest. dask-cuda's ``rmm_allocator_external_lib_list``
    covers cupy and torch but not numba, so one plugin sets both, on local and joined
    clusters alike. numba picks its memory manager when it creates a CUDA context, so the
    plugin runs before a worker's first kernel (it is registered as the client connects);
    workers started by hand can also set ``NUMBA_CUDA_MEMORY_MANAGER=rmm.allocators.numba``.
    """

    name = "govgrid-rmm-allocators"

    def setup(self, worker: object) -> None:
        use_rmm_allocators()


def use_rmm_allocators() -> None:
    """Route this process's cupy and numba.cuda device allocations through RMM."""
    import cupy
    from numba import cuda
    from rmm.allocators.cupy import rmm_cupy_allocator
    from rmm.allocators.numba import RMMNumbaManager

    cupy.cuda.set_allocator(rmm_cupy_allocator)
    cuda.set_memory_manager(RMMNumbaManager)


def prepare_workers(client: Client, backend: str) -> None:
    """Set up the workers of a cluster resolved to ``backend`` (GPU: RMM allocators)."""
    if backend == "gpu":
        client.register_plugin(RmmAllocators())
