"""The four jobs written as SQL (examples/sql/jobs/<job>_<output>.sql) over generated hub data
equal the jobs' own outputs; a ROLLUP up the division hierarchy equals DuckDB's.

Every output of every job is expressible: the SQL files fix the jobs' default parameters
(and verify's default sources) as literals. One file per output, as a query has one result.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from benchmarks.compare import compare_frames
from benchmarks.reference import attach
from compute.generate import generate
from compute.jobs import JOBS
from compute.session import Session
from compute.tables import Catalog
from tests.sql.conftest import assert_same

JOBS_SQL = Path(__file__).parents[2] / "examples" / "sql" / "jobs"
OUTPUTS = {
    "verify": ("conflicts", "summary", "registry_issues"),
    "eligibility": ("eligible", "coverage"),
    "integrity": ("flagged", "by_province"),
    "rollup": ("population", "enterprises"),
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hub") / "data"
    generate(root, scale=0.01, seed=11)
    return root


@pytest.fixture(scope="module")
def session(hub, local_cluster) -> Session:
    return Session(Catalog.load(hub), local_cluster)


class JobOutputs(dict):
    """Each job's outputs, run with its default parameters when first asked for."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def __missing__(self, name: str) -> dict:
        spec = JOBS[name]
        self[name] = self.session.run(spec.build(self.session, spec.params()),
                                      show_progress=False).outputs
        return self[name]


@pytest.fixture(scope="module")
def job_outputs(session) -> JobOutputs:
    return JobOutputs(session)


def test_every_output_has_its_sql_file():
    files = {p.stem for p in JOBS_SQL.glob("*.sql")} - {"rollup_hierarchy"}
    assert files == {f"{job}_{output}" for job, outputs in OUTPUTS.items()
                     for output in outputs}


@pytest.mark.parametrize("job,output", [(j, o) for j, outs in OUTPUTS.items() for o in outs],
                         ids=lambda v: v)
def test_job_written_as_sql_equals_the_job(job, output, session, job_outputs):
    want = job_outputs[job][output]
    assert len(want), f"{job}.{output} is empty: the comparison would prove little"
    got = session.run_sql((JOBS_SQL / f"{job}_{output}.sql").read_text(),
                          show_progress=False)["result"]
    assert compare_frames(output, got, want) is None


def test_the_data_exercises_the_conditions(job_outputs):
    """The comparisons cover most of the SQL's conditions: at this scale and seed no record
    disagrees on its division code and no payment goes to a valid unregistered ID."""
    kinds = set(job_outputs["verify"]["conflicts"]["kind"])
    assert kinds >= {"invalid_id", "orphan", "name_mismatch", "birth_mismatch"}
    reasons = set(job_outputs["integrity"]["flagged"]["reason"])
    assert reasons >= {"invalid_id", "after_death", "duplicate", "dibao_high_income",
                       "dibao_enterprise_rep"}


def test_rollup_up_the_division_hierarchy_equals_duckdb(hub, session):
    text = (JOBS_SQL / "rollup_hierarchy.sql").read_text()
    con = duckdb.connect()
    attach(con, hub, ("enterprises", "residents"))
    con.execute("CREATE MACRO province_of(d) AS d // 10000 * 10000; "
                "CREATE MACRO prefecture_of(d) AS d // 100 * 100")
    got = session.run_sql(text, show_progress=False)["result"]
    want = con.execute(text).df()
    assert len(want) > 100
    assert_same(got, want, ordered=True)
    residents = ("SELECT province_of(division_code) AS province, prefecture_of(division_code) "
                 "AS prefecture, division_code AS county, COUNT(*) AS residents, "
                 "SUM(CASE WHEN sex = 2 THEN 1 ELSE 0 END) AS women FROM residents GROUP BY "
                 "ROLLUP (province_of(division_code), prefecture_of(division_code), "
                 "division_code)")
    assert_same(session.run_sql(residents, show_progress=False)["result"],
                con.execute(residents).df(), ordered=False)


def test_a_query_of_one_output_runs_its_steps_fused_with_the_read(hub, session):
    # client.compute of a list leaves out Dask's blockwise fusion, for a list of one too:
    # the read, the casts, the filter and the projection would be tasks of their own.
    query = ("SELECT division_code + 1 AS code FROM residents "
             "WHERE sex = 2 AND division_code > 110000")
    result = session.run_sql(query, show_progress=False)
    groups = set(result.task_seconds)
    assert not groups & {"read_parquet", "astype", "filter", "operation", "project"}, groups
    con = duckdb.connect()
    attach(con, hub, ("residents",))
    assert_same(result["result"], con.execute(query).df(), ordered=False)


def test_a_query_planned_twice_has_the_same_name(session):
    # Names key Dask's fusion and the session's fused graphs: window and sort tasks are
    # named by their content, not by where they sit in memory.
    query = ("SELECT division_code, sex, ROW_NUMBER() OVER (PARTITION BY sex ORDER BY "
             "division_code) AS n FROM residents ORDER BY division_code, n LIMIT 5")
    first, second = session.sql(query), session.sql(query)
    assert first._name == second._name
    assert "0x" not in first._name
