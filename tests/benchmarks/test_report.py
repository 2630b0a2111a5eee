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
    ])
    report = write_report(results, tmp_path / "out")
    text = report.read_text()
    assert "| **total** |" in text and "wrong rollup: mismatch" in text
    assert "| strong | govgrid | 2 | 5.00 s | 1.60× | 80% |" in text
    assert "| weak | govgrid | 2 | 10.00 s | 0.80× | 80% |" in text
    assert "| strong | duckdb | 2 | 2.00 s | 2.00× | 100% |" in text
    for png in ("suite_times.png", "scaling.png", "throughput_per_worker.png"):
        assert (tmp_path / "out" / png).stat().st_size > 1000
    assert json.loads(results.read_text().splitlines()[0])["kind"] == "suite"
