"""The report: Markdown and PNGs written from suite, scaling and micro records."""

from __future__ import annotations

import json

from benchmarks.report import write_report
from benchmarks.runner import append_records


def _scaling(kind: str, workers: int, median: float, engine: str = "govgrid") -> list[dict]:
    # A single-process engine records one worker whatever the step (its threads grow instead).
    recorded = workers if engine == "govgrid" else 1
    return [{"kind": kind, "engine": engine, "job": job, "workers": recorded,
             "step_workers": workers, "status": "ok", "median": median} for job in
            ("verify", "eligibility", "integrity", "rollup")]


def test_report_files(suite_results, tmp_path):
    path, records = suite_results
    results = tmp_path / "results.jsonl"
    results.write_text(path.read_text())
    append_records(results, [
        *_scaling("scaling-strong", 1, 2.0), *_scaling("scaling-strong", 2, 1.25),
        *_scaling("scaling-weak", 1, 2.0), *_scaling("scaling-weak", 2, 2.5),
        *_scaling("scaling-strong", 1, 1.0, "duckdb"),
        *_scaling("scaling-strong", 2, 0.5, "duckdb"),
        {**records[0], "kind": "merge", "job": "merge", "throughput_per_worker": 2**20,
         "params": {"chunk_size": 10, "strategy": "shuffle"}},
        *[{"kind": "cli", "engine": engine, "job": job, "status": "ok", "median": seconds,
           "scale": 0.01} for engine, job, seconds in (
              ("govgrid", "--help", 0.12), ("govgrid", "rollup", 3.5), ("duckdb", "rollup", 0.8))],
        {"kind": "memory", "job": "rollup", "memory_limit": "1GiB", "workers": 2,
         "status": "ok", "median": 1.5, "worker_peak_memory": {"a": 2**29, "b": 3 * 2**28},
         "spilled_bytes": {"a": 2**20, "b": None}},
    ])
    report = write_report(results, tmp_path / "out")
    text = report.read_text()
    assert "| **total** |" in text and "wrong rollup: mismatch" in text
    assert "| strong | govgrid | 2 | 5.00 s | 1.60× | 80% |" in text
    assert "| weak | govgrid | 2 | 10.00 s | 0.80× | 80% |" in text
    assert "| strong | duckdb | 2 | 2.00 s | 2.00× | 100% |" in text
    # Where govgrid's time goes: its stages and task groups; every engine's CPU split.
    (govgrid_verify,) = [line for line in text.splitlines()
                         if line.startswith("| govgrid | verify | ")]
    assert govgrid_verify.count(" s |") == 6 and not govgrid_verify.endswith("| - |")
    assert "| duckdb | verify | " in text
    assert "| rollup | 3.50 s | 0.80 s |" in text  # whole processes: govgrid, duckdb
    assert "`govgrid --help`: 0.12 s" in text
    assert "| rollup | 1GiB | 2 | 1.50 s | 0.75 GiB | 1.0 MiB |" in text  # memory limits
    for png in ("suite_times.png", "scaling.png", "throughput_per_worker.png", "cpu_split.png",
                "task_groups.png"):
        assert (tmp_path / "out" / png).stat().st_size > 1000
    assert json.loads(results.read_text().splitlines()[0])["kind"] == "suite"
