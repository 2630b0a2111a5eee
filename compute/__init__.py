"""What an analyst calls: connect to data and a cluster, run the jobs of a data hub.

    import compute
    with compute.connect(data="data/") as session:
        result = session.run(compute.verify(session))
        result["summary"]
"""

from importlib import import_module

from compute.exceptions import CatalogError, DataError, GovgridError, JobError, ParameterError

# Imported on first use (PEP 562), so that `govgrid --help` and every compute.* submodule that
# needs none of them load no Dask, pandas or numba.
_LAZY = {
    "JOBS": "compute.jobs", "eligibility": "compute.jobs", "integrity": "compute.jobs",
    "rollup": "compute.jobs", "verify": "compute.jobs", "JobResult": "compute.results",
    "Session": "compute.session", "connect": "compute.session",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'compute' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "JOBS",
    "CatalogError",
    "DataError",
    "GovgridError",
    "JobError",
    "JobResult",
    "ParameterError",
    "Session",
    "connect",
    "eligibility",
    "integrity",
    "rollup",
    "verify",
]
