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
import yaml

from compute.cli import main
from compute.exceptions import CatalogError, DataError, ParameterError
from compute.tables import TABLES, Catalog, read_table
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
    assert frame.npartitions == len(Catalog.load(data).table(name).files)


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
    with pytest.raises(ParameterError, match="residents, insured_persons"):
        read_table(data, "citizens")
    with pytest.raises(ParameterError, match="no column 'age'"):
        read_table(data, "residents", columns=["age"])
    with pytest.raises(ParameterError, match="unknown column 'age'"):
        read_table(data, "residents", filters=[("age", ">", 3)])


@pytest.fixture
def copy(data: Path, tmp_path: Path) -> Path:
    """The deaths and residents tables with a hand-written catalog listing only table names."""
    root = tmp_path / "hand"
    for name in ("deaths", "residents"):
        shutil.copytree(data / name, root / name)
    (root / "catalog.yaml").write_text("tables:\n  deaths:\n  residents: {}\n")
    return root


def test_a_hand_written_catalog_is_completed_from_the_files(data: Path, copy: Path) -> None:
    hand, generated = Catalog.load(copy), Catalog.load(data)
    for name in ("deaths", "residents"):
        mine, theirs = hand.table(name), generated.table(name)
        assert (mine.rows, mine.bytes, mine.owner, mine.sharing, mine.columns) == \
            (theirs.rows, theirs.bytes, theirs.owner, theirs.sharing, theirs.columns)
    with pytest.raises(CatalogError, match="no table 'pensions'"):
        hand.table("pensions")


def _rewrite(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path)


@pytest.mark.parametrize("damage,message", [
    (lambda t: t.drop_columns(["sex"]), "lacks column 'sex'"),
    (lambda t: t.set_column(2, "sex", t["sex"].cast(pa.int64())),
     "column 'sex' is stored as int64"),
    (lambda t: t.set_column(3, "birth_date", t["birth_date"].cast(pa.timestamp("s"))),
     "column 'birth_date'"),
])
def test_a_file_breaking_the_contract_is_named(copy: Path, damage, message: str) -> None:
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

    catalog = {"tables": {"deaths": {"files": ["part-00000.parquet", "part-00009.parquet"]}}}
    (copy / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    with pytest.raises(DataError, match=r"part-00009\.parquet' does not exist"):
        read_table(copy, "deaths")


@pytest.mark.parametrize("text,message", [
    (None, "no catalog.yaml"),
    ("tables: [", "not valid YAML"),
    ("tables:\n  citizens: {}\n", "unknown table 'citizens'"),
    ("tables:\n  deaths: {sharing: open}\n", "sharing must be one of"),
    ("tables:\n  deaths: {columns: {death_date: {dtype: string}}}\n", "column 'death_date'"),
])
def test_bad_catalogs_are_refused(copy: Path, text: str | None, message: str) -> None:
    if text is None:
        (copy / "catalog.yaml").unlink()
    else:
        (copy / "catalog.yaml").write_text(text)
    with pytest.raises(CatalogError, match=message):
        Catalog.load(copy)


def test_generate_and_catalog_commands(
    tmp_path: Path, local_cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    address = local_cluster.client.scheduler.address
    assert main(["generate", "--scale", "0.002", "--seed", "3", "--out", str(out),
                 "--duplicate-rate", "0.01", "--scheduler", address]) == 0
    assert main(["catalog", "--data", str(out), "--check"]) == 0
    printed = capsys.readouterr().out
    assert "residents         public security" in printed
    assert "2,000" in printed and "personal_id" in printed
    assert "all 10 tables match the data contract" in printed
    # Refused: the directory exists.
    assert main(["generate", "--scale", "0.002", "--out", str(out), "--scheduler", address]) == 2
    assert "exists" in capsys.readouterr().err


def test_read_table_groups_files_into_fewer_partitions_with_the_same_rows(data):
    whole = read_table(data, "residents").compute()
    files = len(Catalog.load(data).table("residents").files)
    for partitions in range(1, files + 1):
        grouped = read_table(data, "residents", partitions=partitions)
        assert grouped.npartitions == partitions
        pd.testing.assert_frame_equal(grouped.compute().reset_index(drop=True),
                                      whole.reset_index(drop=True))
