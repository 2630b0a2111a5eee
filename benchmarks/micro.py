"""Merge and group-by micro-benchmarks, after dask-cuda's local_cudf_merge / local_cudf_groupby.

Synthetic int64 keys and float64 payloads in ``chunks`` partitions of ``chunk_size`` rows,
made on the workers on whichever backend the cluster has (Dask's ``to_backend``), persisted
before timing. Data processed is the bytes of the inputs; throughput is that over wall time,
per run and per worker.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import wait

import cluster
from benchmarks.runner import (
    append_records,
    format_seconds,
    make_record,
    measure,
    parameter_table,
)
from cluster.backend import DATAFRAME_BACKEND

MERGE_ROW_BYTES = 16  # an int64 key and a float64 payload
GROUPBY_ROW_BYTES = 24  # an int64 key and two float64 values


@dataclass(frozen=True)
class MergeConfig:
    chunk_size: int = 1_000_000
    base_chunks: int = 4
    other_chunks: int = 4
    frac_match: float = 0.3
    strategy: str = "shuffle"  # or "broadcast": the other side sent to every partition
    repeat: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in ("shuffle", "broadcast"):
            raise ValueError(f"strategy must be 'shuffle' or 'broadcast', not {self.strategy!r}")
        if not 0 <= self.frac_match <= 1:
            raise ValueError(f"frac_match must lie in [0, 1], not {self.frac_match}")


@dataclass(frozen=True)
class GroupbyConfig:
    chunk_size: int = 1_000_000
    chunks: int = 4
    unique_ratio: float = 0.01  # distinct keys / rows
    split_out: int = 1
    repeat: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.unique_ratio <= 1:
            raise ValueError(f"unique_ratio must lie in (0, 1], not {self.unique_ratio}")


def _chunks(count: int, make: Callable[[int], pd.DataFrame], backend: str) -> dd.DataFrame:
    frame = dd.from_map(make, range(count))
    return frame.to_backend(DATAFRAME_BACKEND[backend])


def merge_inputs(config: MergeConfig, backend: str) -> tuple[dd.DataFrame, dd.DataFrame]:
    """Left: keys matching the other side with ``frac_match``; other: unique keys."""
    other_rows = config.chunk_size * config.other_chunks

    def other(i: int) -> pd.DataFrame:
        start = i * config.chunk_size
        rng = np.random.default_rng((config.seed, 1, i))
        keys = rng.permutation(np.arange(start, start + config.chunk_size, dtype=np.int64))
        return pd.DataFrame({"key": keys, "payload_other": rng.random(config.chunk_size)})

    def left(i: int) -> pd.DataFrame:
        rng = np.random.default_rng((config.seed, 0, i))
        matched = rng.random(config.chunk_size) < config.frac_match
        keys = np.where(matched, rng.integers(0, other_rows, config.chunk_size),
                        rng.integers(other_rows, 2 * other_rows, config.chunk_size))
        return pd.DataFrame({"key": keys, "payload": rng.random(config.chunk_size)})

    return (_chunks(config.base_chunks, left, backend),
            _chunks(config.other_chunks, other, backend))


def groupby_input(config: GroupbyConfig, backend: str) -> dd.DataFrame:
    distinct = max(1, int(config.chunk_size * config.chunks * config.unique_ratio))

    def chunk(i: int) -> pd.DataFrame:
        rng = np.random.default_rng((config.seed, i))
        return pd.DataFrame({"key": rng.integers(0, distinct, config.chunk_size),
                             "x": rng.random(config.chunk_size),
                             "y": rng.random(config.chunk_size)})

    return _chunks(config.chunks, chunk, backend)


def run_merge(handle: cluster.Cluster, config: MergeConfig, results: str | None = None) -> dict:
    """Time ``left.merge(other)`` with the chosen strategy; print and record it."""
    left, other = (frame.persist() for frame in merge_inputs(config, handle.backend))
    wait([left, other])
    rows = config.chunk_size * (config.base_chunks + config.other_chunks)
    broadcast = config.strategy == "broadcast"

    def operation() -> None:
        merged = left.merge(other, on="key", how="inner", broadcast=broadcast).persist()
        wait(merged)
        del merged

    return _report(handle, "merge", asdict(config), rows, rows * MERGE_ROW_BYTES, operation,
                   config.repeat, results)


def run_groupby(
    handle: cluster.Cluster, config: GroupbyConfig, results: str | None = None
) -> dict:
    """Time a sum/mean/count group-by with ``split_out`` output partitions."""
    frame = groupby_input(config, handle.backend).persist()
    wait(frame)
    rows = config.chunk_size * config.chunks

    def operation() -> None:
        grouped = frame.groupby("key").agg(
            {"x": ["sum", "mean", "count"], "y": ["sum", "max"]}, split_out=config.split_out
        ).persist()
        wait(grouped)
        del grouped

    return _report(handle, "groupby", asdict(config), rows, rows * GROUPBY_ROW_BYTES, operation,
                   config.repeat, results)


def _report(
    handle: cluster.Cluster, kind: str, config: dict[str, Any], rows: int, size: int,
    operation: Callable[[], None], repeat: int, results: str | None,
) -> dict[str, Any]:
    info = handle.info()
    workers = len(info.workers)
    print(parameter_table({
        **config, "backend": handle.backend, "workers": workers, "threads": info.threads,
        "rows": f"{rows:,}", "data processed": f"{size / 2**20:,.1f} MiB",
    }, f"govgrid bench {kind}"), flush=True)
    timing = measure(operation, repeat)
    rates = [size / seconds for seconds in timing.times]
    for seconds, rate in zip(timing.times, rates, strict=True):
        print(f"wall {format_seconds(seconds)}  {rate / 2**20:,.1f} MiB/s  "
              f"{rate / workers / 2**20:,.1f} MiB/s per worker")
    mean = statistics.harmonic_mean(rates)
    spread = statistics.stdev(rates) if len(rates) > 1 else 0.0
    print(f"throughput {mean / 2**20:,.1f} ± {spread / 2**20:,.1f} MiB/s "
          f"({mean / workers / 2**20:,.1f} MiB/s per worker)", flush=True)
    record = make_record(kind, timing, engine="govgrid", job=kind, backend=handle.backend,
                         workers=workers, threads=info.threads, repeat=repeat, rows=rows,
                         bytes=size, params=config, status="ok",
                         throughput=mean, throughput_per_worker=mean / workers)
    append_records(results, [record])
    return record
