"""Settings of the cluster, read from Dask's config under the ``govgrid`` key."""

from __future__ import annotations

import math
import os
import pathlib
from dataclasses import dataclass
from typing import Any

import dask.config
import dask.utils
import yaml

BACKENDS = ("auto", "cpu", "gpu")

_DEFAULTS = pathlib.Path(__file__).with_name("govgrid.yaml")
with _DEFAULTS.open() as _f:
    dask.config.update_defaults(yaml.safe_load(_f))


@dataclass(frozen=True)
class ClusterSettings:
    """Cluster settings, validated on construction.

    Built from ``dask.config`` by :meth:`from_config`; keyword arguments override it.
    """

    backend: str = "auto"
    n_workers: int | None = None
    threads_per_worker: int | None = None
    memory_limit: str | int | float = "auto"
    dashboard_address: str | None = ":8787"
    connect_timeout: str = "10s"
    local_bandwidth: str = "1GB"
    local_worker_saturation: float = 1.0
    rmm_pool_size: str | None = "0.8"
    cudf_spill: bool = True
    worker_log: str = "~/.cache/govgrid/logs/workers.log"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {self.backend!r}")
        for name in ("n_workers", "threads_per_worker"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, not {value!r}")
        saturation = self.local_worker_saturation
        try:
            number = float(saturation)  # "inf" as Dask spells it, from YAML or the environment
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(saturation, bool) or not number > 0:
            raise ValueError("local_worker_saturation must be a positive number or 'inf', "
                             f"not {saturation!r}")
        object.__setattr__(self, "local_worker_saturation", number)

    @classmethod
    def from_config(cls, **overrides: Any) -> ClusterSettings:
        """Settings from ``govgrid.cluster`` in Dask's config, with non-None overrides."""
        config = dask.config.get("govgrid.cluster")
        values = {key.replace("-", "_"): value for key, value in config.items()}
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["worker_log"] = os.path.expanduser(values.get("worker_log", cls.worker_log))
        return cls(**values)


def shuffle_method(backend: str, worker_memory: int | None = None) -> str:
    """The shuffle method for a resolved backend ("cpu" or "gpu") on workers with
    ``worker_memory`` bytes each (None: no limit).

    ``auto`` is P2P unless a worker has less than ``govgrid.shuffle.p2p-min-memory``: P2P
    holds its shards outside the worker's spill buffer, and on small workers several
    shuffles at once push them past their limit (at scale 10 with 1 GiB per worker, verify
    lost every worker with P2P and finished with task-based shuffles, which spill).
    """
    configured = dask.config.get(f"govgrid.shuffle.{backend}")
    if configured != "auto":
        return configured
    minimum = dask.utils.parse_bytes(dask.config.get("govgrid.shuffle.p2p-min-memory"))
    return "p2p" if worker_memory is None or worker_memory >= minimum else "tasks"
