"""The join planner: a pure function of sizes, forced by configuration."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd

from compute.planner import broadcast_limit, choose, read_partitions, shape_side, split_out


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


def test_read_partitions_one_per_thread_more_for_big_tables_never_more_than_files():
    with dask.config.set({"govgrid.read.partition-size": "100 B"}):
        assert read_partitions(files=8, table_bytes=50, threads=2) == 2
        assert read_partitions(files=8, table_bytes=450, threads=2) == 5
        assert read_partitions(files=3, table_bytes=10_000, threads=2) == 3
        assert read_partitions(files=1, table_bytes=10, threads=4) == 1
