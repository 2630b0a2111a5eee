"""Sizing arithmetic on fixed inputs, every expected number worked out by hand."""

from __future__ import annotations

import pytest

from benchmarks.sizing import Point, fit_job, points_from_records, recommend

# time = 2 s + rows / (workers × 1e6 rows/s); memory per worker = 1e8 B + 100 B × rows/workers.
POINTS = [
    Point(rows=4_000_000, workers=1, seconds=6.0, peak_memory=500_000_000, residents=1_000_000),
    Point(rows=4_000_000, workers=2, seconds=4.0, peak_memory=600_000_000, residents=1_000_000),
    Point(rows=8_000_000, workers=2, seconds=6.0, peak_memory=1_000_000_000,
          residents=2_000_000),
]


def test_fit_recovers_the_model():
    fit = fit_job("verify", POINTS)
    assert fit.overhead == pytest.approx(2.0)
    assert fit.throughput == pytest.approx(1e6)
    assert fit.memory_base == pytest.approx(1e8)
    assert fit.bytes_per_row == pytest.approx(100.0)
    assert fit.rows_per_resident == pytest.approx(4.0)
    assert fit.error == pytest.approx(0.0, abs=1e-12)


def test_one_size_fits_through_the_origin():
    fit = fit_job("rollup", [Point(3_000_000, 3, 4.0, 900, 1_000_000)])
    assert (fit.overhead, fit.throughput) == (0.0, pytest.approx(250_000.0))


def test_recommendation():
    fit = fit_job("verify", POINTS)
    # 1e9 residents -> 4e9 rows; 60 s deadline -> 4e9 / (1e6 × 58) = 68.97 -> 69 workers.
    advice = recommend({"verify": fit}, residents=1e9, deadline=60, headroom=1.5)
    assert advice.workers == 69
    assert advice.predicted["verify"] == pytest.approx(2 + 4e9 / 69e6)
    # (1e8 + 100 × 4e9 / 69) × 1.5
    assert advice.memory_per_worker == pytest.approx((1e8 + 4e11 / 69) * 1.5)
    slow = fit_job("slow", [Point(1_000_000, 1, 70.0, 1, 1_000_000),
                            Point(2_000_000, 1, 71.0, 1, 1_000_000)])
    assert recommend({"slow": slow}, 1e6, deadline=60).workers is None


def test_gpu_results_are_preferred():
    record = {"engine": "govgrid", "status": "ok", "kind": "suite", "job": "verify",
              "rows": 10, "workers": 1, "median": 1.0, "peak_memory": 1, "residents": 5}
    records = [{**record, "backend": "cpu"}, {**record, "backend": "gpu", "median": 0.5},
               {**record, "engine": "duckdb", "backend": "gpu"}]
    backend, points = points_from_records(records)
    assert backend == "gpu" and [p.seconds for p in points["verify"]] == [0.5]
    assert points_from_records(records, "cpu")[1]["verify"][0].seconds == 1.0
