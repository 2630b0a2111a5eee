"""Sizing: fit each job's throughput per worker and memory per row, recommend a cluster.

Model, per job, over the govgrid suite and scaling records of one backend:

    time(rows, w)            = overhead + rows / (w · throughput)
    peak memory per worker   = base + bytes_per_row · rows / w

fitted by least squares on x = rows / w. Rows grow in proportion to residents (rows per
resident from the data measured). The recommendation is the fewest workers for which every
job meets the deadline, and the memory per worker they need with headroom.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_HEADROOM = 1.5  # peak memory × this: spill and skew margin


@dataclass(frozen=True)
class Point:
    """One measured run: rows processed, workers, median seconds, peak memory, residents."""

    rows: int
    workers: int
    seconds: float
    peak_memory: int
    residents: int


@dataclass(frozen=True)
class JobFit:
    job: str
    overhead: float  # seconds that do not shrink with more workers
    throughput: float  # rows per second per worker
    memory_base: float  # bytes per worker at no rows
    bytes_per_row: float  # bytes per row per worker
    rows_per_resident: float
    error: float  # root-mean-square relative error of the time fit
    points: int

    def seconds(self, rows: float, workers: int) -> float:
        return self.overhead + rows / (workers * self.throughput)

    def memory_per_worker(self, rows: float, workers: int) -> float:
        return self.memory_base + self.bytes_per_row * rows / workers


@dataclass(frozen=True)
class Recommendation:
    workers: int | None  # None when no number of workers meets the deadline
    memory_per_worker: float | None
    predicted: dict[str, float]  # seconds per job at the recommended workers
    limiting_job: str | None
    reason: str


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Intercept and slope of y over x; through the origin when x has one distinct value or
    the free fit is unphysical (a negative overhead, or y falling as x grows: noise)."""
    if len(set(x.tolist())) > 1:
        slope, intercept = np.polyfit(x, y, 1)
        if intercept >= 0 and slope > 0:
            return float(intercept), float(slope)
    return 0.0, float(np.sum(x * y) / np.sum(x * x))


def fit_job(job: str, points: Sequence[Point]) -> JobFit:
    """Fit the time and memory model of one job to its measured points."""
    if not points:
        raise ValueError(f"no measurements of job {job!r} to fit")
    x = np.array([p.rows / p.workers for p in points], dtype=float)
    seconds = np.array([p.seconds for p in points], dtype=float)
    overhead, slope = _line(x, seconds)
    memory_base, bytes_per_row = _line(
        x, np.array([p.peak_memory / p.workers for p in points], dtype=float)
    )
    predicted = overhead + slope * x
    error = float(np.sqrt(np.mean(((predicted - seconds) / seconds) ** 2)))
    rows_per_resident = float(np.mean([p.rows / p.residents for p in points]))
    return JobFit(job, overhead, 1.0 / slope, memory_base, bytes_per_row, rows_per_resident,
                  error, len(points))


def recommend(
    fits: Mapping[str, JobFit], residents: float, deadline: float,
    headroom: float = DEFAULT_HEADROOM, max_workers: int = 100_000,
) -> Recommendation:
    """Fewest workers for which every job's predicted time is within ``deadline`` seconds."""
    needed = {}
    for job, fit in fits.items():
        rows = fit.rows_per_resident * residents
        if fit.overhead >= deadline:
            return Recommendation(None, None, {}, job, (
                f"{job}: its fixed overhead of {fit.overhead:.1f} s alone exceeds the deadline"))
        needed[job] = max(1, math.ceil(rows / (fit.throughput * (deadline - fit.overhead))))
    limiting = max(needed, key=needed.get)
    workers = needed[limiting]
    if workers > max_workers:
        return Recommendation(None, None, {}, limiting,
                              f"{limiting} needs {workers:,} workers, more than {max_workers:,}")
    predicted = {job: fit.seconds(fit.rows_per_resident * residents, workers)
                 for job, fit in fits.items()}
    memory = max(fit.memory_per_worker(fit.rows_per_resident * residents, workers)
                 for fit in fits.values()) * headroom
    return Recommendation(workers, memory, predicted, limiting,
                          f"{limiting} is the slowest job at this size")


def points_from_records(
    records: Sequence[Mapping[str, Any]], backend: str | None = None
) -> tuple[str, dict[str, list[Point]]]:
    """govgrid's timed suite and scaling points per job: GPU when any, else CPU (or ``backend``)."""
    usable = [r for r in records if r.get("engine") == "govgrid" and r.get("status") == "ok"
              and (r.get("kind") == "suite" or str(r.get("kind")).startswith("scaling"))]
    if backend is None:
        backend = "gpu" if any(r["backend"] == "gpu" for r in usable) else "cpu"
    points: dict[str, list[Point]] = {}
    for r in usable:
        if r["backend"] == backend:
            points.setdefault(r["job"], []).append(
                Point(r["rows"], r["workers"], r["median"], r["peak_memory"], r["residents"])
            )
    if not points:
        raise ValueError(f"the results hold no timed govgrid suite runs on the {backend} backend")
    return backend, points
