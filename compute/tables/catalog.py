"""The catalog of a data directory: ``DIR/catalog.yaml``, what each table is and where it lies.

``govgrid generate`` writes it; for Parquet tables made elsewhere it is written by hand, and
everything but the table names may be left out (see docs/data.md): owner, sharing class and
columns come from the data contract, files from the table's directory, row counts and sizes
from the Parquet footers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from compute.exceptions import CatalogError, DataError
from compute.tables.contract import SENSITIVITIES, SHARING_CLASSES, TABLES, contract_table

CATALOG_FILE = "catalog.yaml"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ColumnEntry:
    """A column as the catalog records it."""

    name: str
    dtype: str
    sensitivity: str


@dataclass(frozen=True)
class TableEntry:
    """A table as the catalog records it; ``files`` are absolute paths, sorted."""

    name: str
    owner: str
    sharing: str
    directory: Path
    files: tuple[Path, ...]
    rows: int
    bytes: int
    columns: tuple[ColumnEntry, ...]


@dataclass(frozen=True)
class Footer:
    """What a Parquet file's footer tells without reading its data."""

    schema: pa.Schema
    rows: int
    row_group_bytes: int  # uncompressed, all columns: what Dask's ``blocksize`` compares


def read_footer(table: str, path: Path) -> Footer:
    """The footer of one file of ``table``; a missing or corrupt file raises DataError."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DataError(f"table {table!r}: file {str(path)!r} does not exist") from None
    try:
        return _cached_footer(str(path), stat.st_mtime_ns, stat.st_size)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(
            f"table {table!r}: file {str(path)!r} is not a readable Parquet file: {exc}"
        ) from exc


@lru_cache(maxsize=4096)
def _cached_footer(path: str, mtime_ns: int, size: int) -> Footer:
    # Keyed by mtime and size, so a rewritten file is read again.
    metadata = pq.read_metadata(path)
    row_group_bytes = sum(
        metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)
    )
    return Footer(metadata.schema.to_arrow_schema(), metadata.num_rows, row_group_bytes)


class Catalog:
    """The tables of one data directory, loaded from or written to ``root/catalog.yaml``."""

    def __init__(self, root: Path, tables: Mapping[str, TableEntry]) -> None:
        self.root = root
        self.tables = dict(tables)

    @classmethod
    def load(cls, data: str | os.PathLike[str] | Catalog) -> Catalog:
        """The catalog of directory ``data`` (or ``data`` itself when it already is one)."""
        if isinstance(data, Catalog):
            return data
        root = Path(data)
        path = root / CATALOG_FILE
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CatalogError(
                f"{str(root)!r} has no {CATALOG_FILE}; generate data there with "
                "`govgrid generate` or write a catalog by hand (docs/data.md)"
            ) from None
        except yaml.YAMLError as exc:
            raise CatalogError(f"{str(path)!r} is not valid YAML: {exc}") from exc
        if not isinstance(document, dict) or not isinstance(document.get("tables"), dict):
            raise CatalogError(f"{str(path)!r} must be a mapping with a 'tables' mapping")
        version = document.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise CatalogError(f"{str(path)!r}: version {version!r} is not {FORMAT_VERSION}")
        tables = {
            name: _table_entry(root, str(name), spec or {})
            for name, spec in document["tables"].items()
        }
        return cls(root, tables)

    @classmethod
    def describe(cls, root: str | os.PathLike[str], names: tuple[str, ...]) -> Catalog:
        """A catalog of the contract tables ``names`` found under ``root``, from their files."""
        root = Path(root)
        return cls(root, {name: _table_entry(root, name, {}) for name in names})

    def table(self, name: str) -> TableEntry:
        """The entry of table ``name``; an unknown name raises CatalogError listing the known."""
        contract_table(name)
        try:
            return self.tables[name]
        except KeyError:
            raise CatalogError(
                f"the catalog of {str(self.root)!r} has no table {name!r}; "
                f"it has {', '.join(self.tables) or 'none'}"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """The catalog as the YAML document it is written as."""
        return {
            "version": FORMAT_VERSION,
            "tables": {
                entry.name: {
                    "owner": entry.owner,
                    "sharing": entry.sharing,
                    "path": entry.directory.relative_to(self.root).as_posix(),
                    "rows": entry.rows,
                    "bytes": entry.bytes,
                    "files": [file.relative_to(entry.directory).as_posix() for file in entry.files],
                    "columns": {
                        column.name: {"dtype": column.dtype, "sensitivity": column.sensitivity}
                        for column in entry.columns
                    },
                }
                for entry in self.tables.values()
            },
        }

    def write(self) -> Path:
        """Write ``root/catalog.yaml`` and return its path."""
        path = self.root / CATALOG_FILE
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)
        path.write_text("# govgrid catalog (docs/data.md)\n" + text, encoding="utf-8")
        return path

    def render(self) -> str:
        """A readable listing: one line per table, then each table's columns."""
        header = ("table", "owner", "sharing", "rows", "size", "files")
        rows = [
            (e.name, e.owner, e.sharing, f"{e.rows:,}", _size(e.bytes), str(len(e.files)))
            for e in self.tables.values()
        ]
        lines = [f"catalog of {self.root}", *_grid(header, rows, right=(3, 4, 5)), ""]
        for entry in self.tables.values():
            lines.append(f"{entry.name}:")
            lines += ["  " + line for line in _grid(
                ("column", "dtype", "sensitivity"),
                [(c.name, c.dtype, c.sensitivity) for c in entry.columns],
                right=(),
            )]
        return "\n".join(lines)


