"""Memory: the jobs on a local cluster whose workers have a memory limit, reporting time, each
worker's peak resident memory and the bytes it spilled to disk.

A worker's peak is sampled from its process every 50 ms during the timed runs (the memory
Dask reports arrives with heartbeats, too seldom for short jobs). Bytes spilled are what the
worker's spill buffer wrote to disk (distributed's cumulative ``disk-write`` metric), per run.
GPU workers spill device memory through cuDF instead: their spilled bytes are not known here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psutil

import cluster
from benchmarks.runner import (
    MemorySampler,
    append_records,
    format_seconds,
    make_record,
    measure,
    parameter_table,
)
from benchmarks.suite import data_volume
from compute.generate import RESIDENTS_PER_SCALE
from compute.jobs import JOBS
from compute.session import Session, spilled_bytes
from compute.tables import Catalog


def run_memory(
    data: str | os.PathLike[str],
    memory_limit: str | int,
    workers: int = 2,
    jobs: Sequence[str] = tuple(JOBS),
    repeat: int = 1,
    threads_per_worker: int = 1,
    backend: str = "auto",
    results: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Run ``jobs`` on ``workers`` workers of ``memory_limit`` each; print a table and return
    (and append to ``results``) one record per job."""
    catalog = Catalog.load(data)
    residents = catalog.table("residents").rows
    records = []
    with cluster.start(backend=backend, n_workers=workers, threads_per_worker=threads_per_worker,
                       memory_limit=memory_limit, dashboard_address=":0") as handle:
        info = handle.info()
        print(parameter_table({
            "benchmark": "memory", "data": Path(data).resolve(), "residents": f"{residents:,}",
            "jobs": ", ".join(jobs), "repeat": repeat, "workers": workers,
            "threads per worker": threads_per_worker, "backend": handle.backend,
            "memory limit per worker": memory_limit,
            "memory limit (bytes)": ", ".join(f"{w.memory_limit:,}" for w in info.workers),
        }, "govgrid bench memory"), flush=True)
        session = Session(catalog, handle)
        for job in jobs:
            rows, size = data_volume(catalog, job)
            record = _run_job(session, job, repeat)
            record.update(kind="memory", job=job, engine="govgrid", backend=handle.backend,
                          workers=workers, threads=workers * threads_per_worker,
                          memory_limit=memory_limit, repeat=repeat, rows=rows, bytes=size,
                          scale=residents / RESIDENTS_PER_SCALE, residents=residents)
            append_records(results, [record])
            records.append(record)
    print(memory_table(records))
    return records


def _run_job(session: Session, job: str, repeat: int) -> dict[str, Any]:
    params = JOBS[job].params()

    def operation() -> None:
        session.run(JOBS[job].build(session, params), show_progress=False)

    client = session.cluster.client
    try:
        operation()  # warm-up, untimed
        pids = client.run(os.getpid)
        before = client.run(spilled_bytes)
        samplers = {address: MemorySampler(_rss_of(pid)) for address, pid in pids.items()}
        with ExitStack() as stack:
            for sampler in samplers.values():
                stack.enter_context(sampler)
            timing = measure(operation, repeat, warmup=False)
        after = client.run(spilled_bytes)
    except Exception as exc:  # a job killed by its memory limit is a result, not a crash
        print(f"{job:12} ERROR {type(exc).__name__}: {exc}", flush=True)
        return make_record("memory", status="error", detail=f"{type(exc).__name__}: {exc}")
    peaks = {address: sampler.peak for address, sampler in samplers.items()}
    spilled = {address: None if after[address] is None else
               (after[address] - (before.get(address) or 0)) / repeat for address in after}
    record = make_record("memory", timing, status="ok", worker_peak_memory=peaks,
                         spilled_bytes=spilled)
    print(f"{job:12} median {format_seconds(timing.median)}  peak per worker "
          f"{_gib(max(peaks.values()))}  spilled per run {_spill_cell(spilled)}", flush=True)
    return record


def _rss_of(pid: int) -> Any:
    process = psutil.Process(pid)

    def rss() -> int:
        try:
            return process.memory_info().rss
        except psutil.Error:  # the nanny restarted a worker that went over its limit
            return 0

    return rss


def _gib(size: float) -> str:
    return f"{size / 2**30:.2f} GiB"


def _spill_cell(spilled: Mapping[str, float | None]) -> str:
    known = [value for value in spilled.values() if value is not None]
    return f"{sum(known) / 2**20:,.1f} MiB" if known else "unknown"


def memory_table(records: Sequence[Mapping[str, Any]]) -> str:
    """Per job: median time, the largest worker peak, bytes spilled per run over all workers."""
    lines = ["| job | memory limit | workers | median | peak memory per worker (max) "
             "| spilled per run (all workers) |", "|---|---|---|---|---|---|"]
    for r in records:
        if r["status"] != "ok":
            lines.append(f"| {r['job']} | {r['memory_limit']} | {r['workers']} | "
                         f"{r['status']}: {r['detail'][:60]} | - | - |")
            continue
        lines.append(f"| {r['job']} | {r['memory_limit']} | {r['workers']} | "
                     f"{r['median']:.2f} s | {_gib(max(r['worker_peak_memory'].values()))} | "
                     f"{_spill_cell(r['spilled_bytes'])} |")
    return "\n".join(lines)
