"""The one backend switch: auto, gpu without a GPU, joined clusters, Dask config."""

from __future__ import annotations

import copy
from unittest.mock import Mock

import dask
import pytest
from dask.utils import parse_bytes

import cluster
from cluster import backend as backends
from cluster.backend import GpuProbe

A100 = (("NVIDIA A100", 80 * 2**30),)
# The tests of the machine without a GPU; a machine with one runs the `gpu` tests instead.
without_gpu = pytest.mark.skipif(cluster.probe_gpu().usable, reason="a usable GPU is present")


@without_gpu
def test_auto_picks_cpu_without_a_gpu():
    assert cluster.resolve("auto") == "cpu"


@without_gpu
def test_gpu_without_a_gpu_raises_and_says_what_is_missing():
    probe = cluster.probe_gpu()
    with pytest.raises(cluster.BackendUnavailable, match="backend='gpu' was requested") as err:
        cluster.resolve("gpu")
    assert probe.problem in str(err.value)


@without_gpu
def test_start_gpu_without_a_gpu_raises_before_starting_anything():
    with pytest.raises(cluster.BackendUnavailable, match=r"cupy|cudf|CUDA"):
        cluster.start(backend="gpu")


@pytest.mark.gpu
def test_auto_picks_the_gpu_where_one_is_usable():
    assert cluster.resolve("auto") == "gpu"


def _allocators() -> tuple[bool, str]:
    """On a worker: whether cupy allocates through RMM, and numba's memory manager."""
    import cupy
    from numba import cuda
    from rmm.allocators.cupy import rmm_cupy_allocator

    return (cupy.cuda.get_allocator() is rmm_cupy_allocator,
            type(cuda.current_context().memory_manager).__name__)


@pytest.mark.gpu
def test_gpu_cluster_workers_allocate_through_rmm():
    with cluster.start(backend="gpu", n_workers=1) as handle:
        assert handle.backend == "gpu" and cluster.current_backend() == "gpu"
        assert list(handle.client.run(_allocators).values()) == [(True, "RMMNumbaManager")]
    backends.activate("cpu")  # leave the CPU backend to the tests that follow


def test_only_gpu_workers_get_the_rmm_allocator_plugin():
    client = Mock()
    backends.prepare_workers(client, "cpu")
    client.register_plugin.assert_not_called()
    backends.prepare_workers(client, "gpu")
    (plugin,), _ = client.register_plugin.call_args
    assert isinstance(plugin, backends.RmmAllocators)


def test_resolve_follows_a_usable_probe():
    assert cluster.resolve("auto", GpuProbe(devices=A100)) == "gpu"
    assert cluster.resolve("cpu", GpuProbe(devices=A100)) == "cpu"


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match="backend must be one of"):
        cluster.resolve("tpu")


def test_joined_cluster_with_gpus_on_some_workers_only_is_refused():
    probes = [GpuProbe(devices=A100), GpuProbe(problem="no CUDA device is visible")]
    with pytest.raises(cluster.ClusterError, match="1 of 2 workers"):
        backends.resolve_for_workers("auto", probes)


def test_joined_cpu_cluster_resolves_to_cpu_or_refuses_gpu():
    probes = [GpuProbe(problem="no CUDA device is visible")] * 2
    assert backends.resolve_for_workers("auto", probes) == "cpu"
    with pytest.raises(cluster.BackendUnavailable, match="workers report: no CUDA device"):
        backends.resolve_for_workers("gpu", probes)


def test_activate_sets_dask_dataframe_backend_and_shuffle():
    with dask.config.set({}):
        backends.activate("cpu")
        assert dask.config.get("dataframe.backend") == "pandas"
        assert dask.config.get("dataframe.shuffle.method") == "p2p"
        assert cluster.current_backend() == "cpu"


def test_small_workers_shuffle_with_tasks_unless_configured():
    # P2P's shards do not spill: below p2p-min-memory a worker shuffles with tasks.
    with dask.config.set({}):
        backends.activate("cpu", worker_memory=parse_bytes("1GiB"))
        assert dask.config.get("dataframe.shuffle.method") == "tasks"
        backends.activate("cpu", worker_memory=parse_bytes("8GiB"))
        assert dask.config.get("dataframe.shuffle.method") == "p2p"
    with dask.config.set({"govgrid.shuffle.cpu": "p2p"}):
        backends.activate("cpu", worker_memory=parse_bytes("1GiB"))
        assert dask.config.get("dataframe.shuffle.method") == "p2p"
    with dask.config.set({"govgrid.shuffle.p2p-min-memory": "512MiB"}):
        backends.activate("cpu", worker_memory=parse_bytes("1GiB"))
        assert dask.config.get("dataframe.shuffle.method") == "p2p"


def test_settings_come_from_dask_config_and_are_validated():
    with dask.config.set({"govgrid.cluster.n-workers": 3, "govgrid.cluster.backend": "cpu"}):
        settings = cluster.ClusterSettings.from_config(threads_per_worker=2)
    assert (settings.backend, settings.n_workers, settings.threads_per_worker) == ("cpu", 3, 2)
    with pytest.raises(ValueError, match="n_workers must be a positive integer"):
        cluster.ClusterSettings(n_workers=0)


@pytest.mark.parametrize("bad", [0, -1.0, "many", True])
def test_a_worker_saturation_that_is_no_positive_number_is_refused(bad):
    with pytest.raises(ValueError, match="local_worker_saturation must be a positive number"):
        cluster.ClusterSettings(local_worker_saturation=bad)


def test_worker_saturation_may_be_inf_as_dask_spells_it():
    assert cluster.ClusterSettings(local_worker_saturation="inf").local_worker_saturation \
        == float("inf")


def test_settings_read_govgrid_environment_variables(monkeypatch):
    monkeypatch.setenv("DASK_GOVGRID__CLUSTER__CONNECT_TIMEOUT", "3s")
    monkeypatch.setenv("DASK_GOVGRID__CLUSTER__BACKEND", "cpu")
    saved = copy.deepcopy(dask.config.config)
    try:
        dask.config.refresh()  # re-reads the environment, as a new process would
        settings = cluster.ClusterSettings.from_config()
    finally:
        dask.config.config.clear()
        dask.config.config.update(saved)
    assert (settings.connect_timeout, settings.backend) == ("3s", "cpu")
    assert cluster.ClusterSettings.from_config().connect_timeout == "10s"
