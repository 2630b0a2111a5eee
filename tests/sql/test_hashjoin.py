"""Broadcast joins that hash the small side once per worker: each partition's join equals
pandas' merge on the same frames (the oracle), with repeated keys, NULL keys, keys the side
lacks, several keys (packed or not), strings and empty sides; the side is hashed once."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from compute.sql import hashjoin
from compute.sql.hashjoin import broadcast_join, probe

MERGE_HOW = {"inner": "inner", "preserve": "left"}


def merged(part: pd.DataFrame, side: pd.DataFrame, part_keys: list[str],
           side_keys: list[str], how: str, side_first: bool) -> pd.DataFrame:
    """pandas' merge of the same frames, columns as probe gives them."""
    if how in ("semi", "anti"):
        hits = part.merge(side[side_keys].drop_duplicates(), left_on=part_keys,
                          right_on=side_keys, how="left", indicator=True)["_merge"] == "both"
        return part[hits.to_numpy() == (how == "semi")]
    kept = side.dropna(subset=side_keys)
    if side_first:
        return kept.merge(part, left_on=side_keys, right_on=part_keys,
                          how="inner" if how == "inner" else "right")
    return part.merge(kept, left_on=part_keys, right_on=side_keys, how=MERGE_HOW[how])


def assert_same_rows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert dict(got.dtypes) == dict(want.dtypes)
    by = list(got.columns)
    pd.testing.assert_frame_equal(
        got.sort_values(by).reset_index(drop=True), want.sort_values(by).reset_index(drop=True))


@pytest.fixture
def part() -> pd.DataFrame:
    return pd.DataFrame({
        "k": [1, 2, 2, 3, 7, 9, None, 1],
        "k2": [10, 20, 21, 30, 70, 90, 10, 10],
        "name": ["a", "b", "b", "c", None, "z", "a", "a"],
        "x": np.arange(8),
    }).astype({"k": "Int64"})


@pytest.fixture
def side() -> pd.DataFrame:
    # key 1 three times, key 2 once, key 5 absent from part, a NULL key
    return pd.DataFrame({
        "sk": [1, 1, 2, 5, None, 1],
        "sk2": [10, 10, 20, 50, 10, 11],
        "sname": ["a", "a", "b", "e", "a", "a"],
        "y": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
    }).astype({"sk": "Int64"})


@pytest.mark.parametrize("how", ["inner", "preserve", "semi", "anti"])
@pytest.mark.parametrize("keys", [(["k"], ["sk"]), (["name"], ["sname"]),
                                  (["k", "k2"], ["sk", "sk2"]), (["name", "k2"], ["sname", "sk2"])])
def test_probe_equals_pandas_merge(part, side, how, keys):
    part_keys, side_keys = keys
    if how in ("inner", "semi", "anti"):
        side = side.dropna(subset=side_keys)  # as the planner gives it
    got = probe(part, side, part_keys, side_keys, how)
    assert_same_rows(got, merged(part, side, part_keys, side_keys, how, False))


@pytest.mark.parametrize("how", ["inner", "preserve"])
def test_side_first_gives_the_sides_columns_first_as_a_right_merge(part, side, how):
    side = side.dropna(subset=["sk"])
    got = probe(part, side, ["k"], ["sk"], how, side_first=True)
    assert_same_rows(got, merged(part, side, ["k"], ["sk"], how, True))


def test_packed_integer_keys_outside_the_sides_range_match_nothing():
    side = pd.DataFrame({"a": [5, 6, 7], "b": [100, 101, 102], "v": [1, 2, 3]})
    part = pd.DataFrame({"p": [5, 4, 8, 6, 7, 7], "q": [100, 100, 102, 99, 102, 103]})
    assert hashjoin.hash_side(side, ["a", "b"]).packing is not None
    got = probe(part, side, ["p", "q"], ["a", "b"], "inner")
    assert_same_rows(got, part.merge(side, left_on=["p", "q"], right_on=["a", "b"]))


def test_nullable_keys_probing_a_packed_side_match_only_equal_integers():
    side = pd.DataFrame({"a": [1, 2], "b": [3, 4], "v": [10, 20]})
    part = pd.DataFrame({"p": [1, None, 2], "q": [3.0, 3.0, 4.5]}).astype({"p": "Int64"})
    got = probe(part, side, ["p", "q"], ["a", "b"], "preserve")
    assert got["v"].tolist()[0] == 10
    assert got["v"].isna().tolist() == [False, True, True]


def test_an_empty_side_or_partition_joins_to_nothing(part, side):
    empty_side = side.iloc[:0]
    assert len(probe(part, empty_side, ["k"], ["sk"], "inner")) == 0
    preserved = probe(part, empty_side, ["k"], ["sk"], "preserve")
    assert len(preserved) == len(part) and preserved["y"].isna().all()
    assert len(probe(part.iloc[:0], side, ["k"], ["sk"], "inner")) == 0


