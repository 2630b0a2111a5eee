"""`govgrid bench cli`: whole `govgrid run` and DuckDB processes against a running cluster."""

from __future__ import annotations

from benchmarks.processes import HELP_JOB, run_processes


def test_whole_processes_are_timed_against_a_started_cluster(tiny_data, tmp_path, capsys):
    results = tmp_path / "cli.jsonl"
    records = run_processes(tiny_data, ["rollup"], workers=1, repeat=1, results=results)
    assert [(r["engine"], r["job"], r["status"]) for r in records] == [
        ("govgrid", HELP_JOB, "ok"), ("govgrid", "rollup", "ok"), ("duckdb", "rollup", "ok"),
    ]
    run, duckdb = records[1:]
    assert "--scheduler" in run["command"] and run["scheduler"].startswith("tcp://")
    assert duckdb["command"][1:3] == ["-m", "benchmarks.engines.duckdb_sql_job"]
    assert (run["workers"], duckdb["workers"], duckdb["threads"]) == (1, 1, 1)
    assert all(r["median"] > 0 and r["cpu_command"] > 0 for r in records)
    assert len(results.read_text().splitlines()) == 3
    out = capsys.readouterr().out
    assert "| rollup |" in out and "`govgrid --help`:" in out
