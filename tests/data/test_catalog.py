"""The catalog database: registering, searching, authorities, versions, export and upgrade."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from compute.cli import main
from compute.exceptions import CatalogError, DataError
from compute.tables import Catalog, read_table
from compute.tables.catalog_file import export_document, import_document, upgrade, write_export
from tests.data.conftest import read


def small_table(root: Path, name: str, rows: int = 5) -> Path:
    """A directory ``root/name`` holding one Parquet file: id (resident IDs), amount."""
    directory = root / name
    directory.mkdir(parents=True)
    pq.write_table(pa.table({
        "id": [f"11010119800101{i:03d}X" for i in range(rows)],
        "amount": pa.array([float(i) for i in range(rows)]),
        "day": pa.array([dt.date(2025, 1, 1 + i) for i in range(rows)], pa.date32()),
    }), directory / "part-0.parquet")
    return directory


def test_register_show_search_and_remove(tmp_path: Path) -> None:
    catalog = Catalog.create(tmp_path)
    small_table(tmp_path, "grants")
    entry = catalog.add("grants", "grants", owner="civil affairs", sharing="unconditional",
                        elements={"id": "resident_id", "amount": "payment_amount"},
                        sensitivities={"day": "internal"}, description="hardship grants")
    assert (entry.version, entry.rows) == (0, 5)
    assert [(c.name, c.element, c.sensitivity) for c in entry.columns] == [
        ("id", "resident_id", "personal_id"), ("amount", "payment_amount", "personal"),
        ("day", None, "internal")]
    for text in ("grants", "HARDSHIP", "civil", "amount", "payment_amount"):
        assert [e.name for e in catalog.search(text)] == ["grants"], text
    assert catalog.search("100%_") == []  # LIKE wildcards are taken literally
    assert "authority of -" in catalog.render_table("grants")
    with pytest.raises(CatalogError, match="already has a table 'grants'"):
        catalog.add("grants", "grants", owner="x", sharing="unconditional")
    catalog.set_authority("payment_amount", "grants")
    assert catalog.remove("grants") == ["payment_amount"]
    assert "grants" not in catalog and catalog.authorities() == {}
    assert (tmp_path / "grants" / "part-0.parquet").exists()  # the files stay


@pytest.mark.parametrize("kwargs, message", [
    ({"sharing": "open"}, "sharing must be one of"),
    ({"owner": " "}, "owner department must not be empty"),
    ({"sensitivities": {"amount": "secret"}}, "sensitivity must be one of"),
    ({"elements": {"amount": "resident_id"}}, "column 'amount' is stored as double"),
    ({"elements": {"id": "resident_id", "day": "resident_id"}}, "column 'day' is stored"),
    ({"elements": {"id": "resident_id"}, "name": "1st"}, "must be letters, digits"),
])
def test_bad_registrations_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    catalog = Catalog.create(tmp_path)
    small_table(tmp_path, "grants")
    arguments = {"name": "grants", "path": "grants", "owner": "civil affairs",
                 "sharing": "conditional", **kwargs}
    with pytest.raises(CatalogError, match=message):
        catalog.add(**arguments)
    assert len(catalog) == 0


def test_an_authority_must_hold_its_element(tmp_path: Path) -> None:
    catalog = Catalog.create(tmp_path)
    small_table(tmp_path, "grants")
    catalog.add("grants", "grants", owner="x", sharing="conditional",
                elements={"id": "resident_id"})
    with pytest.raises(CatalogError, match="holds no column mapped to element 'income'"):
        catalog.set_authority("income", "grants")
    with pytest.raises(CatalogError, match="unknown data element 'salary'"):
        catalog.set_authority("salary", "grants")
    with pytest.raises(CatalogError, match="no table 'nothing'"):
        catalog.set_authority("resident_id", "nothing")


def _register(root: str, index: int) -> str:
    catalog = Catalog.load(root)
    for k in range(5):
        name = f"t{index}_{k}"
        catalog.add(name, f"shared{index}", owner=f"dept {index}", sharing="conditional")
    return "ok"


def test_two_processes_registering_at_once_both_succeed(tmp_path: Path) -> None:
    Catalog.create(tmp_path)
    for index in range(2):
        small_table(tmp_path, f"shared{index}")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert pool.starmap(_register, [(str(tmp_path), 0), (str(tmp_path), 1)]) == ["ok"] * 2
    assert len(Catalog.load(tmp_path)) == 10


def test_a_data_directory_moved_whole_stays_valid(data: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "hub"
    shutil.copytree(data, moved)
    frame = read_table(moved, "deaths").compute()
    assert len(frame) == len(read(data, "deaths"))
    assert Catalog.load(moved).table("deaths").directory == moved / "deaths"


def test_export_and_import_round_trip(data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    catalog = Catalog.load(copy)
    exported = write_export(catalog, tmp_path / "catalog.yaml")
    document = yaml.safe_load(exported.read_text(encoding="utf-8"))
    assert document["tables"]["residents"]["columns"]["name"] == {
        "element": "person_name", "sensitivity": "personal"}
    (copy / "catalog.db").unlink()
    fresh = Catalog.create(copy)
    assert import_document(fresh, exported) == list(document["tables"])
    again = export_document(fresh)
    assert again["tables"] == document["tables"]
    assert again["authorities"] == document["authorities"]


def test_import_refuses_unknown_keys_naming_them(tmp_path: Path) -> None:
    small_table(tmp_path, "grants")
    (tmp_path / "in.yaml").write_text(
        "version: 2\ntables:\n  grants: {owner: x, sharing: conditional, colour: red}\n")
    with pytest.raises(CatalogError, match=r"table 'grants': unknown keys \['colour'\]"):
        import_document(Catalog.create(tmp_path), tmp_path / "in.yaml")


def test_an_old_data_directory_is_refused_then_upgraded(data: Path, tmp_path: Path,
                                                       capsys) -> None:
    old = tmp_path / "old"
    for name in ("residents", "deaths"):
        old.joinpath(name).mkdir(parents=True)
        for file in (data / name).glob("*.parquet"):
            shutil.copy(file, old / name / file.name)
    (old / "catalog.yaml").write_text(
        "version: 1\ntables:\n  residents: {}\n  deaths: {sharing: not_shared}\n")
    with pytest.raises(CatalogError, match="govgrid catalog upgrade"):
        Catalog.load(old)
    assert main(["catalog", "upgrade", str(old)]) == 0
    assert "upgraded" in capsys.readouterr().out
    catalog = Catalog.load(old)
    assert catalog.names() == ["deaths", "residents"]
    assert catalog.table("deaths").sharing == "not_shared"
    assert catalog.authority("person_name") == "residents"
    assert catalog.authority("death_date") == "deaths"
    assert (old / "catalog.v1.yaml").exists() and not (old / "catalog.yaml").exists()
    assert len(read_table(old, "residents").compute()) == len(read(data, "residents"))
    with pytest.raises(CatalogError, match="nothing to upgrade"):
        upgrade(old)


def test_a_failed_upgrade_leaves_the_old_catalog_in_place(tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "residents").mkdir(parents=True)
    (old / "catalog.yaml").write_text("version: 1\ntables:\n  residents: {}\n")
    with pytest.raises(DataError, match="no Parquet files"):
        upgrade(old)
    assert sorted(p.name for p in old.iterdir()) == ["catalog.yaml", "residents"]


def test_deletion_vectors_are_refused_not_read_wrong(tmp_path: Path) -> None:
    from deltalake import DeltaTable, write_deltalake

    table = pa.table({"id": pa.array(range(10), pa.int64())})
    write_deltalake(str(tmp_path / "dv"), table,
                    configuration={"delta.enableDeletionVectors": "true"})
    DeltaTable(str(tmp_path / "dv")).delete("id < 3")
    catalog = Catalog.create(tmp_path)
    protocol = DeltaTable(str(tmp_path / "dv")).protocol()
    # The pinned deltalake writes deletion vectors for this delete: the table really has them.
    assert "deletionVectors" in (protocol.reader_features or ())
    with pytest.raises(DataError, match="deletionVectors"):
        catalog.add("dv", "dv", owner="x", sharing="conditional")


def test_update_refuses_a_file_that_does_not_fit(data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    catalog = Catalog.load(copy)
    pq.write_table(pa.table({"resident_id": ["x"]}), tmp_path / "short.parquet")
    with pytest.raises(DataError, match=r"lacks columns \['death_date'\]"):
        catalog.update("deaths", tmp_path / "short.parquet", "append")
    pq.write_table(pa.table({"resident_id": ["x"], "death_date": ["soon"]}),
                   tmp_path / "text.parquet")
    with pytest.raises(DataError, match="column 'death_date'"):
        catalog.update("deaths", tmp_path / "text.parquet", "append")
    assert catalog.table("deaths").version == 0


def test_replace_commits_a_version_with_only_the_new_rows(data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    catalog = Catalog.load(copy)
    rows = pq.read_table(copy / "deaths").slice(0, 7)
    pq.write_table(rows, tmp_path / "seven.parquet")
    assert catalog.update("deaths", tmp_path / "seven.parquet", "replace") == 1
    assert len(read_table(copy, "deaths").compute()) == 7
    assert catalog.table("deaths").rows == 7
    with pytest.raises(DataError, match="has no version at or before 2000-01-01"):
        read_table(copy, "deaths", as_of=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


def test_catalog_commands(tmp_path: Path, capsys) -> None:
    small_table(tmp_path, "grants")
    data = str(tmp_path)
    assert main(["catalog", "add", "grants", "--data", data, "--path", "grants",
                 "--owner", "民政局", "--sharing", "conditional",
                 "--element", "id=resident_id", "--sensitivity", "day=internal",
                 "--description", "临时救助"]) == 0
    assert "registered grants: version 0, 5 rows, 3 columns" in capsys.readouterr().out
    assert main(["catalog", "show", "grants", "--data", data]) == 0
    assert "民政局" in capsys.readouterr().out
    assert main(["catalog", "search", "救助", "--data", data]) == 0
    assert "1 table" in capsys.readouterr().out
    assert main(["catalog", "authority", "resident_id", "grants", "--data", data]) == 0
    assert main(["catalog", "authority", "--data", data]) == 0
    assert "resident_id          grants" in capsys.readouterr().out
    assert main(["catalog", "add", "bad", "--data", data, "--path", "grants", "--owner", "x",
                 "--sharing", "conditional", "--element", "amount"]) == 2
    assert "--element must be COLUMN=ELEMENT" in capsys.readouterr().err
    assert main(["catalog", "elements"]) == 0
    assert "resident_id" in capsys.readouterr().out
    assert main(["catalog", "remove", "grants", "--data", data]) == 0
    assert "was the authority of resident_id" in capsys.readouterr().out
