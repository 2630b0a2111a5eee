"""engine_dtypes: the engine's uniform dtypes, decided on the meta, checked against pyarrow."""

from __future__ import annotations

import datetime as dt
import decimal

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from compute.tables.dtypes import STRING_DTYPE, engine_dtypes, exact_doubles

TABLE = pa.table({
    "day": pa.array([dt.date(2024, 2, 29), None], pa.date32()),
    "price": pa.array([decimal.Decimal("12.34"), None], pa.decimal128(15, 2)),
    "name": pa.array(["a", None], pa.string_view()),
    "large": pa.array(["b", "c"], pa.large_string()),
    "when": pa.array([1_700_000_000_000, None], pa.timestamp("ms", tz="Asia/Shanghai")),
    "naive": pa.array([1_700_000_000, 2], pa.timestamp("s")),
    "count": pa.array([1, 2], pa.int32()),
})


def test_engine_dtypes_converts_by_the_meta(tmp_path):
    pq.write_table(TABLE, tmp_path / "t.parquet")
    frame = engine_dtypes(dd.read_parquet(str(tmp_path / "t.parquet")))
    assert dict(frame.dtypes) == {
        "day": np.dtype("datetime64[s]"), "price": np.dtype("float64"), "name": STRING_DTYPE,
        "large": STRING_DTYPE, "when": pd.DatetimeTZDtype("ms", "Asia/Shanghai"),
        "naive": frame.dtypes["naive"], "count": np.dtype("int32"),
    }
    assert frame.dtypes["naive"].kind == "M"  # timestamps without a zone stay datetime64
    got = frame.compute()
    assert dict(got.dtypes) == dict(frame.dtypes)
    expected = TABLE.to_pandas()
    assert got["day"].tolist()[0] == pd.Timestamp("2024-02-29") and pd.isna(got["day"][1])
    assert got["price"].tolist()[0] == 12.34 and np.isnan(got["price"][1])
    assert got["name"].tolist()[0] == "a" and pd.isna(got["name"][1])
    assert got["when"][0] == expected["when"][0] and pd.isna(got["when"][1])
    assert got["large"].tolist() == ["b", "c"]


def test_engine_dtypes_keeps_engine_frames_as_they_are():
    frame = dd.from_pandas(pd.DataFrame({"a": [1.0], "d": pd.to_datetime(["2024-01-01"])}),
                           npartitions=1)
    assert engine_dtypes(frame) is frame


def test_engine_dtypes_turns_na_strings_into_str():
    frame = dd.from_pandas(pd.DataFrame({"s": pd.Series(["x", None], dtype="string")}),
                           npartitions=1)
    assert engine_dtypes(frame).dtypes["s"] == STRING_DTYPE


def test_decimals_become_the_doubles_nearest_them():
    # Arrow's own cast makes 24710.35 24710.350000000002, which = 24710.35 does not find
    rng = np.random.default_rng(7)
    written = [decimal.Decimal(int(units)).scaleb(-2) for units in rng.integers(
        -10**15, 10**15, 20_000)] + [decimal.Decimal("24710.35"), decimal.Decimal("0.07"), None]
    for kind in (pa.decimal128(17, 2), pa.decimal128(38, 2), pa.decimal256(40, 2)):
        values = pa.array(written, kind)
        for array in (values, values.slice(5), pa.chunked_array([values[:7], values[7:]])):
            got = exact_doubles(array)
            want = [np.nan if v is None else float(v) for v in array.to_pylist()]
            np.testing.assert_array_equal(got, want)
    # unscaled integers beyond 2**53 are no exact doubles: read from their text
    wide = pa.array([decimal.Decimal("123456789012345.678"),
                     decimal.Decimal("-999999999999999.999")], pa.decimal128(18, 3))
    assert exact_doubles(wide).tolist() == [float(v) for v in wide.to_pylist()]


@pytest.mark.gpu
def test_engine_dtypes_makes_cudf_decimals_the_doubles_nearest_them(tmp_path):
    pytest.importorskip("dask_cudf")
    price = pa.array([decimal.Decimal("24710.35"), None], pa.decimal128(15, 2))
    pq.write_table(pa.table({"price": price}), tmp_path / "m.parquet")
    with dask.config.set({"dataframe.backend": "cudf"}):
        frame = engine_dtypes(dd.read_parquet(str(tmp_path / "m.parquet")))
    assert frame.dtypes["price"] == np.dtype("float64")
    got = frame.compute().to_pandas()["price"]
    assert got.tolist()[0] == 24710.35 and np.isnan(got[1])
