"""What an analyst calls: connect to data and a cluster, run the jobs of a data hub.

    import compute
    with compute.connect(data="data/") as session:
        result = session.run(compute.verify(session))
        result["summary"]
"""

from compute.exceptions import CatalogError, DataError, GovgridError, JobError, ParameterError
from compute.jobs import JOBS, eligibility, integrity, rollup, verify
from compute.results import JobResult
from compute.session import Session, connect

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
