"""Shared fixtures: a 2-process CPU cluster, and skipping `gpu` tests where no GPU is usable."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from pathlib import Path

import dask
import pytest

import cluster

# Clusters started by tests take any free dashboard port, never a user's 8787.
dask.config.set({"govgrid.cluster.dashboard-address": ":0"})

DASK = str(Path(sys.executable).with_name("dask"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    probe = cluster.probe_gpu()
    if probe.usable:
        return
    skip = pytest.mark.skip(reason=f"needs a GPU: {probe.problem}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def cpu_cluster(workers: int) -> cluster.Cluster:
    """A local CPU cluster of ``workers`` single-threaded worker processes."""
    return cluster.start(backend="cpu", n_workers=workers, threads_per_worker=1)


@pytest.fixture(scope="session")
def local_cluster():
    """A local CPU cluster of two worker processes, shared by the session."""
    with cpu_cluster(2) as handle:
        yield handle


@pytest.fixture(scope="session")
def one_worker_cluster():
    """A local CPU cluster of one worker process, shared by the session."""
    with cpu_cluster(1) as handle:
        yield handle


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dead_address() -> str:
    """A scheduler address on this machine where nothing listens."""
    return f"tcp://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def dask_scheduler(tmp_path_factory):
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    scheduler_file = tmp_path_factory.mktemp("scheduler") / "scheduler.json"
    address = f"tcp://127.0.0.1:{free_port()}"
    common = ["--no-dashboard"]
    procs = [subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
         "--scheduler-file", str(scheduler_file), *common],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )]
    procs += [subprocess.Popen(
        [DASK, "worker", address, "--nthreads", "1", "--host", "127.0.0.1", *common],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ) for _ in range(2)]
    try:
        yield address, scheduler_file
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
