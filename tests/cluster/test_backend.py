"""The one backend switch: auto, gpu without a GPU, joined clusters, Dask config."""

from __future__ import annotations

import copy

import dask
import pytest

import cluster
from cluster import backend as backends
from cluster.backend import GpuProbe

A100 = (("NVIDIA A100", 80 * 2**30),)


def test_auto_picks_cpu_without_a_gpu():
    assert not cluster.probe_gpu().usable
    assert cluster.resolve("auto") == "cpu"


def test_gpu_without_a_gpu_raises_and_says_what_is_missing():
    probe = cluster.probe_gpu()
    with pytest.raises(cluster.BackendUnavailable, match="backend='gpu' was requested") as err:
        cluster.resolve("gpu")
    assert probe.problem in str(err.value)


def test_start_gpu_without_a_gpu_raises_before_starting_anything():
    with pytest.raises(cluster.BackendUnavailable, match=r"cupy|cudf|CUDA"):
        cluster.start(backend="gpu")


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


def test_settings_come_from_dask_config_and_are_validated():
    with dask.config.set({"govgrid.cluster.n-workers": 3, "govgrid.cluster.backend": "cpu"}):
        settings = cluster.ClusterSettings.from_config(threads_per_worker=2)
    assert (settings.backend, settings.n_workers, settings.threads_per_worker) == ("cpu", 3, 2)
    with pytest.raises(ValueError, match="n_workers must be a positive integer"):
        cluster.ClusterSettings(n_workers=0)


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
