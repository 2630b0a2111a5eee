"""Every output of every job equals the shared DuckDB reference (benchmarks/reference.py) on
generated data with every dirty kind planted, under broadcast and shuffle joins; and the
planted defects are found exactly."""

from __future__ import annotations

import shutil

import dask
import pandas as pd
import pytest
from distributed import get_task_stream

from benchmarks import reference
from compute.generate.rates import ID_FORM_KINDS, REGISTRY_KINDS, ROSTER_KINDS
from compute.jobs import (
    EligibilityParams,
    IntegrityParams,
    RollupParams,
    VerifyParams,
    eligibility,
    integrity,
    rollup,
    verify,
)
from compute.session import Session
from compute.tables import Catalog

CASES = [
    ("verify", VerifyParams()),
    ("eligibility", EligibilityParams()),
    ("eligibility", EligibilityParams(min_age=65, max_income=12000.0)),
    ("integrity", IntegrityParams()),
    ("integrity", IntegrityParams(dibao_max_income=20000.0)),
    ("rollup", RollupParams()),
]
BUILD = {"verify": verify, "eligibility": eligibility, "integrity": integrity, "rollup": rollup}


@pytest.fixture(scope="session")
def expected(dataset):
    """The reference's outputs of every case, computed once."""
    con = reference.connect(dataset)
    outputs = {index: reference.run(con, job, params) for index, (job, params) in
               enumerate(CASES)}
    con.close()
    return outputs


@pytest.mark.parametrize("case", range(len(CASES)),
                         ids=[f"{job}-{i}" for i, (job, _) in enumerate(CASES)])
def test_every_job_equals_the_reference(session, expected, same_rows, case):
    job, params = CASES[case]
    result = session.run(BUILD[job](session, params), show_progress=False)
    assert set(result.outputs) == set(expected[case])
    for output, frame in expected[case].items():
        same_rows(result[output], frame)
    assert sum(len(frame) for frame in expected[case].values()) > 0


def test_hash_joins_agree_under_task_based_shuffles(dataset, local_cluster, expected, same_rows):
    # Small workers shuffle with tasks (cluster.settings.shuffle_method): the records of a
    # hash join must reach the side's partitions of the same keys under that method too.
    with dask.config.set({"govgrid.join.broadcast-limit": "0B",
                          "dataframe.shuffle.method": "tasks"}):
        session = Session(Catalog.load(dataset), local_cluster)
        for case in (0, 1, 3, 5):  # one case of each job
            job, params = CASES[case]
            result = session.run(BUILD[job](session, params), show_progress=False)
            for output, frame in expected[case].items():
                same_rows(result[output], frame)


def test_verify_finds_exactly_the_planted_roster_defects(session, dataset):
    result = session.run(verify(session), show_progress=False)
    truth = pd.read_parquet(dataset / "_truth")
    rosters = truth["table"].isin(["insured_persons", "medical_insured"])
    planted = truth[rosters & truth["kind"].isin(ROSTER_KINDS)]
    expected = set(planted[["table", "key", "kind"]].itertuples(index=False, name=None))
    found = set(result["conflicts"][["source", "resident_id", "kind"]]
                .itertuples(index=False, name=None))
    assert found == expected
    # IDs written in another form (padded, lower-case, full-width, legacy) are no conflict.
    forms = truth[rosters & truth["kind"].isin(ID_FORM_KINDS)]
    assert len(forms) > 0
    assert not set(forms["key"]) & set(result["conflicts"]["resident_id"])


def test_verify_reports_the_planted_registry_issues(session, dataset):
    result = session.run(verify(session), show_progress=False)
    truth = pd.read_parquet(dataset / "_truth")
    planted = truth[(truth["table"] == "residents") & truth["kind"].isin(REGISTRY_KINDS)]
    issues = result["registry_issues"]
    assert len(planted) > 0
    kinds = {"registry_duplicate": "duplicate", "registry_invalid": "invalid_id"}
    for key, kind in planted[["key", "kind"]].itertuples(index=False, name=None):
        row = issues[issues["resident_id"] == key]
        assert list(row["issue"]) == [kinds[kind]], key
    assert set(issues.loc[issues["issue"] == "duplicate", "rows"]) == {2}


def test_verify_of_one_source(session):
    result = session.run(verify(session, sources=["medical_insured"]), show_progress=False)
    assert set(result["conflicts"]["source"]) == {"medical_insured"}
    assert set(result["summary"]["source"]) == {"medical_insured"}


def test_integrity_finds_every_planted_duplicate_and_after_death(session, dataset):
    result = session.run(integrity(session), show_progress=False)
    truth = pd.read_parquet(dataset / "_truth")
    flagged = result["flagged"]
    for kind in ("duplicate", "after_death", "invalid_id"):
        planted = set(truth.loc[(truth["table"] == "benefit_payments") & (truth["kind"] == kind),
                                "key"].astype("int64"))
        assert planted, kind
        assert planted <= set(flagged.loc[flagged["reason"] == kind, "payment_id"]), kind


def test_rollup_levels_add_up(session):
    population = session.run(rollup(session), show_progress=False)["population"]
    nation = population.query("level == 'nation'")["population"].sum()
    assert nation == population.query("level == 'county'")["population"].sum()


def test_a_sessions_next_job_reuses_the_registry_it_already_read(
    dataset, local_cluster, expected, same_rows, tmp_path
):
    # The registry's repeated keys and its issues are kept per table version: the second
    # run computes fewer tasks and gives the same answer. (A copy of the data: files no
    # earlier test has read.)
    shutil.copytree(dataset, tmp_path / "data")
    session = Session(Catalog.load(tmp_path / "data"), local_cluster)
    tasks = []
    for _ in range(2):
        with get_task_stream(local_cluster.client) as stream:
            result = session.run(verify(session), show_progress=False)
        tasks.append(len(stream.data))
        for output, frame in expected[0].items():
            same_rows(result[output], frame)
    assert tasks[1] < tasks[0]
