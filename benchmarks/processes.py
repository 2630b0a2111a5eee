"""Whole processes, as a command-line user starts them: ``govgrid run JOB`` against a running
cluster, beside a DuckDB process running the same job, and ``govgrid --help``.

The suite times jobs inside one long-lived client; this times what a user waits for: the
interpreter's start, imports, connecting, planning, computing, writing the outputs and exit.
Without a scheduler address, one ``dask scheduler`` and ``workers`` ``dask worker`` processes
are started first and kept for every run, as a shared cluster would be. Each command runs once
untimed, then ``repeat`` times; the median is reported. CPU seconds of the timed command itself
(its process and any children it waited for) are recorded as ``cpu_command``.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from benchmarks.runner import (
    append_records,
    format_seconds,
    make_record,
    measure,
    parameter_table,
)
from benchmarks.suite import data_volume, summary_table
from compute.generate import RESIDENTS_PER_SCALE
from compute.jobs import JOBS
from compute.tables import Catalog

START_TIMEOUT = 60.0  # seconds for the scheduler and every worker to come up
HELP_JOB = "--help"  # the job column of the `govgrid --help` record


def govgrid_command() -> list[str]:
    """``govgrid`` as installed beside this interpreter (else the same module through -m)."""
    script = shutil.which("govgrid", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "compute.cli"]


@contextmanager
def dask_cluster(workers: int, threads_per_worker: int) -> Iterator[str]:
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes; yields the address."""
    from distributed import Client

    with tempfile.TemporaryDirectory(prefix="govgrid-bench-cluster-") as tmp:
        scheduler_file = str(Path(tmp) / "scheduler.json")
        log = (Path(tmp) / "cluster.log").open("w")
        dask = [sys.executable, "-m", "dask"]
        processes = [subprocess.Popen(
            [*dask, "scheduler", "--scheduler-file", scheduler_file, "--port", "0",
             "--dashboard-address", ":0"], stdout=log, stderr=subprocess.STDOUT,
        )]
        try:
            processes.append(subprocess.Popen(
                [*dask, "worker", "--scheduler-file", scheduler_file, "--nworkers",
                 str(workers), "--nthreads", str(threads_per_worker), "--local-directory", tmp,
                 "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT,
            ))
            try:
                _wait_for_file(scheduler_file, START_TIMEOUT)
                with Client(scheduler_file=scheduler_file, timeout=START_TIMEOUT) as client:
                    client.wait_for_workers(workers, timeout=START_TIMEOUT)
                    address = client.scheduler.address
            except (OSError, TimeoutError) as exc:
                raise RuntimeError(f"the Dask cluster did not start: {exc}\n"
                                   + (Path(tmp) / "cluster.log").read_text()[-2000:]) from exc
            yield address
        finally:
            for process in reversed(processes):  # workers first, then the scheduler
                process.terminate()
            for process in reversed(processes):
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            log.close()


def cluster_size(address: str) -> tuple[int, int]:
    """Workers and threads in total of the cluster at ``address``."""
    from distributed import Client

    with Client(address, timeout=START_TIMEOUT) as client:
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return len(workers), sum(worker["nthreads"] for worker in workers)


def _wait_for_file(path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no scheduler file {path} after {timeout:g} s")
        time.sleep(0.05)


def run_processes(
    data: str | os.PathLike[str],
    jobs: Sequence[str] = tuple(JOBS),
    workers: int = 2,
    threads_per_worker: int = 1,
    repeat: int = 3,
    scheduler: str | None = None,
    results: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Time each job as a ``govgrid run`` process and as a DuckDB process with as many threads
    as the cluster has, and ``govgrid --help``; print a table and return (and append to
    ``results``) one record each. ``workers`` and ``threads_per_worker`` size the cluster
    started when no ``scheduler`` is given."""
    catalog = Catalog.load(data)
    residents = catalog.table("residents").rows
    common = {"kind": "cli", "scale": residents / RESIDENTS_PER_SCALE, "residents": residents}
    with tempfile.TemporaryDirectory(prefix="govgrid-bench-out-") as out, (
        nullcontext(scheduler) if scheduler else dask_cluster(workers, threads_per_worker)
    ) as address:
        workers, threads = cluster_size(address)
        print(parameter_table({
            "benchmark": "cli (whole processes)", "data": Path(data).resolve(),
            "residents": f"{residents:,}", "jobs": ", ".join(jobs), "repeat": repeat,
            "scheduler": address if scheduler else f"{address} (dask scheduler, started)",
            "workers": workers, "threads": threads, "duckdb threads": threads,
            "govgrid": " ".join(govgrid_command()),
        }, "govgrid bench cli"), flush=True)
        records = [_time_command(
            [*govgrid_command(), "--help"], repeat, engine="govgrid", job=HELP_JOB, workers=0,
            threads=1, **common,
        )]
        for job in jobs:
            rows, size = data_volume(catalog, job)
            volume = {"rows": rows, "bytes": size, **common}
            records.append(_time_command(
                [*govgrid_command(), "run", job, "--data", str(data), "--out", f"{out}/govgrid",
                 "--overwrite", "--scheduler", address],
                repeat, engine="govgrid", job=job, workers=workers, threads=threads,
                scheduler=address, **volume,
            ))
            records.append(_time_command(
                [sys.executable, "-m", "benchmarks.engines.duckdb_sql_job", job, str(data),
                 "--out", f"{out}/duckdb", "--threads", str(threads)],
                repeat, engine="duckdb", job=job, workers=1, threads=threads, **volume,
            ))
    append_records(results, records)
    print(process_table(records))
    return records


def _time_command(command: list[str], repeat: int, **fields: Any) -> dict[str, Any]:
    """Run ``command`` once untimed, then ``repeat`` times timed; one record."""
    label = f"{fields['engine']:8} {fields['job']:12}"
    try:
        _run(command)  # warm-up: file cache, __pycache__, the cluster's first imports
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        timing = measure(lambda: _run(command), repeat, warmup=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    except subprocess.CalledProcessError as exc:
        detail = f"exit {exc.returncode}: {exc.stderr.strip()[-2000:]}"
        print(f"{label} ERROR {detail}", flush=True)
        return make_record(status="error", detail=detail, command=command, **fields)
    cpu = ((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)) / repeat
    print(f"{label} median {format_seconds(timing.median)}  min "
          f"{format_seconds(min(timing.times))}  max {format_seconds(max(timing.times))}  "
          f"CPU of the command {cpu:.2f} s", flush=True)
    return make_record(timing=timing, status="ok", command=command, cpu_command=cpu, **fields)


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   text=True)


def process_table(records: Sequence[Mapping[str, Any]]) -> str:
    """Median seconds of each job's process per engine, then ``govgrid --help``'s."""
    jobs = [r for r in records if r["job"] != HELP_JOB]
    lines = [summary_table(jobs)] if jobs else []
    for r in records:
        if r["job"] == HELP_JOB:
            seconds = f"{r['median']:.2f} s" if r.get("median") else r["status"]
            lines.append(f"\n`govgrid --help`: {seconds}")
    return "\n".join(lines)
