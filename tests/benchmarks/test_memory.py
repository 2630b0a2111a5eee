"""`govgrid bench memory`: time, each worker's peak memory and bytes spilled, as JSON lines."""

from __future__ import annotations

import dask

from benchmarks.runner import read_records
from compute.cli import main


def test_memory_bench_reports_peaks_and_spilled_bytes(tiny_data, tmp_path, capsys):
    results = tmp_path / "memory.jsonl"
    # The tiny outputs fit any limit: a spill target of a few bytes sends them all to disk.
    with dask.config.set({"distributed.worker.memory.target": 1e-6}):
        code = main(["bench", "memory", "--data", str(tiny_data), "--memory-limit", "1GiB",
                     "--workers", "2", "--jobs", "rollup", "--backend", "cpu",
                     "--results", str(results)])
    assert code == 0
    (record,) = read_records(results)
    assert record["kind"] == "memory" and record["status"] == "ok"
    assert record["job"] == "rollup" and record["memory_limit"] == "1GiB"
    assert len(record["worker_peak_memory"]) == 2
    assert all(2**20 < peak < 2**30 for peak in record["worker_peak_memory"].values())
    assert sum(record["spilled_bytes"].values()) > 0
    assert "| rollup | 1GiB | 2 |" in capsys.readouterr().out
