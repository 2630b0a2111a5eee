"""The join planner: a pure function of sizes, forced by configuration."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd

from compute.planner import (
    broadcast_limit,
    choose,
    one_memory_reading,
    partition_limit,
    read_partitions,
    shape_side,
    split_out,
    worker_memory,
)


def test_broadcast_up_to_the_limit_and_shuffle_above():
    assert choose("deaths", 1000, limit=1000).strategy == "broadcast"
    assert choose("residents", 1001, limit=1000).strategy == "shuffle"
    assert str(choose("deaths", 100, limit=200)) == "deaths: broadcast (100 B <= 200 B)"
    assert str(choose("residents", 300, limit=200)) == "residents: shuffle (300 B > 200 B)"


def test_limit_comes_from_dask_config():
    with dask.config.set({"govgrid.join.broadcast-limit": "1 MiB"}):
        assert broadcast_limit() == 2**20
        assert choose("x", 2**20 + 1).strategy == "shuffle"


def test_a_broadcast_side_is_one_partition_and_groups_reduce_to_one():
    side = dd.from_pandas(pd.DataFrame({"rid": range(10)}), npartitions=3)
    assert shape_side(side, choose("s", 10, limit=100)).npartitions == 1
    assert shape_side(side, choose("s", 1000, limit=100)).npartitions == 3
    assert split_out(choose("s", 10, limit=100)) == 1
    assert split_out(choose("s", 1000, limit=100)) is True


def test_read_partitions_one_per_thread_more_for_big_tables_never_more_than_row_groups():
    with dask.config.set({"govgrid.read.partition-size": "100 B"}):
        assert read_partitions(row_groups=8, memory_bytes=50, threads=2) == 2
        assert read_partitions(row_groups=8, memory_bytes=450, threads=2) == 5
        assert read_partitions(row_groups=3, memory_bytes=10_000, threads=2) == 3
        assert read_partitions(row_groups=1, memory_bytes=10, threads=4) == 1


def test_limits_are_bounded_by_the_workers_memory(monkeypatch):
    with dask.config.set({"govgrid.read.partition-size": "128MiB",
                          "govgrid.join.broadcast-limit": "256MiB"}):
        monkeypatch.setattr("compute.planner.worker_memory", lambda: None)
        assert (partition_limit(), broadcast_limit()) == (128 * 2**20, 256 * 2**20)
        monkeypatch.setattr("compute.planner.worker_memory", lambda: 2**30)
        assert (partition_limit(), broadcast_limit()) == (32 * 2**20, 128 * 2**20)
        # A side that fits the configured limit but not an eighth of a 1 GiB worker shuffles.
        assert choose("registry", 200 * 2**20).strategy == "shuffle"
        assert read_partitions(row_groups=100, memory_bytes=2**30, threads=2) == 32


def test_worker_memory_is_read_from_the_cluster(local_cluster):
    limits = {w["memory_limit"] for w in
              local_cluster.client.scheduler_info()["workers"].values()}
    assert worker_memory() == min(limits) > 0


def test_a_plan_reads_the_workers_memory_once(local_cluster, monkeypatch):
    asked = []

    def smallest(client):
        asked.append(client)
        return 2**30

    monkeypatch.setattr("compute.planner.smallest_memory_limit", smallest)
    with one_memory_reading():
        limits = [partition_limit(), broadcast_limit(), partition_limit()]
    assert len(asked) == 1 and limits == [32 * 2**20, 128 * 2**20, 32 * 2**20]
    partition_limit()  # outside a plan: asked again, as the workers may have changed
    assert len(asked) == 2
