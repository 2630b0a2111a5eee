"""`govgrid bench tpch`: the queries on govgrid, DuckDB and Polars, checked against DuckDB
before they are timed, as JSON lines and a report section."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import benchmarks.tpch
from benchmarks.runner import read_records
from compute.cli import main

SCALE = "0.01"
QUERIES = ("q01", "q04", "q13")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tpch-cache")


def test_every_engine_runs_checks_and_reports(cache: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    code = main(["bench", "tpch", "--scale-factor", SCALE, "--queries", "1,4,13",
                 "--repeat", "1", "--workers", "2", "--cache", str(cache),
                 "--results", str(results)])
    assert code == 0
    records = [r for r in read_records(results) if r["kind"] == "tpch"]
    assert {(r["engine"], r["query"]) for r in records} == {
        (engine, query) for engine in ("govgrid", "duckdb", "polars") for query in QUERIES}
    assert all(r["status"] == "ok" and r["median"] > 0 for r in records)
    for query in QUERIES:  # the same rows from each engine
        assert len({r["rows"] for r in records if r["query"] == query}) == 1
    report = (tmp_path / "tpch.md").read_text()
    assert f"## TPC-H (scale factor {SCALE})" in report
    assert "| **total (3 queries all ran)** |" in report
    assert all(f"| {query} | " in report for query in QUERIES)
    threads = {r["engine"]: r["threads"] for r in records}
    assert threads["duckdb"] == 2
    assert f"DuckDB with 2 thread(s); Polars with {threads['polars']} thread(s)." in report


def test_polars_gets_as_many_threads_as_the_workers(cache: Path, tmp_path: Path) -> None:
    # A fresh process, as `govgrid bench` is: polars would take every core (2 on CI) if left
    # to itself, and the report would compare one worker with two threads.
    results = tmp_path / "results.jsonl"
    subprocess.run([sys.executable, "-m", "compute.cli", "bench", "tpch", "--scale-factor",
                    SCALE, "--queries", "6", "--engines", "duckdb,polars", "--workers", "1",
                    "--repeat", "1", "--cache", str(cache), "--results", str(results)],
                   check=True, capture_output=True)
    assert {r["engine"]: r["threads"] for r in read_records(results)} == {
        "duckdb": 1, "polars": 1}
    assert "DuckDB with 1 thread(s); Polars with 1 thread(s)." in \
        (tmp_path / "tpch.md").read_text()


def test_a_result_unlike_duckdbs_is_a_mismatch_and_not_timed(cache, tmp_path, monkeypatch):
    answer = benchmarks.tpch.Polars.run

    def wrong(self, text: str):
        result = answer(self, text)
        return result.assign(**{result.columns[-1]: result[result.columns[-1]] * 2})

    monkeypatch.setattr(benchmarks.tpch.Polars, "run", wrong)
    results = tmp_path / "results.jsonl"
    code = main(["bench", "tpch", "--scale-factor", SCALE, "--queries", "1",
                 "--engines", "duckdb,polars", "--repeat", "1", "--cache", str(cache),
                 "--results", str(results)])
    assert code == 1
    polars, = [r for r in read_records(results) if r["engine"] == "polars"]
    assert polars["status"] == "mismatch" and "median" not in polars
    assert "polars q01: mismatch" in (tmp_path / "tpch.md").read_text()
