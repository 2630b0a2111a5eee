"""Scaling: the suite over 1..N workers, at fixed scale (strong) and at scale ∝ workers (weak).

Strong efficiency at w workers is T(1) / (w · T(w)); weak efficiency is T(1) / T(w), where T
is the suite's total median time. Weak-scaling data are generated once into a cache directory.
Each record keeps the step's worker count as ``step_workers``: a single-process engine (DuckDB,
Polars, pandas) records one worker with ``w`` threads, and is compared step by step the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.suite import run_suite
from compute.generate import generate
from compute.jobs import JOBS

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "govgrid" / "bench"


def cached_data(scale: float, seed: int = 0, cache: str | os.PathLike[str] = DEFAULT_CACHE) -> Path:
    """The generated dataset of ``scale`` and ``seed`` under ``cache``, made when absent."""
    path = Path(cache) / f"scale-{scale:g}-seed-{seed}"
    if not path.exists():
        print(f"generating scale {scale:g} (seed {seed}) into {path}", flush=True)
        generate(path, scale=scale, seed=seed)
    return path


def run_scaling(
    scale: float, max_workers: int, engines: Sequence[str] = ("govgrid",), repeat: int = 3,
    threads_per_worker: int = 1, backend: str = "auto", seed: int = 0,
    cache: str | os.PathLike[str] = DEFAULT_CACHE, results: str | os.PathLike[str] | None = None,
    modes: Sequence[str] = ("strong", "weak"),
) -> list[dict[str, Any]]:
    """Run the suite for 1..``max_workers`` workers in each of ``modes``; print efficiencies."""
    records = []
    for mode in modes:
        for workers in range(1, max_workers + 1):
            data_scale = scale * workers if mode == "weak" else scale
            records += run_suite(
                cached_data(data_scale, seed, cache), engines, repeat=repeat, workers=workers,
                threads_per_worker=threads_per_worker, backend=backend, results=results,
                kind=f"scaling-{mode}", extra={"base_scale": scale, "step_workers": workers},
            )
    print(efficiency_table(records))
    return records


def suite_totals(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, int], float]:
    """Total median seconds of the full suite per (kind, engine, step workers); partial runs
    left out."""
    times: dict[tuple[str, str, int], dict[str, float]] = {}
    for r in records:
        if r.get("status") == "ok":
            step = r.get("step_workers", r["workers"])
            times.setdefault((r["kind"], r["engine"], step), {})[r["job"]] = r["median"]
    return {key: sum(jobs.values()) for key, jobs in times.items() if len(jobs) == len(JOBS)}


def efficiencies(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per kind, engine and workers: suite total, speed-up over one worker and efficiency."""
    totals = suite_totals(records)
    rows = []
    for (kind, engine, workers), total in sorted(totals.items()):
        one = totals.get((kind, engine, 1))
        if one is None:
            continue
        speedup = one / total
        weak = kind.endswith("weak")
        rows.append({"kind": kind, "engine": engine, "workers": workers, "total": total,
                     "speedup": speedup, "efficiency": speedup if weak else speedup / workers})
    return rows


def efficiency_table(records: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| scaling | engine | workers | suite total | speed-up | efficiency |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['kind'].removeprefix('scaling-')} | {r['engine']} | {r['workers']} | "
              f"{r['total']:.2f} s | {r['speedup']:.2f}× | {r['efficiency']:.0%} |"
              for r in efficiencies(records)]
    return "\n".join(lines)
