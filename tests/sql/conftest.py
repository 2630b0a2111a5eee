"""SQL tests: a Parquet-directory TableSource, TPC-H data in a catalog, DuckDB as the oracle,
a cluster."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.tpch import prepare
from compute.exceptions import CatalogError
from compute.tables import Catalog, Snapshot
from compute.tables.dtypes import engine_dtypes

TPCH_SCALE = "0.01"


class ParquetSource:
    """Tables as directories (or files) of Parquet under ``root``; elements given by hand."""

    def __init__(self, root: Path, elements: dict[tuple[str, str], str] | None = None) -> None:
        self.root = Path(root)
        self.elements = elements or {}
        self.scans: list[tuple[str, list[str], Any]] = []

    def files(self, table: str) -> list[Path]:
        path = self.root / table
        if path.is_dir():
            return sorted(path.glob("*.parquet"))
        if path.with_suffix(".parquet").is_file():
            return [path.with_suffix(".parquet")]
        raise CatalogError(f"unknown table {table!r}")

    def schema(self, table: str) -> pa.Schema:
        return pq.read_schema(self.files(table)[0])

    def element(self, table: str, column: str) -> str | None:
        return self.elements.get((table, column))

    def rows(self, table: str) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files(table))

    def distinct(self, table: str, column: str) -> int | None:
        return None  # unknown: the planner sizes group-bys from their input

    def value_range(self, table: str, column: str) -> tuple[Any, Any] | None:
        return None  # unknown: a range keeps a third of the rows

    def scan(self, table: str, columns: list[str], filters: Any) -> dd.DataFrame:
        self.scans.append((table, columns, filters))
        frame = dd.read_parquet([str(f) for f in self.files(table)], columns=columns,
                                filters=filters, index=False)
        return engine_dtypes(frame)


def write_table(root: Path, name: str, frame: pd.DataFrame | pa.Table, parts: int = 2) -> None:
    """``frame`` as ``parts`` Parquet files of table ``name`` (so scans have partitions)."""
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(
        frame, preserve_index=False)
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    step = max(1, math.ceil(table.num_rows / parts))
    for i in range(parts):
        pq.write_table(table.slice(i * step, step), directory / f"part-{i}.parquet")


@pytest.fixture(scope="session")
def tpch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TPC-H at scale 0.01 from tpchgen-cli, registered in a catalog (owner ``tpc``, sharing
    ``unconditional``): strings rewritten as Arrow ``string`` (tpchgen writes ``string_view``,
    on which pyarrow cannot filter: a scan pushing ``n_name = 'FRANCE'`` down fails, through
    the Snapshot too), the larger tables in two files."""
    root = tmp_path_factory.mktemp("tpch")
    prepare(root, float(TPCH_SCALE))
    return root


def duckdb_over(root: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view per table directory under ``root``."""
    connection = duckdb.connect()
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        connection.execute(
            f"CREATE VIEW \"{directory.name}\" AS SELECT * FROM "
            f"read_parquet('{directory}/*.parquet')")
    return connection


@pytest.fixture(scope="session")
def tpch(tpch_dir: Path) -> tuple[Snapshot, duckdb.DuckDBPyConnection]:
    """The TPC-H tables through a snapshot of their catalog, and DuckDB over the same files."""
    return Snapshot(Catalog.load(tpch_dir)), duckdb_over(tpch_dir)


@pytest.fixture(scope="session")
def compute_on(local_cluster) -> Callable[[dd.DataFrame], pd.DataFrame]:
    """Compute a frame on the session's two-worker cluster."""
    return lambda frame: local_cluster.client.compute(frame, sync=True)


def assert_same(got: pd.DataFrame, want: pd.DataFrame, ordered: bool) -> None:
    """Equal results: the same columns and rows (in order when ``ordered``), floats to a
    relative 1e-9, NULLs equal, dates compared as timestamps."""
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want), f"{len(got)} rows, DuckDB has {len(want)}"
    got, want = _comparable(got), _comparable(want)
    if not ordered:
        got = got.sort_values(list(got.columns), kind="stable").reset_index(drop=True)
        want = want.sort_values(list(want.columns), kind="stable").reset_index(drop=True)
    for column in got.columns:
        a, b = got[column], want[column]
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            assert np.allclose(a.astype(float), b.astype(float), rtol=1e-9, atol=0,
                               equal_nan=True), f"column {column}:\n{a}\n{b}"
        else:
            assert a.tolist() == b.tolist(), f"column {column}:\n{a}\n{b}"


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reset_index(drop=True).copy()
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "M" or (values.dtype == object and values.map(
                lambda v: hasattr(v, "year")).any()):
            frame[column] = pd.to_datetime(values).astype("datetime64[s]").astype(str)
        elif values.dtype.kind in "iub" or str(values.dtype) in ("Int64", "Int32", "boolean"):
            frame[column] = values.astype("float64")
        elif values.dtype.kind != "f":
            frame[column] = values.astype(object).where(values.notna(), None)
    return frame
