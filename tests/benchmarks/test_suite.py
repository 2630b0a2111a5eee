"""The suite on the tiny dataset: engines agree, a wrong one is caught, records are complete."""

from __future__ import annotations

from benchmarks import reference
from benchmarks.engines import ENGINES
from compute.jobs import JOBS

RECORD_FIELDS = {
    "kind", "engine", "job", "scale", "residents", "backend", "workers", "threads", "repeat",
    "times", "median", "min", "max", "rows", "bytes", "peak_memory", "status", "params",
    "timestamp", "environment", "cpu_this_process", "cpu_child_processes",
}
ENVIRONMENT_FIELDS = {"cpu_model", "cores", "memory_bytes", "gpus", "libraries", "git_commit"}


def test_every_engine_agrees_with_the_reference(suite_results):
    _, records = suite_results
    status = {(r["engine"], r["job"]): r["status"] for r in records}
    assert status == {
        **{(engine, job): "ok" for engine in ENGINES for job in JOBS},
        **{("wrong", job): "ok" for job in JOBS if job != "rollup"},
        ("wrong", "rollup"): "mismatch",
    }


def test_a_mismatch_is_reported_and_not_timed(suite_results):
    _, records = suite_results
    (wrong,) = [r for r in records if r["engine"] == "wrong" and r["job"] == "rollup"]
    assert "population" in wrong["detail"] and "rows differ" in wrong["detail"]
    assert "enterprises" not in wrong["detail"]
    assert not {"times", "median", "min", "max"} & set(wrong)


def test_records_hold_every_field(suite_results):
    path, records = suite_results
    assert len(path.read_text().splitlines()) == len(records) == 6 * len(JOBS)
    for record in records:
        if record["status"] == "ok":
            assert set(record) >= RECORD_FIELDS, record["engine"]
            assert record["min"] <= record["median"] <= record["max"]
            assert record["rows"] > 0 and record["bytes"] > 0 and record["peak_memory"] > 0
        assert set(record["environment"]) >= ENVIRONMENT_FIELDS
        assert record["environment"]["libraries"]["dask"] == "2026.7.1"
    ok = {r["engine"]: r for r in records if r["status"] == "ok"}
    # Cluster engines work in their local worker processes; the others in this one.
    assert ok["govgrid"]["cpu_child_processes"] > 0 and ok["dask"]["cpu_child_processes"] > 0
    assert ok["duckdb"]["cpu_this_process"] > ok["duckdb"]["cpu_child_processes"]
    threads = {r["engine"]: (r["workers"], r["threads"]) for r in records}
    assert threads["govgrid"] == threads["dask"] == (2, 2)
    assert threads["duckdb"] == threads["pandas"] == (1, 2)


def test_the_tiny_dataset_holds_dirty_ids(tiny_data):
    """What the engines must agree on (issue #11): IDs that normalise to another, registry
    rows reduced, invalid IDs matching nothing."""
    con = reference.connect(tiny_data)
    issues = reference.run(con, "verify", JOBS["verify"].params())["registry_issues"]
    assert set(issues["issue"]) == {"duplicate", "invalid_id"}
    assert issues["normalised_id"].isna().any()  # rows without an ID, counted together
    held = con.execute("SELECT count(*) FROM residents").fetchone()[0]
    kept = con.execute("SELECT count(*) FROM ref_registry").fetchone()[0]
    assert kept < held
    eligible = reference.run(con, "eligibility", JOBS["eligibility"].params())["eligible"]
    assert (eligible["resident_id"] != eligible["normalised_id"]).any()  # a padded row kept
    dirty = con.execute("""
        SELECT count(*) FILTER (resident_id <> normalise_id(resident_id)),
               count(*) FILTER (NOT valid_id(resident_id))
        FROM (SELECT resident_id FROM insured_persons UNION ALL SELECT resident_id
              FROM medical_insured UNION ALL SELECT resident_id FROM deaths)
    """).fetchone()
    assert dirty[0] >= 5 and dirty[1] >= 1
    con.close()