def _table_entry(root: Path, name: str, spec: Mapping[str, Any]) -> TableEntry:
    """One table's entry from its (possibly partial) catalog spec and its files."""
    if name not in TABLES:
        raise CatalogError(
            f"catalog of {str(root)!r}: unknown table {name!r}; the contract has "
            f"{', '.join(TABLES)}"
        )
    if not isinstance(spec, Mapping):
        raise CatalogError(f"catalog of {str(root)!r}: table {name!r} must be a mapping")
    contract = TABLES[name]
    where = f"catalog of {str(root)!r}, table {name!r}"
    owner = str(spec.get("owner", contract.owner))
    sharing = spec.get("sharing", contract.sharing)
    if sharing not in SHARING_CLASSES:
        raise CatalogError(f"{where}: sharing must be one of {SHARING_CLASSES}, not {sharing!r}")
    directory = root / str(spec.get("path", name))
    if "files" in spec:
        files = tuple(sorted(directory / str(file) for file in spec["files"]))
    else:
        if not directory.is_dir():
            raise CatalogError(f"{where}: directory {str(directory)!r} does not exist")
        files = tuple(sorted(directory.glob("*.parquet")))
    if not files:
        raise CatalogError(f"{where}: no Parquet files in {str(directory)!r}")
    rows = spec.get("rows")
    if rows is None:
        rows = sum(read_footer(name, file).rows for file in files)
    size = spec.get("bytes")
    if size is None:
        size = sum(_file_size(name, file) for file in files)
    return TableEntry(
        name, owner, sharing, directory, files, int(rows), int(size),
        _column_entries(where, name, spec.get("columns") or {}),
    )


def _column_entries(where: str, name: str, given: Mapping[str, Any]) -> tuple[ColumnEntry, ...]:
    contract = TABLES[name]
    unknown = set(given) - set(contract.column_names)
    if unknown:
        raise CatalogError(
            f"{where}: columns {sorted(unknown)} are not in the contract "
            f"({', '.join(contract.column_names)})"
        )
    entries = []
    for column in contract.columns:
        spec = given.get(column.name) or {}
        dtype = spec.get("dtype", column.kind)
        if dtype != column.kind:
            raise CatalogError(
                f"{where}: column {column.name!r} has dtype {column.kind} in the contract, "
                f"not {dtype!r}"
            )
        sensitivity = spec.get("sensitivity", column.sensitivity)
        if sensitivity not in SENSITIVITIES:
            raise CatalogError(
                f"{where}: column {column.name!r}: sensitivity must be one of {SENSITIVITIES}"
            )
        entries.append(ColumnEntry(column.name, dtype, sensitivity))
    return tuple(entries)


def _file_size(table: str, path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"table {table!r}: file {str(path)!r} does not exist") from None


def _size(n: int) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, unit = float(n), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{n} B" if unit == 0 else f"{value:,.1f} {units[unit]}"


def _grid(
    header: tuple[str, ...], rows: list[tuple[str, ...]], right: tuple[int, ...]
) -> list[str]:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [line(header), *(line(row) for row in rows)]
