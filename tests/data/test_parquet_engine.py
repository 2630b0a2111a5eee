"""The CPU Parquet engine decodes numbers, dates, decimals and strings with polars: the same
frames as Dask's pyarrow engine (the oracle), whole files or runs of their row groups,
filtered or not, beside columns that pyarrow reads."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dask.dataframe.io.parquet.arrow import ArrowDatasetEngine
from fsspec.implementations.local import LocalFileSystem

from compute.tables import parquet_engine
from compute.tables.parquet_engine import PolarsParquetEngine

ROWS = 1000


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root: Path = tmp_path_factory.mktemp("decimals")
    paths = []
    for number in range(3):
        ids = range(number * ROWS, (number + 1) * ROWS)
        table = pa.table({
            "id": pa.array(ids, pa.int64()),
            # stored as FIXED_LEN_BYTE_ARRAY (pyarrow's default), NULLs and negatives in it
            "price": pa.array([None if i % 7 == 0 else decimal.Decimal(i * 37 % 1000 - 300)
                               / 100 for i in ids], pa.decimal128(15, 2)),
            "rate": pa.array([decimal.Decimal(i % 11) / 1000 for i in ids],
                             pa.decimal128(5, 3)),
            "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i % 60) for i in ids]),
            "name": pa.array([None if i % 5 == 0 else f"n{i % 13}" for i in ids]),
            "long_name": pa.array([f"name {i}" for i in ids], pa.large_string()),
            "flag": pa.array([i % 3 == 0 for i in ids]),
            "small": pa.array([i % 100 for i in ids], pa.int8()),
            "ratio": pa.array([None if i % 9 == 0 else float("nan") if i % 9 == 1 else i / 3000
                               for i in ids]),
            # read by pyarrow: a zoned timestamp and a dictionary column
            "at": pa.array([dt.datetime(2024, 1, 1, 8) + dt.timedelta(hours=i) for i in ids],
                           pa.timestamp("us", tz="Asia/Shanghai")),
            "kind": pa.array([f"k{i % 4}" for i in ids]).dictionary_encode(),
        })
        path = root / f"part-{number}.parquet"
        pq.write_table(table, path, row_group_size=400)  # three row groups a file
        paths.append(str(path))
    assert pq.ParquetFile(paths[0]).metadata.row_group(0).column(1).physical_type == \
        "FIXED_LEN_BYTE_ARRAY"
    return paths


class Reads(list):
    """The columns each polars read decoded; ``filtered``: whether polars filtered it."""

    def __init__(self) -> None:
        super().__init__()
        self.filtered: list[bool] = []


@pytest.fixture
def polars_reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    """The columns each polars read decoded."""
    reads = Reads()
    decode = parquet_engine._polars_columns

    def spy(path: str, columns: list[str], rows: slice, predicate: Any = None) -> pa.Table:
        reads.append(columns)
        reads.filtered.append(predicate is not None)
        return decode(path, columns, rows, predicate)

    monkeypatch.setattr(parquet_engine, "_polars_columns", spy)
    return reads


CASES = {
    "whole files": {},
    "files grouped": {"split_row_groups": "adaptive", "aggregate_files": True,
                      "blocksize": 10**9},
    "filtered": {"filters": [[("price", ">", decimal.Decimal("1.5")),
                              ("day", "<", dt.date(2024, 2, 1))], [("name", "==", "n3")]]},
    "row groups": {"split_row_groups": True},
    # two row groups a partition: runs within a file, and across two files
    "runs of row groups": {"split_row_groups": "adaptive", "aggregate_files": True,
                           "blocksize": 40_000},
}


@pytest.mark.parametrize("case", CASES)
def test_same_frames_as_the_pyarrow_engine(files, polars_reads, case):
    options = CASES[case]
    columns = ["price", "id", "at", "rate", "day", "name", "kind", "long_name", "flag", "small"]
    with dask.config.set(scheduler="sync"):
        got = dd.read_parquet(files, columns=columns, index=False,
                              engine=PolarsParquetEngine, **options).compute()
        want = dd.read_parquet(files, columns=columns, index=False, **options).compute()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
    assert 0 < len(got) <= 3 * ROWS
    assert polars_reads and all(
        read == ["price", "id", "rate", "day", "name", "long_name", "flag", "small"]
        for read in polars_reads)


def test_columns_polars_does_not_read_are_the_plain_read(files, polars_reads):
    with dask.config.set(scheduler="sync"):
        got = dd.read_parquet(files, columns=["at", "kind"], index=False,
                              engine=PolarsParquetEngine).compute()
        want = dd.read_parquet(files, columns=["at", "kind"], index=False).compute()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
    assert len(got) == 3 * ROWS and polars_reads == []


@pytest.mark.parametrize("row_groups", [[None], [0, 1, 2], [1], [1, 2], [0, 2]])
def test_a_file_reads_into_the_table_pyarrow_gives(files, polars_reads, row_groups):
    """Types included (polars gives strings as large_string): what follows the read, Dask's
    filters and conversion to pandas, sees what it would with pyarrow. Row groups that are
    not neighbours pyarrow reads."""
    columns = ["price", "id", "at", "rate", "day", "name", "kind", "long_name", "flag", "small"]
    schema = pq.read_schema(files[0])
    arguments = (files[0], LocalFileSystem(), row_groups, columns, schema, None, [], [])
    got = PolarsParquetEngine._read_table(*arguments)
    want = ArrowDatasetEngine._read_table(*arguments)
    assert bool(polars_reads) == (row_groups != [0, 2])
    assert got.schema == want.schema
    assert got.equals(want)


def test_a_partition_of_several_files_is_converted_to_pandas_once(files, monkeypatch):
    conversions = []
    convert = PolarsParquetEngine._arrow_table_to_pandas

    def counted(table, *args, **kwargs):
        conversions.append(table.num_rows)
        return convert(table, *args, **kwargs)

    monkeypatch.setattr(PolarsParquetEngine, "_arrow_table_to_pandas", counted)
    with dask.config.set(scheduler="sync"):
        frame = dd.read_parquet(files, columns=["id", "price"], index=False,
                                engine=PolarsParquetEngine, **CASES["files grouped"])
        assert frame.npartitions == 1
        got = frame.compute()
    assert [rows for rows in conversions if rows] == [3 * ROWS]  # 0 rows: the meta
    assert got["id"].tolist() == list(range(3 * ROWS))


def test_files_storing_a_string_column_differently_read_into_one_partition(tmp_path):
    paths = []
    for number, kind in enumerate([pa.string(), pa.large_string(), pa.string()]):
        path = tmp_path / f"part-{number}.parquet"
        pq.write_table(pa.table({"id": [number, number], "name": pa.array(
            [f"n{number}", None], kind)}), path)
        paths.append(str(path))
    with dask.config.set(scheduler="sync"):
        got = dd.read_parquet(paths, index=False, engine=PolarsParquetEngine,
                              **CASES["files grouped"]).compute()
        want = dd.read_parquet(paths, index=False).compute()  # a partition a file
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))


DAY = dt.date(2024, 1, 15)


@pytest.mark.parametrize(("filters", "by_polars"), [
    ([("day", "<", DAY)], True),  # a list of terms
    ([[("day", "<", DAY)], [("name", "==", "n3"), ("small", ">", 50)]], True),  # OR of ANDs
    ([("name", "in", ["n1", "n4"]), ("id", ">=", 500), ("flag", "==", True)], True),
    ([("name", "<", "n2"), ("small", "<=", 49.5), ("long_name", ">", "name 2")], True),
    ([("name", "!=", "n2")], False),  # Dask's filter keeps NULL names for it
    ([("day", "in", [DAY, dt.date(2024, 2, 1)]), ("small", "<", 49.5)], True),
    ([("id", "in", [5, 700.0])], False),  # polars' IN takes no float for an integer column
    ([("ratio", ">", 0.5)], False),  # NaN: above 0.5 in polars, not in pyarrow
    ([("day", ">=", DAY), ("price", ">", decimal.Decimal(1))], False),  # decimals: pyarrow
    ([("name", "not in", ["n1"])], False),
    ([("kind", "==", "k1")], False),  # a column polars does not read
])
@pytest.mark.parametrize("case", ["whole files", "runs of row groups"])
def test_a_filter_on_columns_not_read_filters_the_rows(files, polars_reads, filters, by_polars,
                                                        case):
    with dask.config.set(scheduler="sync"):
        got = dd.read_parquet(files, columns=["id", "price"], filters=filters, index=False,
                              engine=PolarsParquetEngine, **CASES[case]).compute()
        want = dd.read_parquet(files, columns=["id", "price"], filters=filters,
                               index=False, **CASES[case]).compute()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
    assert list(got.columns) == ["id", "price"] and 0 < len(got) < 3 * ROWS
    assert polars_reads.filtered and set(polars_reads.filtered) == {by_polars}


def test_a_corrupt_file_raises_an_os_error_naming_it(files, tmp_path):
    broken = tmp_path / "broken.parquet"
    data = bytearray(Path(files[0]).read_bytes())
    data[200:4000] = bytes(3800)  # the column chunks, not the footer: polars reads them
    broken.write_bytes(bytes(data))
    with dask.config.set(scheduler="sync"), pytest.raises(OSError, match=str(broken)):
        dd.read_parquet([str(broken)], columns=["price", "name"], index=False,
                        engine=PolarsParquetEngine).compute()
