"""The engines the suite compares: govgrid and what a user would pick instead.

Each peer is written from the jobs issue's text, not from ``compute.jobs``, so agreement
between them checks govgrid. Modules (``base`` too: it imports pandas) are imported only when
an engine is opened, so that ``govgrid bench`` can list the names without loading them.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.engines.base import Engine

ENGINES = {
    "govgrid": "benchmarks.engines.govgrid_engine:GovgridEngine",
    "duckdb": "benchmarks.engines.duckdb_sql:DuckDBEngine",
    "polars": "benchmarks.engines.polars_lazy:PolarsEngine",
    "dask": "benchmarks.engines.dask_plain:DaskEngine",
    "pandas": "benchmarks.engines.pandas_plain:PandasEngine",
}


def engine_class(name: str) -> type[Engine]:
    """The class of engine ``name``; an unknown name is a ValueError naming the known."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; the engines are {', '.join(ENGINES)}")
    module, cls = ENGINES[name].split(":")
    return getattr(import_module(module), cls)


def open_engine(
    engine: str | type[Engine], data: str | os.PathLike[str], workers: int,
    threads_per_worker: int, scheduler: str | None = None, backend: str = "auto",
) -> Engine:
    """Open an engine (a name of :data:`ENGINES` or an Engine class) on a data directory.

    Cluster engines get ``workers`` processes of ``threads_per_worker`` threads (or join
    ``scheduler``); single-process engines get all ``workers * threads_per_worker`` threads.
    Plain Dask always runs pandas: it is what an analyst writes without govgrid.
    """
    from benchmarks.engines.base import ClusterEngine

    cls = engine_class(engine) if isinstance(engine, str) else engine
    if issubclass(cls, ClusterEngine):
        chosen = backend if cls.name == "govgrid" else "cpu"
        return cls(data, workers, threads_per_worker, scheduler=scheduler, backend=chosen)
    return cls(data, 1, workers * threads_per_worker)


__all__ = ["ENGINES", "engine_class", "open_engine"]
