"""The catalog, read_table's dtypes and checks, and the generate / catalog commands."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from compute.cli import main
from compute.exceptions import CatalogError, DataError, ParameterError
from compute.tables import TABLES, Catalog, Snapshot, read_table
from compute.tables.parquet_engine import PolarsParquetEngine
from tests.data.conftest import read

LOADED = {
    "string": pd.StringDtype("pyarrow", na_value=np.nan),
    "date": np.dtype("datetime64[s]"),
    "int8": np.dtype("int8"), "int16": np.dtype("int16"), "int32": np.dtype("int32"),
    "int64": np.dtype("int64"), "float64": np.dtype("float64"),
}


@pytest.mark.parametrize("name", TABLES)
def test_tables_load_with_the_contract_dtypes(data: Path, name: str) -> None:
    contract = TABLES[name]
    assert pq.read_schema(next((data / name).glob("*.parquet"))).remove_metadata() == \
        contract.schema
    frame = read_table(data, name)
    expected = {column.name: LOADED[column.kind] for column in contract.columns}
    assert frame.dtypes.to_dict() == expected
    computed = frame.compute()
    assert computed.dtypes.to_dict() == expected
    assert len(computed) == Catalog.load(data).table(name).rows
    assert frame.npartitions == len(Catalog.load(data).version(name).files)


def test_columns_and_filters_are_applied(data: Path) -> None:
    since = dt.date(1990, 1, 1)
    for bound in (since, pd.Timestamp(since), "1990-01-01"):
        frame = read_table(data, "residents", columns=["resident_id", "birth_date"],
                           filters=[("birth_date", ">=", bound)]).compute()
        expected = read(data, "residents")
        expected = expected.loc[expected["birth_date"] >= since, "resident_id"]
        assert list(frame.columns) == ["resident_id", "birth_date"]
        assert sorted(frame["resident_id"]) == sorted(expected)


def test_unknown_names_are_refused(data: Path) -> None:
    with pytest.raises(CatalogError, match="no table 'citizens'; it has benefit_payments"):
        read_table(data, "citizens")
    with pytest.raises(ParameterError, match="no column 'age'"):
        read_table(data, "residents", columns=["age"])
    with pytest.raises(ParameterError, match="unknown column 'age'"):
        read_table(data, "residents", filters=[("age", ">", 3)])


@pytest.fixture
def copy(data: Path, tmp_path: Path) -> Path:
    """A copy of the generated data directory, to damage."""
    root = tmp_path / "copy"
    shutil.copytree(data, root)
    return root


def _rewrite(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path)


@pytest.mark.parametrize("damage,message", [
    (lambda t: t.drop_columns(["sex"]), "lacks column 'sex'"),
    (lambda t: t.set_column(2, "sex", t["sex"].cast(pa.int64())),
     "column 'sex' is stored as int64"),
    (lambda t: t.set_column(3, "birth_date", t["birth_date"].cast(pa.timestamp("s"))),
     "column 'birth_date'"),
])
def test_a_file_breaking_the_schema_is_named(copy: Path, damage, message: str) -> None:
    path = sorted((copy / "residents").glob("*.parquet"))[1]
    _rewrite(path, damage(pq.read_table(path)))
    with pytest.raises(DataError, match=message) as error:
        read_table(copy, "residents")
    assert "'residents'" in str(error.value) and str(path) in str(error.value)


def test_missing_and_corrupt_files_are_named(copy: Path) -> None:
    path = sorted((copy / "residents").glob("*.parquet"))[1]
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="not a readable Parquet file") as error:
        read_table(copy, "residents")
    assert str(path) in str(error.value)

    gone = sorted((copy / "deaths").glob("*.parquet"))[0]
    gone.unlink()
    with pytest.raises(DataError, match=f"{gone.name}' does not exist"):
        read_table(copy, "deaths")


def test_a_table_filter_prunes_files_by_the_delta_statistics(data: Path) -> None:
    catalog = Catalog.load(data)
    version = catalog.version("residents")
    low, high = version.files[0].minimum["division_code"], version.files[0].maximum[
        "division_code"]
    # Chunks are runs of whole counties, so the first file's codes lie below the second's.
    assert high < version.files[1].minimum["division_code"]
    frame = read_table(data, "residents", filters=[("division_code", "<=", high)])
    assert frame.npartitions == 1
    expected = read(data, "residents").query("division_code <= @high")
    assert len(frame.compute()) == len(expected) and low <= high


def test_generate_and_catalog_commands(
    tmp_path: Path, local_cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    address = local_cluster.client.scheduler.address
    assert main(["generate", "--scale", "0.002", "--seed", "3", "--out", str(out),
                 "--duplicate-rate", "0.01", "--scheduler", address]) == 0
    assert main(["catalog", "--data", str(out)]) == 0
    assert main(["catalog", "check", "--data", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "residents         public security" in printed
    assert "2,000" in printed and "person_name" in printed
    assert "all 10 tables' files match their schemas" in printed
    # Refused: the directory exists.
    assert main(["generate", "--scale", "0.002", "--out", str(out), "--scheduler", address]) == 2
    assert "exists" in capsys.readouterr().err


def test_read_partitions_group_files_with_the_same_rows(data):
    whole = read_table(data, "residents").compute()
    catalog = Catalog.load(data)
    files = len(catalog.version("residents").files)
    for partitions in range(1, files + 1):
        grouped = Snapshot(catalog, partitions=lambda *_, n=partitions: n).table("residents")
        assert grouped.npartitions == partitions
        pd.testing.assert_frame_equal(grouped.compute().reset_index(drop=True),
                                      whole.reset_index(drop=True))


def test_files_of_several_row_groups_read_into_even_partitions_of_them(tmp_path):
    # three files of four row groups of 100 rows: up to twelve partitions, across files
    source = tmp_path / "source"
    source.mkdir()
    for number in range(3):
        ids = np.arange(number * 400, (number + 1) * 400)
        pq.write_table(pa.table({"id": ids, "price": ids * 0.5,
                                 "name": [f"n{i % 7}" for i in ids]}),
                       source / f"part-{number}.parquet", row_group_size=100)
    catalog = Catalog.create(tmp_path / "catalog")
    catalog.add("items", source, owner="test", sharing="unconditional")
    whole = Snapshot(catalog).table("items").compute().reset_index(drop=True)
    assert whole["id"].tolist() == list(range(1200))
    for partitions in (1, 2, 3, 4, 5, 8, 12, 20):
        frame = Snapshot(catalog, partitions=lambda *_, n=partitions: n).table("items")
        sizes = frame.map_partitions(len).compute().tolist()
        # as many as asked where the row groups divide evenly, never more; the largest
        # partition as small as whole row groups allow (five: four of three row groups)
        assert frame.npartitions == len(sizes) <= partitions
        assert frame.npartitions == partitions or 12 % partitions
        assert max(sizes) == 100 * -(-12 // partitions), sizes
        pd.testing.assert_frame_equal(frame.compute().reset_index(drop=True), whole)


def test_the_gpu_read_path_filters_rows_after_the_read_alike(data, monkeypatch):
    """On cuDF the filters are applied after the read (dask-cudf would compare dates wrongly,
    docs/gpu.md); the same path run on pandas gives exactly the rows pyarrow's filters give."""
    filters = [[("birth_date", "<=", dt.date(1950, 1, 1)), ("sex", "==", 2)],
               [("division_code", "in", [110101, 110102])]]
    expected = read_table(data, "residents", columns=["resident_id"], filters=filters).compute()
    monkeypatch.setattr("compute.tables.read.current_backend", lambda: "gpu")
    got = read_table(data, "residents", columns=["resident_id"], filters=filters).compute()
    assert list(got.columns) == ["resident_id"]
    assert sorted(got["resident_id"]) == sorted(expected["resident_id"]) and len(got) > 0


