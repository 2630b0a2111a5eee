"""The four jobs of a government data hub; each builds its Dask graph lazily.

    job = verify(session, sources=["insured_persons"])   # lazy: a Job with Dask outputs
    result = session.run(job)                             # computes, with a progress bar
"""

from typing import NamedTuple

from compute.jobs.base import Job, Params
from compute.jobs.eligibility import EligibilityParams, eligibility
from compute.jobs.integrity import IntegrityParams, integrity
from compute.jobs.rollup import RollupParams, rollup
from compute.jobs.verify import VerifyParams, verify


class JobSpec(NamedTuple):
    build: object  # (session, params=None, **kwargs) -> Job
    params: type[Params]


JOBS: dict[str, JobSpec] = {
    "verify": JobSpec(verify, VerifyParams),
    "eligibility": JobSpec(eligibility, EligibilityParams),
    "integrity": JobSpec(integrity, IntegrityParams),
    "rollup": JobSpec(rollup, RollupParams),
}

__all__ = [
    "JOBS",
    "EligibilityParams",
    "IntegrityParams",
    "Job",
    "JobSpec",
    "Params",
    "RollupParams",
    "VerifyParams",
    "eligibility",
    "integrity",
    "rollup",
    "verify",
]
