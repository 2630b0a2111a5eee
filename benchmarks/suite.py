"""The suite: the four jobs on every engine, outputs checked equal before any time counts.

The reference engine (DuckDB when present, else the first) runs first; every other engine's
first run of a job is its warm-up and is compared with the reference's outputs. A mismatch
is reported and recorded, not timed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.compare import compare_outputs
from benchmarks.engines import open_engine
from benchmarks.engines.base import Engine, Outputs
from benchmarks.runner import (
    append_records,
    format_seconds,
    make_record,
    measure,
    parameter_table,
)
from compute.generate import RESIDENTS_PER_SCALE
from compute.jobs import JOBS
from compute.tables import Catalog

JOB_TABLES = {
    "verify": ("residents", "insured_persons", "medical_insured"),
    "eligibility": ("residents", "deaths", "tax_returns", "benefit_payments"),
    "integrity": ("benefit_payments", "residents", "deaths", "enterprises", "tax_returns"),
    "rollup": ("residents", "deaths", "enterprises"),
}
PREFERRED_REFERENCE = "duckdb"


def data_volume(catalog: Catalog, job: str) -> tuple[int, int]:
    """Rows and Parquet bytes of the tables ``job`` reads: the data it processes."""
    entries = [catalog.table(table) for table in JOB_TABLES[job]]
    return sum(e.rows for e in entries), sum(e.bytes for e in entries)


def engine_label(engine: str | type[Engine]) -> str:
    return engine if isinstance(engine, str) else engine.name


def run_suite(
    data: str | os.PathLike[str],
    engines: Sequence[str | type[Engine]],
    jobs: Sequence[str] = tuple(JOBS),
    repeat: int = 3,
    workers: int = 2,
    threads_per_worker: int = 1,
    scheduler: str | None = None,
    backend: str = "auto",
    results: str | os.PathLike[str] | None = None,
    kind: str = "suite",
    extra: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run ``jobs`` on ``engines``; return (and append to ``results``) one record each."""
    catalog = Catalog.load(data)
    residents = catalog.table("residents").rows
    labels = [engine_label(e) for e in engines]
    reference = PREFERRED_REFERENCE if PREFERRED_REFERENCE in labels else labels[0]
    ordered = sorted(engines, key=lambda e: engine_label(e) != reference)
    print(parameter_table({
        "benchmark": kind, "data": Path(data).resolve(), "residents": f"{residents:,}",
        "scale": residents / RESIDENTS_PER_SCALE, "engines": ", ".join(labels),
        "reference": reference, "jobs": ", ".join(jobs), "repeat": repeat,
        "workers": workers, "threads per worker": threads_per_worker,
        "scheduler": scheduler or "local", "backend": backend, **(extra or {}),
    }, f"govgrid bench {kind}"), flush=True)
    expected: dict[str, Outputs] = {}
    records = []
    for engine_spec in ordered:
        with open_engine(engine_spec, data, workers, threads_per_worker, scheduler,
                         backend) as engine:
            for job in jobs:
                record = _run_job(engine, job, repeat, expected, reference, catalog)
                record.update(kind=kind, scale=residents / RESIDENTS_PER_SCALE,
                              residents=residents, **(extra or {}))
                append_records(results, [record])
                records.append(record)
    print(summary_table(records))
    return records


def _run_job(
    engine: Engine, job: str, repeat: int, expected: dict[str, Outputs], reference: str,
    catalog: Catalog,
) -> dict[str, Any]:
    params = JOBS[job].params()
    rows, size = data_volume(catalog, job)
    fields = dict(engine=engine.name, job=job, backend=engine.backend, workers=engine.workers,
                  threads=engine.threads, repeat=repeat, rows=rows, bytes=size,
                  params=params.as_dict())
    try:
        outputs = engine.run(job, params)  # the warm-up, and what is checked
    except Exception as exc:  # any engine's failure is a result to report, not a crash
        print(f"{engine.name:8} {job:12} ERROR {type(exc).__name__}: {exc}", flush=True)
        return make_record("suite", status="error",
                           detail=f"{type(exc).__name__}: {exc}", **fields)
    if engine.name == reference:
        expected[job] = outputs
    elif job not in expected:
        print(f"{engine.name:8} {job:12} UNCHECKED: the reference failed", flush=True)
        return make_record("suite", status="unchecked", detail="reference failed", **fields)
    differences = compare_outputs(outputs, expected[job])
    if differences:
        detail = "\n".join(str(d) for d in differences)
        print(f"{engine.name:8} {job:12} MISMATCH with {reference}, not timed:\n{detail}",
              flush=True)
        return make_record("suite", status="mismatch", detail=detail, **fields)
    timing = measure(lambda: engine.run(job, params), repeat, warmup=False)
    print(f"{engine.name:8} {job:12} median {format_seconds(timing.median)}  "
          f"min {format_seconds(min(timing.times))}  max {format_seconds(max(timing.times))}  "
          f"{size / timing.median / engine.workers / 2**20:,.1f} MiB/s per worker  "
          f"peak {timing.peak_memory / 2**30:.2f} GiB  CPU per run: "
          f"{timing.cpu_this_process:.2f} s this process, "
          f"{timing.cpu_child_processes:.2f} s workers", flush=True)
    return make_record("suite", timing, status="ok", **fields, **engine.last_run)


def summary_table(records: Sequence[Mapping[str, Any]]) -> str:
    """Median seconds per job (rows) and engine (columns), with the suite total; '-' untimed."""
    engines = list(dict.fromkeys(r["engine"] for r in records))
    jobs = list(dict.fromkeys(r["job"] for r in records))
    median = {(r["engine"], r["job"]): r.get("median") for r in records}
    lines = ["| job | " + " | ".join(engines) + " |", "|---" * (len(engines) + 1) + "|"]
    for job in jobs:
        cells = [_cell(median.get((e, job))) for e in engines]
        lines.append(f"| {job} | " + " | ".join(cells) + " |")
    totals = []
    for e in engines:
        values = [median.get((e, job)) for job in jobs]
        totals.append(_cell(sum(values)) if None not in values else "-")
    lines.append("| **total** | " + " | ".join(totals) + " |")
    return "\n".join(lines)


def _cell(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"