def test_a_read_of_few_columns_keeps_its_partitions(data):
    # Dask fuses the partitions of a read of a few columns, reckoning them sized for all
    # columns; read_version sized them for the columns read, so they must stay as they are,
    # also where a single-partition frame is broadcast to them.
    catalog = Catalog.load(data)
    files = len(catalog.version("residents").files)
    assert files >= 2
    snapshot = Snapshot(catalog, partitions=lambda *_: files)
    keys = snapshot.table("residents", columns=["resident_id"])
    assert keys.npartitions == files and keys.optimize().npartitions == files
    side = snapshot.table("divisions", columns=["division_code"]).repartition(npartitions=1)
    probed = keys.map_partitions(lambda part, whole: part.assign(n=len(whole)), side)
    assert probed.optimize().npartitions == files
    assert len(probed.compute()) == catalog.table("residents").rows


def test_a_read_of_files_read_before_is_planned_without_listing_them_again(copy, monkeypatch):
    listed = []
    collect = PolarsParquetEngine._collect_dataset_info.__func__

    def counted(cls, paths, *args, **kwargs):
        listed.append(list(paths))
        return collect(cls, paths, *args, **kwargs)

    monkeypatch.setattr(PolarsParquetEngine, "_collect_dataset_info", classmethod(counted))
    since = [("birth_date", ">=", dt.date(1990, 1, 1))]
    first = read_table(copy, "residents", columns=["resident_id", "birth_date"], filters=since)
    second = read_table(copy, "residents", columns=["sex"], filters=since)
    assert len(listed) == 1
    expected = read(copy, "residents")
    assert second.compute()["sex"].tolist() == \
        expected.loc[expected["birth_date"] >= dt.date(1990, 1, 1), "sex"].tolist()
    assert len(first.compute()) == len(second.compute())
    # other filters, or a file rewritten since, are listed again
    read_table(copy, "residents", columns=["sex"])
    path = sorted((copy / "residents").glob("*.parquet"))[0]
    table = pq.read_table(path)
    _rewrite(path, table.slice(0, 10))
    assert len(listed) == 2
    read_table(copy, "residents", columns=["sex"])
    assert len(listed) == 3
