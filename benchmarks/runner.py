"""The one runner every benchmark uses (after dask-cuda's ``execute_benchmark``).

Inputs are prepared before timing, a warm-up is discarded, only the operation is inside the
timer; repeats give median, min and max; peak memory is sampled during the timed runs, and
CPU seconds per run are split between this process (for a local cluster: the client and the
scheduler) and its child processes (the local workers), so a run shows what its control
plane costs beside the work. A
key | value table of parameters is printed first, and every measurement is appended to a
JSON-lines file (never overwritten).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from benchmarks.environment import environment

SAMPLE_SECONDS = 0.05


@dataclass(frozen=True)
class Timing:
    """Wall times of the timed repeats, and the peak memory seen during them."""

    times: tuple[float, ...]
    peak_memory: int
    cpu_this_process: float  # CPU seconds per run: the client and, when local, the scheduler
    cpu_child_processes: float  # CPU seconds per run: a local cluster's worker processes

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def as_dict(self) -> dict[str, Any]:
        return {"times": list(self.times), "median": self.median, "min": min(self.times),
                "max": max(self.times), "peak_memory": self.peak_memory,
                "cpu_this_process": self.cpu_this_process,
                "cpu_child_processes": self.cpu_child_processes}


def _over_process_tree(read: Callable[[psutil.Process], float]) -> tuple[float, float]:
    """``read`` of this process, and summed over its live children (a local cluster's workers)."""
    me = psutil.Process()
    children = 0.0
    for child in me.children(recursive=True):
        try:
            children += read(child)
        except psutil.Error:
            continue  # a child that exited between listing and reading
    return read(me), children


def process_tree_rss() -> int:
    """Resident memory of this process and all its children."""
    return int(sum(_over_process_tree(lambda process: process.memory_info().rss)))


def process_tree_cpu() -> tuple[float, float]:
    """CPU seconds (user + system) so far of this process, and of its live children."""
    return _over_process_tree(lambda process: sum(process.cpu_times()[:2]))


class MemorySampler:
    """Samples ``probe`` in a thread while in the ``with`` block; ``peak`` is the largest."""

    def __init__(self, probe: Callable[[], int] = process_tree_rss) -> None:
        self.probe = probe
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.probe())
            if self._stop.wait(SAMPLE_SECONDS):
                return

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.probe())


def measure(operation: Callable[[], object], repeat: int, warmup: bool = True) -> Timing:
    """Time ``repeat`` runs of ``operation`` (after one discarded run when ``warmup``)."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, not {repeat}")
    if warmup:
        operation()
    times = []
    own_before, children_before = process_tree_cpu()
    with MemorySampler() as memory:
        for _ in range(repeat):
            start = time.perf_counter()
            operation()
            times.append(time.perf_counter() - start)
    own_after, children_after = process_tree_cpu()
    return Timing(tuple(times), memory.peak, (own_after - own_before) / repeat,
                  (children_after - children_before) / repeat)


def parameter_table(parameters: Mapping[str, object], title: str) -> str:
    """A key | value table, as every run prints before it starts."""
    width = max(len(key) for key in parameters)
    lines = [title, "=" * len(title)]
    lines += [f"{key:<{width}} | {value}" for key, value in parameters.items()]
    return "\n".join(lines)


def make_record(kind: str, timing: Timing | None = None, **fields: Any) -> dict[str, Any]:
    """One JSON line: what ran, its timing (absent when it was not timed), the environment."""
    record = {"kind": kind, **fields}
    if timing is not None:
        record.update(timing.as_dict())
    record["timestamp"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record["environment"] = environment()
    return record


def append_records(path: str | os.PathLike[str] | None, records: Iterable[dict[str, Any]]) -> None:
    """Append ``records`` as JSON lines to ``path`` (nothing when ``path`` is None)."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record, default=str) + "\n")


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every record of a JSON-lines results file."""
    with Path(path).open(encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def format_seconds(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"
