"""Workers keep glibc's dynamic mmap threshold, and trim their heaps only when full."""

from __future__ import annotations

import os
import platform
import time

import pytest
from distributed import Client, LocalCluster

import cluster
from cluster import allocator


def test_local_cluster_workers_start_without_a_malloc_trim_threshold(monkeypatch):
    # distributed's default (65536) would fix glibc's mmap threshold at 128 KiB
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with cluster.start(backend="cpu", n_workers=1, threads_per_worker=1,
                       dashboard_address=":0") as handle:
        seen = handle.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        plugins = handle.client.run(lambda dask_worker: list(dask_worker.plugins))
    assert list(seen.values()) == [None]
    assert all(allocator.TrimWhenFull.name in names for names in plugins.values())


def trims_within(memory_limit: str | int, seconds: float, monkeypatch) -> int:
    """How often a worker of this process with ``memory_limit`` trims in ``seconds``."""
    calls = []
    monkeypatch.setattr(allocator, "malloc_trim", lambda: calls.append)
    with LocalCluster(n_workers=1, processes=False, memory_limit=memory_limit,
                      dashboard_address=":0") as local, Client(local) as client:
        client.register_plugin(allocator.TrimWhenFull())
        time.sleep(seconds)
    return len(calls)


def test_a_worker_above_its_memory_target_trims_its_heaps(monkeypatch):
    # this test process holds far more than 60 % of 64 MiB
    assert trims_within("64MiB", 0.6, monkeypatch) >= 2


@pytest.mark.parametrize("memory_limit", [0, "1000TiB"], ids=["no limit", "far below target"])
def test_a_worker_below_its_memory_target_or_without_a_limit_never_trims(memory_limit,
                                                                          monkeypatch):
    assert trims_within(memory_limit, 0.6, monkeypatch) == 0


def test_malloc_trim_is_found_exactly_where_the_c_library_is_glibc():
    trim = allocator.malloc_trim()
    glibc = platform.libc_ver()[0] == "glibc"
    assert (trim is not None) == glibc
    assert not glibc or trim(0) in (0, 1)  # 1: memory was given back
