"""The aggregate grant, attacked: a statistics bureau may run rollup over personal columns
(sex, birth date, deaths) and get counts back, and nothing else. Every other way in is tried
here: SQL on the tables, the row-level jobs, rollup built around the service's entry point,
the job's own views after it is built, and groups small enough to single out a person.

The oracle is the owner's data in DuckDB (the jobs' reference, benchmarks/reference.py).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from benchmarks import reference
from compute.exceptions import CatalogError, ParameterError
from compute.generate import generate
from compute.jobs import JOBS, RollupParams
from compute.session import Session
from compute.tables import Catalog
from hub.exceptions import AccessDenied
from hub.masks import suppress_small_cells
from hub.policy import Caller, parse_policy
from hub.views import GovernedSession, catalog_for, guard_aggregate

SECRET = b"the hub's secret: 32 random byte"
NOW = datetime(2026, 11, 25, 6, tzinfo=UTC)
AFTER_EXPIRY = datetime(2026, 12, 31, 10, 0, 1, tzinfo=UTC)  # 18:00:01 in Beijing
CENSUS = "census-2026"
STATS = "statistics bureau"
PROVINCIAL = "provincial statistics office"
MIN_CELL = 5
KEYS = ["sex", "age_band"]

POLICY = parse_policy(f"""\
version: 1
purposes:
  - name: {CENSUS}
grants:
  - name: census-rollup
    departments: [{STATS}]
    tables: [residents, deaths, enterprises, insured_persons, benefit_payments]
    columns: [resident_id, name, sex, birth_date, division_code, death_date, status,
              registered_capital, program, month, amount]
    purpose: {CENSUS}
    expires: 2026-12-31T18:00:00+08:00
    jobs: [rollup]
    min_cell: {MIN_CELL}
  - name: census-rollup-provincial
    departments: [{PROVINCIAL}]
    tables: [residents, deaths, enterprises]
    columns: [resident_id, sex, birth_date, division_code, death_date, status,
              registered_capital]
    purpose: {CENSUS}
    expires: 2027-06-30
    scope: province
    jobs: [rollup]
    min_cell: {MIN_CELL}
