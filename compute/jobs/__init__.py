"""The four jobs of a government data hub; each builds its Dask graph lazily.

    job = verify(session, sources=["insured_persons"])   # lazy: a Job with Dask outputs
    result = session.run(job)                             # computes, with a progress bar
"""

from typing import NamedTuple

from compute.jobs.base import Job, Params
from compute.jobs.eligibility import EligibilityParams, eligibility, eligibility_inputs
from compute.jobs.integrity import IntegrityParams, integrity, integrity_inputs
from compute.jobs.rollup import RollupParams, rollup, rollup_inputs
from compute.jobs.verify import VerifyParams, verify, verify_inputs


class JobSpec(NamedTuple):
    build: object  # (session, params=None, as_of=None, inputs=None, **kwargs) -> Job
    params: type[Params]
    inputs: object  # (snapshot, params) -> {role: table}, from the catalog alone


JOBS: dict[str, JobSpec] = {
    "verify": JobSpec(verify, VerifyParams, verify_inputs),
    "eligibility": JobSpec(eligibility, EligibilityParams, eligibility_inputs),
    "integrity": JobSpec(integrity, IntegrityParams, integrity_inputs),
    "rollup": JobSpec(rollup, RollupParams, rollup_inputs),
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