def test_a_constant_key_gives_every_pair(part, side):
    got = probe(part.assign(c=0), side.assign(c=0), ["c"], ["c"], "inner")
    assert len(got) == len(part) * len(side)


def test_the_side_is_hashed_once_for_every_partition_given_it(part, side, monkeypatch):
    calls = []
    real = hashjoin.hash_side
    monkeypatch.setattr(hashjoin, "hash_side", lambda *a: calls.append(1) or real(*a))
    side = side.dropna(subset=["sk"])
    for chunk in (part.iloc[:4], part.iloc[4:]):
        probe(chunk, side, ["k"], ["sk"], "inner")
    assert len(calls) == 1
    probe(part, side.copy(), ["k"], ["sk"], "inner")  # another side object: hashed anew
    assert len(calls) == 2


def test_broadcast_join_of_partitioned_frames_equals_pandas_merge(part, side):
    parts = dd.from_pandas(part, npartitions=3)
    sides = dd.from_pandas(side.dropna(subset=["sk"]), npartitions=2)
    frame = broadcast_join(parts, sides, ["k"], ["sk"], "inner")
    assert frame.npartitions == 3
    got = frame.compute(scheduler="sync")
    assert_same_rows(got, parts.compute().merge(sides.compute(), left_on="k", right_on="sk"))


@pytest.mark.parametrize(("how", "side_first"), [
    ("inner", False), ("inner", True), ("preserve", False), ("preserve", True),
    ("semi", False), ("anti", False)])  # semi and anti give the probing side's columns only
@pytest.mark.parametrize("keys", [(["name"], ["sname"]), (["k", "k2"], ["sk", "sk2"]),
                                  (["name", "k2"], ["sname", "sk2"])])
def test_a_side_holding_each_key_once_joins_as_pandas_merge(part, side, how, side_first, keys):
    part_keys, side_keys = keys
    # each key once, and an index with gaps, as a filtered partition has
    side = side.dropna(subset=side_keys).drop_duplicates(subset=side_keys).iloc[::-1]
    assert not side.index.equals(pd.RangeIndex(len(side)))
    got = probe(part, side, part_keys, side_keys, how, side_first)
    assert_same_rows(got, merged(part, side, part_keys, side_keys, how, side_first))


@pytest.mark.parametrize("keys", [["sk"], ["sname", "sk2"], ["sk2", "y"], ["sname", "y"]])
def test_the_sides_hash_table_is_built_before_threads_share_it(side, keys):
    # pandas stores an Index's table before filling it, with the GIL released: a second
    # thread looking up meanwhile would miss keys. So it is filled while the side is hashed.
    side = side.dropna(subset=keys).astype({"y": "int64"}) if "y" in keys else \
        side.dropna(subset=keys)
    assert hashjoin.hash_side(side, keys).keys._engine.is_mapping_populated


@pytest.mark.parametrize("spread", [1, 10**15])
@pytest.mark.parametrize("how", ["inner", "preserve", "semi", "anti"])
def test_packed_integer_keys_join_as_pandas_merge(spread, how):
    # keys below, inside and above the side's ranges, repeated on both sides
    rng = np.random.default_rng(7)
    side = pd.DataFrame({"a": rng.integers(-50, 50, 300) * spread,
                         "b": rng.integers(0, 3, 300), "v": np.arange(300)})
    probing = pd.DataFrame({"p": rng.integers(-60, 60, 500) * spread,
                            "q": rng.integers(-1, 4, 500), "x": np.arange(500)})
    assert hashjoin.hash_side(side, ["a", "b"]).packing is not None
    got = probe(probing, side, ["p", "q"], ["a", "b"], how)
    assert_same_rows(got, merged(probing, side, ["p", "q"], ["a", "b"], how, False))


def test_nullable_and_float_keys_probing_packed_keys_match_exactly():
    big = 110105199001011234  # an 18-digit key: a float cannot tell it from its neighbours
    side = pd.DataFrame({"a": [big, big + 2, 7], "b": [1, 1, 2], "v": [1, 2, 3]})
    part = pd.DataFrame({"p": pd.array([big + 1, big, None, big + 2], dtype="Int64"),
                         "f": [7.0, 7.5, np.nan, 6.999999], "q": [1, 1, 1, 2]})
    assert hashjoin.hash_side(side, ["a", "b"]).packing is not None
    assert probe(part, side, ["p", "q"], ["a", "b"], "inner")["v"].tolist() == [1]
    assert probe(part.assign(q=2), side, ["f", "q"], ["a", "b"], "inner")["v"].tolist() == [3]


def test_a_jobs_broadcast_side_is_indexed_with_its_hash_table_built():
    from compute.jobs._frames import KEY, _indexed_by_key

    indexed = _indexed_by_key(pd.DataFrame({KEY: [5, 3, 9], "v": [1, 2, 3]}))
    assert indexed.index._engine.is_mapping_populated
    assert not pd.Index([5, 3, 9])._engine.is_mapping_populated  # what pandas does alone
