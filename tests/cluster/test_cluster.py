"""Local and joined clusters compute what pandas computes; dead addresses fail fast."""

from __future__ import annotations

import subprocess
import sys
import time

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import cluster
from compute.cli import main


def random_tables(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Payments keyed by person, and persons by province."""
    rng = np.random.default_rng(seed)
    people = rows // 10
    payments = pd.DataFrame({
        "person": rng.integers(0, people, rows),
        "amount": rng.gamma(2.0, 500.0, rows).round(2),
    })
    persons = pd.DataFrame({
        "person": np.arange(people),
        "province": rng.choice([11, 31, 44, 51, 65], people).astype("int32") * 10000,
    })
    return payments, persons


def join_and_group(payments: dd.DataFrame, persons: dd.DataFrame) -> dd.DataFrame:
    joined = payments.merge(persons, on="person", how="inner")
    return joined.groupby("province").agg(payments=("amount", "count"), amount=("amount", "sum"))


def expected(payments: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
    joined = payments.merge(persons, on="person")
    return joined.groupby("province").agg(payments=("amount", "count"), amount=("amount", "sum"))


def assert_join_group_matches_pandas(handle: cluster.Cluster) -> None:
    payments, persons = random_tables(20_000, seed=7)
    got = handle.client.compute(
        join_and_group(dd.from_pandas(payments, npartitions=4), dd.from_pandas(persons, 2))
    ).result()
    pd.testing.assert_frame_equal(got.sort_index(), expected(payments, persons), rtol=1e-9)


def test_local_cluster_has_two_worker_processes_and_matches_pandas(local_cluster):
    info = local_cluster.info()
    assert local_cluster.backend == "cpu" and local_cluster.owns_cluster
    assert len(info.workers) == 2 and info.threads == 2
    assert all(w.gpus == () for w in info.workers)
    assert_join_group_matches_pandas(local_cluster)


def wait_for_workers(handle: cluster.Cluster, n: int) -> None:
    handle.client.wait_for_workers(n, timeout=60)


def test_connect_to_a_real_scheduler_by_address(dask_scheduler):
    address, _ = dask_scheduler
    with cluster.connect(address, timeout="30s") as handle:
        wait_for_workers(handle, 2)
        assert handle.backend == "cpu" and not handle.owns_cluster
        assert len(handle.info().workers) == 2
        assert_join_group_matches_pandas(handle)


def test_connect_by_scheduler_file_and_closing_leaves_the_cluster_running(dask_scheduler):
    address, scheduler_file = dask_scheduler
    for _ in range(2):  # the second connect works only if the first close left it running
        with cluster.connect(str(scheduler_file), timeout="30s") as handle:
            wait_for_workers(handle, 2)
            assert handle.client.scheduler.address == address


def test_cli_cluster_info_reports_the_joined_workers(dask_scheduler, capsys):
    address, _ = dask_scheduler
    assert main(["cluster", "info", "--scheduler", address]) == 0
    out = capsys.readouterr().out
    assert f"scheduler   {address}" in out
    assert "backend     cpu" in out
    assert out.count("1 threads") == 2


def test_dead_address_fails_fast_with_a_clear_message(dead_address):
    address = dead_address
    start = time.monotonic()
    with pytest.raises(cluster.ClusterUnreachable, match=r"no Dask scheduler answered at .* 2s"):
        cluster.connect(address, timeout="2s")
    assert time.monotonic() - start < 30  # bounded by the timeout, not a hang


def test_cli_reports_a_dead_address_as_an_error(capsys, dead_address):
    # a short wait: the default 10 s would be the whole test's time
    with dask.config.set({"govgrid.cluster.connect-timeout": "1s"}):
        code = main(["cluster", "info", "--scheduler", dead_address])
    assert code == 2
    assert "no Dask scheduler answered" in capsys.readouterr().err


@pytest.mark.gpu
def test_gpu_cluster_matches_pandas():
    with cluster.start(backend="gpu", dashboard_address=":0") as handle:
        assert handle.backend == "gpu"
        assert all(w.gpus for w in handle.info().workers)
        assert_join_group_matches_pandas(handle)


def test_local_cluster_scheduler_knows_its_workers_share_a_machine():
    # With Dask's network default (100 MB/s) the scheduler keeps every task that needs a
    # broadcast side on the one worker holding it; local workers move data far faster.
    with cluster.start(backend="cpu", n_workers=1, threads_per_worker=1) as handle:
        bandwidth = handle.client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.bandwidth)
    expected = cluster.ClusterSettings.from_config().local_bandwidth
    assert bandwidth == dask.utils.parse_bytes(expected)


def test_local_cluster_scheduler_gives_a_worker_thread_one_task_at_a_time():
    # Dask's default (1.1) rounds up to two tasks for a worker of one thread, so two big
    # partitions could queue on one worker while the other idles.
    with dask.config.set({"govgrid.cluster.local-worker-saturation": 1.0}), \
            cluster.start(backend="cpu", n_workers=1, threads_per_worker=1) as handle:
        saturation = handle.client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.WORKER_SATURATION)
    assert saturation == 1.0
    assert dask.config.get("distributed.scheduler.worker-saturation") != 1.0  # not leaked


def test_script_without_main_guard_fails_with_advice_instead_of_hanging(tmp_path):
    # Each worker process imports the script again; unguarded, it would start a cluster
    # inside the worker and the first cluster would wait for its workers forever.
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import cluster\n"
        "cluster.start(backend='cpu', n_workers=1, threads_per_worker=1, dashboard_address=':0')\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)  # a hang fails here
    assert done.returncode != 0
    assert f"while importing the script {str(script)!r}" in done.stderr
    assert "if __name__ == \"__main__\":" in done.stderr