""", "aggregate-policy.yaml", NOW)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("aggregate") / "data"
    generate(out, scale=0.01, seed=11)
    return out


@pytest.fixture(scope="module")
def plain(data: Path, local_cluster) -> Session:
    return Session(Catalog.load(data), local_cluster)


@pytest.fixture(scope="module")
def owner_rollup(data: Path) -> dict[str, pd.DataFrame]:
    """rollup as the owners compute it: every row, nothing masked, nothing suppressed."""
    con = reference.connect(data)
    try:
        return reference.rollup(con, RollupParams())
    finally:
        con.close()


@pytest.fixture(scope="module")
def stats(plain: Session) -> GovernedSession:
    return GovernedSession(plain, POLICY, Caller(STATS), CENSUS, NOW, SECRET)


def governed(plain: Session, department: str = STATS, province: str | None = None,
             now: datetime = NOW) -> GovernedSession:
    return GovernedSession(plain, POLICY, Caller(department, province), CENSUS, now, SECRET)


def keyed(frame: pd.DataFrame, count: str = "population") -> dict[tuple, float]:
    keys = [c for c in frame.columns if c not in (count, "registered_capital")]
    return {tuple(row[:-1]): row[-1] for row in frame[[*keys, count]].itertuples(index=False)}


# --- nothing but the listed job -------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "SELECT COUNT(*) FROM residents",
    "SELECT sex, birth_date FROM residents",
    "SELECT division_code, sex, COUNT(*) FROM residents GROUP BY 1, 2",
    "SELECT death_date FROM deaths",
    "SELECT r.sex FROM enterprises e JOIN residents r ON e.division_code = r.division_code",
    "SELECT amount FROM benefit_payments",
])
def test_sql_under_the_aggregate_grant_is_denied(stats: GovernedSession, query: str) -> None:
    with pytest.raises(AccessDenied, match=r"only to the aggregate jobs \['rollup'\], not to "
                                           r"SQL or a direct read"):
        stats.sql_job(query)


def test_direct_reads_under_the_aggregate_grant_are_denied(stats: GovernedSession) -> None:
    for read in (lambda: stats.table("residents", ["sex"]), lambda: stats.rows("deaths"),
                 lambda: stats.snapshot().table("residents"),
                 lambda: stats.snapshot().column_range("residents", "birth_date"),
                 lambda: stats.snapshot().entry("deaths")):
        with pytest.raises(AccessDenied, match="aggregate jobs"):
            read()
    # What the aggregate grant does not cover stays as it was: enterprises are unconditional,
    # so SQL reads them with the default masks, legal representatives' IDs partial.
    listing = {t["name"]: t for t in catalog_for(stats.catalog, POLICY, Caller(STATS), CENSUS,
                                                 NOW)}
    assert "residents" not in listing and "deaths" not in listing
    masks = {c["name"]: c["mask"] for c in listing["enterprises"]["columns"]}
    assert masks["legal_rep_id"] == "partial"
    result = stats.run_sql("SELECT legal_rep_id FROM enterprises", show_progress=False)
    assert result.outputs["result"]["legal_rep_id"].dropna().str.contains(r"\*{8}").all()


@pytest.mark.parametrize("job", ["verify", "eligibility", "integrity"])
def test_row_level_jobs_under_the_aggregate_grant_are_refused(stats: GovernedSession,
                                                              job: str) -> None:
    # The tables the grant opens to rollup do not exist for another job: it finds no input.
    with pytest.raises(CatalogError, match="no table is the authoritative source"):
        stats.build(job)
    with pytest.raises(CatalogError, match="no table is the authoritative source"):
        JOBS[job].build(stats, None)  # around the service's entry point: decided as SQL


@pytest.mark.parametrize("job", ["verify", "eligibility", "integrity"])
def test_row_level_jobs_pointed_at_the_granted_tables_are_denied_by_the_grant(
        stats: GovernedSession, job: str) -> None:
    inputs = {"resident_id": "residents", "person_name": "insured_persons",
              "payment_id": "benefit_payments"}
    with pytest.raises(AccessDenied, match=rf"denied: .*census-rollup.* only to "
                                           rf"the aggregate jobs \['rollup'\], not to job "
                                           rf"'{job}'"):
        stats.build(job, inputs=inputs)
    with pytest.raises(AccessDenied, match=r"not to SQL or a direct read"):
        JOBS[job].build(stats, None, inputs=inputs)


def test_rollup_built_around_the_entry_point_gets_no_aggregate_grant(
        stats: GovernedSession) -> None:
    # The job's name is never taken from the caller's side of the views: only
    # GovernedSession.build decides tables for a job, and it guards what that job returns.
    with pytest.raises(CatalogError, match="no table is the authoritative source"):
        JOBS["rollup"].build(stats, None)
    with pytest.raises(AccessDenied, match="not to SQL or a direct read"):
        JOBS["rollup"].build(stats, None, inputs={"resident_id": "residents"})


def test_a_job_built_elsewhere_never_borrows_the_views_of_rollup(
        stats: GovernedSession) -> None:
    job = stats.build("rollup")
    assert job.snapshot.sealed and job.snapshot.job == "rollup"
    with pytest.raises(AccessDenied, match="not readable again"):
        job.snapshot.table("residents", ["resident_id", "sex", "birth_date"])
    with pytest.raises(AccessDenied, match="not an aggregate job"):
        guard_aggregate(dataclasses.replace(job, name="verify"))
    rows = {**job.outputs, "people": job.outputs["population"]}
    with pytest.raises(AccessDenied, match=r"outputs \['people'\] are not aggregate outputs"):
        guard_aggregate(dataclasses.replace(job, outputs=rows))
    renamed = {**job.outputs, "population": job.outputs["population"].rename(
        columns={"population": "people"})}
    with pytest.raises(AccessDenied, match=r"lacks \['population'\]"):
        guard_aggregate(dataclasses.replace(job, outputs=renamed))


# --- what rollup returns ----------------------------------------------------------------------

def test_rollup_returns_the_owners_counts_with_small_cells_suppressed(
        stats: GovernedSession, owner_rollup: dict[str, pd.DataFrame]) -> None:
    job = stats.build("rollup")
    decisions = job.snapshot.decisions
    assert decisions["residents"].masks["sex"] == "none"
    assert decisions["residents"].masks["birth_date"] == "none"
    assert decisions["residents"].masks["resident_id"] == "pseudonym"
    assert any("cells under 5 suppressed" in str(step) for step in job.plan)
    result = stats.run(job, show_progress=False)
    population = result.outputs["population"]
    assert list(population.columns) == list(owner_rollup["population"].columns)
    # Sex and age at the day are what the owner counts: the same numbers, cell by cell.
    owner = keyed(owner_rollup["population"])
    got = keyed(population)
    assert got and all(owner[cell] == people for cell, people in got.items())
    assert population["population"].min() >= MIN_CELL
    assert set(population["sex"]) == {1, 2}
    assert keyed(suppress_small_cells(owner_rollup["population"], "population", KEYS,
                                      MIN_CELL)) == got
    small = [cell for cell, people in owner.items() if people < MIN_CELL]
    assert small and not set(small) & set(got)
    # Enterprises come from public columns only: published as the owner counts them.
    assert keyed(result.outputs["enterprises"], "enterprises") == keyed(
        owner_rollup["enterprises"], "enterprises")


def test_a_rollup_of_groups_that_would_single_out_a_person_publishes_none_of_them(
        plain: Session, data: Path) -> None:
    con = reference.connect(data)
    try:
        # The province with the fewest residents: its counties hold one or two people per
        # sex and age band.
        province = con.execute(
            "SELECT division_code // 10000 FROM residents GROUP BY 1 ORDER BY count(*), 1 "
            "LIMIT 1").fetchone()[0]
    finally:
        con.close()
    session = governed(plain, PROVINCIAL, str(province))
    result = session.run(session.build("rollup"), show_progress=False)
    expected = provincial_rollup(session, data, province)
    population = result.outputs["population"]
    singles = [cell for cell, people in keyed(expected).items() if people == 1]
    assert singles, "the province has a cell of one person to protect"
    got = keyed(population)
    assert not set(singles) & set(got)
    assert all(people >= MIN_CELL for people in got.values())
    assert ((population["division_code"] == 0)
            | (population["division_code"] // 10_000 == province)).all()
    # No published total less its published parts gives a suppressed cell: a published
    # cell's children are all published (and add up to it) or none is.
    for (level, code, sex, band), people in got.items():
        child = {"nation": "province", "province": "prefecture", "prefecture": "county"}.get(
            level)
        if child is None:
            continue
        span = {"nation": 10**9, "province": 10_000, "prefecture": 100}[level]
        below = {c: p for c, p in keyed(expected).items()
                 if c[0] == child and c[2:] == (sex, band) and c[1] // span == code // span}
        shown = {c: p for c, p in below.items() if c in got}
        assert shown in ({}, below)
        if shown:
            assert sum(shown.values()) == people
    assert keyed(suppress_small_cells(expected, "population", KEYS, MIN_CELL)) == got


def provincial_rollup(session: GovernedSession, data: Path, province: int) -> pd.DataFrame:
    """The reference rollup over the owner's rows in the province's scope, unsuppressed."""
    from hub.masks import scope_rows
    from hub.views import table_info

    con = reference.connect()
    try:
        for table in ("residents", "deaths"):
            raw = con.execute(f"SELECT * FROM read_parquet([{files(data, table)}])").df()
            decision = POLICY.decide(Caller(PROVINCIAL, str(province), CENSUS),
                                     table_info(session.catalog.table(table)), NOW, "rollup")
            con.register(table, scope_rows(raw, decision))
        con.execute(f"CREATE VIEW enterprises AS SELECT * FROM read_parquet("
                    f"[{files(data, 'enterprises')}])")
        return reference.rollup(con, RollupParams())["population"]
    finally:
        con.close()


def files(data: Path, table: str) -> str:
    return ", ".join(f"'{f}'" for f in reference.table_files(data, table))


# --- the rest of the rules still hold ----------------------------------------------------------

def test_a_personal_columns_range_is_given_in_whole_years(stats: GovernedSession,
                                                          data: Path) -> None:
    con = duckdb.connect()
    low, high = con.execute(f"SELECT min(death_date), max(death_date) FROM read_parquet("
                            f"[{files(data, 'deaths')}])").fetchone()
    job = stats.build("rollup")
    assert job.snapshot.column_range("deaths", "death_date") == (
        low.replace(month=1, day=1), high.replace(month=12, day=31))
    with pytest.raises(ParameterError) as caught:
        stats.build("rollup", JOBS["rollup"].params(reference_date="2099-01-01"))
    # Whole years: not the first and last deaths' dates, which are one person's each.
    assert f"spans {low.year}-01-01 to {high.year}-12-31" in str(caught.value)


def test_an_aggregate_request_is_refused_when_its_grant_expired_before_the_fetch(
        stats: GovernedSession, plain: Session) -> None:
    job = stats.build("rollup")
    assert set(job.snapshot.recheck(NOW)) >= {"residents", "deaths"}
    with pytest.raises(AccessDenied, match="expired"):
        job.snapshot.recheck(AFTER_EXPIRY)
    with pytest.raises(AccessDenied, match="expired"):
        governed(plain, now=AFTER_EXPIRY).build("rollup", inputs={"resident_id": "residents"})


def test_every_job_a_grant_may_list_has_its_outputs_described() -> None:
    from hub.policy import AGGREGATE_JOBS
    from hub.views import AGGREGATE_OUTPUTS

    assert set(AGGREGATE_JOBS) == set(AGGREGATE_OUTPUTS)
    for job, outputs in AGGREGATE_OUTPUTS.items():
        assert set(outputs) == {"population", "enterprises"} and job == "rollup"
