"""Shared fixtures: a 2-process CPU cluster, and skipping `gpu` tests where no GPU is usable."""

from __future__ import annotations

import pytest

import cluster


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    probe = cluster.probe_gpu()
    if probe.usable:
        return
    skip = pytest.mark.skip(reason=f"needs a GPU: {probe.problem}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def local_cluster():
    """A local CPU cluster of two single-threaded worker processes, shared by the session."""
    with cluster.start(
        backend="cpu", n_workers=2, threads_per_worker=1, dashboard_address=":0"
    ) as handle:
        yield handle
