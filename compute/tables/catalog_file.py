"""``catalog.yaml``: the catalog's readable export and import format, and the upgrade of a
data directory from the old format (catalog.yaml v1, plain Parquet directories).

    version: 2
    tables:
      roster_2025:                          # the table's name
        owner: human resources and social security
        sharing: conditional                # unconditional | conditional | not_shared
        description: insured persons, 2025
        path: roster_2025                   # relative to the data directory
        columns:                            # only columns with an element or a sensitivity
          证件号码: {element: resident_id}
          姓名: {element: person_name, sensitivity: personal}
    authorities:
      resident_id: residents
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import yaml

from compute.exceptions import CatalogError
from compute.tables.catalog import (
    CATALOG_FILE,
    DATABASE,
    FORMAT_VERSION,
    Catalog,
    Registration,
)

OLD_FORMAT_VERSION = 1


def export_document(catalog: Catalog) -> dict[str, Any]:
    """The catalog as a ``catalog.yaml`` document (paths relative to the data directory)."""
    tables = {}
    for entry in catalog.tables.values():
        try:
            path = entry.directory.resolve().relative_to(catalog.root.resolve()).as_posix()
        except ValueError:
            path = str(entry.directory)
        tables[entry.name] = {
            "owner": entry.owner,
            "sharing": entry.sharing,
            "description": entry.description,
            "path": path,
            "columns": {
                column.name: {
                    **({"element": column.element} if column.element else {}),
                    "sensitivity": column.sensitivity,
                }
                for column in entry.columns
            },
        }
    return {"version": FORMAT_VERSION, "tables": tables, "authorities": catalog.authorities()}


def write_export(catalog: Catalog, out: Path | None = None) -> Path:
    """Write the export to ``out`` (default ``DIR/catalog.yaml``), atomically."""
    out = out or catalog.root / CATALOG_FILE
    text = "# govgrid catalog (docs/data.md)\n" + yaml.safe_dump(
        export_document(catalog), sort_keys=False, allow_unicode=True, width=100)
    temporary = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, out)
    return out


def import_document(catalog: Catalog, source: Path) -> list[str]:
    """Register every table of the ``catalog.yaml`` at ``source`` (replacing entries of the
    same name) and its authorities; returns the table names."""
    document = _load(source)
    if document.get("version") != FORMAT_VERSION:
        raise CatalogError(f"{str(source)!r}: version {document.get('version')!r} is not "
                           f"{FORMAT_VERSION}; an old data directory is converted with "
                           "`govgrid catalog upgrade DIR`")
    tables = document.get("tables") or {}
    if not isinstance(tables, dict):
        raise CatalogError(f"{str(source)!r}: 'tables' must be a mapping")
    registrations = []
    for name, spec in tables.items():
        where = f"{str(source)!r}, table {name!r}"
        if not isinstance(spec, dict):
            raise CatalogError(f"{where}: must be a mapping")
        unknown = set(spec) - {"owner", "sharing", "description", "path", "columns"}
        if unknown:
            raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")
        columns = spec.get("columns") or {}
        if not isinstance(columns, dict) or not all(isinstance(c, dict)
                                                    for c in columns.values()):
            raise CatalogError(f"{where}: 'columns' must map column names to mappings")
        for column, column_spec in columns.items():
            extra = set(column_spec) - {"element", "sensitivity"}
            if extra:
                raise CatalogError(f"{where}, column {column!r}: unknown keys {sorted(extra)}")
        registrations.append(Registration(
            str(name), str(spec.get("path", name)),
            owner=str(spec.get("owner", "")), sharing=str(spec.get("sharing", "")),
            elements={c: s["element"] for c, s in columns.items() if s.get("element")},
            sensitivities={c: s["sensitivity"] for c, s in columns.items()
                           if s.get("sensitivity")},
            description=str(spec.get("description") or ""),
        ))
    catalog.add_many(registrations, replace=True)
    authorities = document.get("authorities") or {}
    if not isinstance(authorities, dict):
        raise CatalogError(f"{str(source)!r}: 'authorities' must map elements to tables")
    for element_name, table in authorities.items():
        catalog.set_authority(str(element_name), str(table))
    return [str(name) for name in tables]


def upgrade(root: Path) -> Catalog:
    """Convert a data directory in the old format to this one, atomically.

    Each table of the v1 ``catalog.yaml`` (the contract tables of ``govgrid generate``)
    becomes a Delta table in place (its files stay; version 0 is every Parquet file of its
    directory) and is registered with the contract's elements, keeping the owner, sharing and
    sensitivities the old catalog gave. The new ``catalog.db`` is written to a temporary file
    and renamed into place only when complete; the old file is then kept as
    ``catalog.v1.yaml``. Running it again after an interruption finishes the job.
    """
    from compute.tables.contract import AUTHORITIES, TABLES

    if (root / DATABASE).exists():
        raise CatalogError(f"{str(root)!r} already has a {DATABASE}: nothing to upgrade")
    source = root / CATALOG_FILE
    if not source.is_file():
        raise CatalogError(f"{str(root)!r} has no {CATALOG_FILE} to upgrade")
    document = _load(source)
    if document.get("version", OLD_FORMAT_VERSION) != OLD_FORMAT_VERSION:
        raise CatalogError(f"{str(source)!r} is not a version {OLD_FORMAT_VERSION} catalog; "
                           "import it with `govgrid catalog import`")
    tables = document.get("tables")
    if not isinstance(tables, dict):
        raise CatalogError(f"{str(source)!r} must be a mapping with a 'tables' mapping")
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise CatalogError(f"{str(source)!r}: unknown tables {unknown}; a version 1 catalog "
                           f"holds only {', '.join(TABLES)}")
    temporary = root / f".{DATABASE}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        catalog = Catalog.create(root, database=temporary)
        registrations = []
        for name, spec in tables.items():
            spec = spec or {}
            contract = TABLES[name]
            given = spec.get("columns") or {}
            registrations.append(Registration(
                name, str(spec.get("path", name)),
                owner=str(spec.get("owner", contract.owner)),
                sharing=str(spec.get("sharing", contract.sharing)),
                elements={c.name: c.element for c in contract.columns if c.element},
                sensitivities={c.name: (given.get(c.name) or {}).get("sensitivity",
                                                                     c.sensitivity)
                               for c in contract.columns},
                description=f"{name} (upgraded from catalog.yaml v1)",
            ))
        catalog.add_many(registrations)
        for element_name, table in AUTHORITIES.items():
            if table in tables:
                catalog.set_authority(element_name, table)
        # Every connection is closed by now, so SQLite has folded its write-ahead log into
        # the file: the one rename publishes the whole catalog.
        os.replace(temporary, root / DATABASE)
    finally:
        for leftover in (temporary, Path(f"{temporary}-wal"), Path(f"{temporary}-shm")):
            leftover.unlink(missing_ok=True)
    os.replace(source, root / "catalog.v1.yaml")
    return Catalog.load(root)


def _load(source: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{str(source)!r} does not exist") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{str(source)!r} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise CatalogError(f"{str(source)!r} must be a mapping")
    return document
