"""Start or join a Dask cluster and choose its backend (CPU or GPU) in one place."""

from cluster.backend import current as current_backend
from cluster.backend import probe_gpu, resolve
from cluster.exceptions import BackendUnavailable, ClusterError, ClusterUnreachable
from cluster.handle import Cluster, connect, smallest_memory_limit, start
from cluster.info import ClusterInfo, WorkerInfo
from cluster.settings import ClusterSettings

__all__ = [
    "BackendUnavailable",
    "Cluster",
    "ClusterError",
    "ClusterInfo",
    "ClusterSettings",
    "ClusterUnreachable",
    "WorkerInfo",
    "connect",
    "current_backend",
    "probe_gpu",
    "resolve",
    "smallest_memory_limit",
    "start",
]
