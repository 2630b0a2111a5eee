"""Jobs over an open catalog: a department's own roster, versions read as of a time, and a
missing element found before any cluster work."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks import reference
from compute.cli import main
from compute.exceptions import CatalogError
from compute.jobs import RollupParams, VerifyParams, rollup, verify
from compute.session import Session
from compute.tables import Catalog

ROSTER = "社保名册"
ROSTER_COLUMNS = {"证件号码": "resident_id", "姓名": "person_name", "出生日期": "birth_date",
                  "行政区划代码": "division_code"}


@pytest.fixture
def data(dataset: Path, tmp_path: Path) -> Path:
    """A copy of the generated data directory, free to change."""
    copy = tmp_path / "data"
    shutil.copytree(dataset, copy)
    return copy


def write_roster(data: Path) -> Path:
    """A department's roster written by Polars, with Chinese column names and its own types
    (large strings, int64 division codes): the insured persons' rows under other names."""
    insured = pq.read_table(data / "insured_persons").to_pandas()
    roster = pl.DataFrame({
        "证件号码": insured["resident_id"].tolist(),
        "姓名": insured["name"].tolist(),
        "出生日期": insured["birth_date"].tolist(),
        "行政区划代码": insured["division_code"].astype("int64").tolist(),
        "备注": ["imported"] * len(insured),
    })
    (data / "roster").mkdir()
    roster.write_parquet(data / "roster" / "part-0.parquet")
    return data / "roster"


def test_a_roster_with_chinese_columns_is_verified_like_any_source(
    data: Path, local_cluster, same_rows
) -> None:
    write_roster(data)
    catalog = Catalog.load(data)
    entry = catalog.add(ROSTER, "roster", owner="人力资源和社会保障局", sharing="conditional",
                        elements=ROSTER_COLUMNS, description="参保人员名册")
    assert entry.column("备注").element is None and entry.column("备注").sensitivity == "personal"
    assert [e.name for e in catalog.search("参保")] == [ROSTER]
    assert ROSTER in [e.name for e in catalog.search("person_name")]

    session = Session(catalog, local_cluster)
    result = session.run(verify(session, sources=[ROSTER]), show_progress=False)
    con = reference.connect(data)
    con.execute(f"""CREATE OR REPLACE VIEW "{ROSTER}" AS
                    SELECT 证件号码 AS resident_id, 姓名 AS name, 出生日期 AS birth_date,
                           行政区划代码::INTEGER AS division_code
                    FROM read_parquet('{data}/roster/*.parquet')""")
    expected = reference.verify(con, VerifyParams(sources=(ROSTER,)))
    assert len(expected["conflicts"]) > 0
    for output, frame in expected.items():
        same_rows(result[output], frame)
    assert result.versions == {"residents": 0, ROSTER: 0}


def test_a_wrong_mapping_is_refused_naming_the_column(data: Path) -> None:
    write_roster(data)
    catalog = Catalog.load(data)
    with pytest.raises(CatalogError, match=r"column '出生日期' is stored as date32.*resident_id"):
        catalog.add(ROSTER, "roster", owner="x", sharing="conditional",
                    elements={"出生日期": "resident_id"})
    with pytest.raises(CatalogError, match="no column 'ID'"):
        catalog.add(ROSTER, "roster", owner="x", sharing="conditional",
                    elements={"ID": "resident_id"})
    with pytest.raises(CatalogError, match="unknown data element 'passport'"):
        catalog.add(ROSTER, "roster", owner="x", sharing="conditional",
                    elements={"证件号码": "passport"})
    assert ROSTER not in catalog  # nothing half-registered


def rollup_over(data: Path, deaths: list[str]) -> dict[str, pd.DataFrame]:
    """The reference's rollup over the residents and enterprises, and exactly ``deaths``."""
    con = reference.install(duckdb.connect())
    reference.attach(con, data, tables=["residents", "enterprises"])
    listed = ", ".join(f"'{f}'" for f in deaths)
    con.execute(f"CREATE VIEW deaths AS SELECT * FROM read_parquet([{listed}])")
    return reference.rollup(con, RollupParams())


def test_rollup_as_of_before_and_after_an_append(
    data: Path, local_cluster, same_rows, tmp_path: Path
) -> None:
    catalog = Catalog.load(data)
    before_files = [str(f.path) for f in catalog.version("deaths").files]
    residents = pq.read_table(data / "residents", columns=["resident_id"]).column(0)
    newly_dead = pa.table({
        "resident_id": residents.slice(0, 300),
        "death_date": pa.array([dt.date(2025, 6, 1)] * 300, pa.date32()),
    })
    pq.write_table(newly_dead, tmp_path / "deaths-june.parquet")
    time.sleep(1.1)  # commit times have millisecond resolution; keep the moments apart
    between = dt.datetime.now(dt.UTC)
    time.sleep(1.1)
    assert catalog.update("deaths", tmp_path / "deaths-june.parquet", "append") == 1
    after_files = [str(f.path) for f in catalog.version("deaths").files]
    assert len(after_files) == len(before_files) + 1

    history = catalog.history("deaths")
    assert [(h["version"], h["rows"]) for h in history] == [
        (1, catalog.table("deaths").rows), (0, catalog.table("deaths").rows - 300)]
    assert history[0]["rows_added"] == 300

    session = Session(catalog, local_cluster)
    results = {}
    for label, as_of, files in (("before", between, before_files),
                                ("after", None, after_files)):
        result = session.run(rollup(session, as_of=as_of), show_progress=False)
        same_rows(result["population"], rollup_over(data, files)["population"])
        results[label] = result
    assert results["before"].versions["deaths"] == 0
    assert results["after"].versions["deaths"] == 1
    nation = {label: r["population"].query("level == 'nation'")["population"].sum()
              for label, r in results.items()}
    assert 0 < nation["before"] - nation["after"] <= 300


def test_cli_records_versions_and_reads_as_of(data: Path, tmp_path: Path, capsys) -> None:
    catalog = Catalog.load(data)
    moment = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(1.1)
    pq.write_table(pq.read_table(data / "deaths").slice(0, 10), tmp_path / "more.parquet")
    assert main(["catalog", "update", "deaths", "--append", str(tmp_path / "more.parquet"),
                 "--data", str(data)]) == 0
    assert main(["catalog", "history", "deaths", "--data", str(data)]) == 0
    printed = capsys.readouterr().out
    assert "version 1 committed" in printed and "WRITE" in printed and "CONVERT" in printed
    out = tmp_path / "out"
    assert main(["run", "rollup", "--data", str(data), "--out", str(out), "--as-of", moment,
                 "--backend", "cpu", "--workers", "1"]) == 0
    record = pd.read_json(out / "_job.json", typ="series")
    assert record["versions"]["deaths"] == 0
    assert "deaths v0" in capsys.readouterr().out
    assert catalog.table("deaths").version == 1


def test_a_missing_element_fails_before_any_cluster_work(data: Path, tmp_path: Path,
                                                         capsys) -> None:
    Catalog.load(data).remove("tax_returns")
    out = tmp_path / "out"
    # --scheduler points nowhere: reaching it would fail differently, so the check came first.
    code = main(["run", "eligibility", "--data", str(data), "--out", str(out),
                 "--scheduler", "tcp://127.0.0.1:1"])
    assert code == 2
    error = capsys.readouterr().err
    assert "element 'income'" in error and "tax_year" not in error.split("element")[0]
    assert not out.exists()
