"""The catalog of a data directory: an embedded SQLite database, ``DIR/catalog.db``.

It records every registered table (owner department, sharing class, description, where its
Delta table lies, its latest version, rows and bytes), every column (stored Arrow type, data
element, sensitivity) and, per element, the one table that is its authoritative source.
SQLite keeps it searchable at hub scale (tens of thousands of tables) and transactional:
readers never see a half-applied change, and several processes may register tables at once.
Paths are stored relative to the data directory, so a directory moved or copied whole stays
valid. ``catalog.yaml`` is the readable export/import format (``compute.tables.catalog_file``).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from compute.exceptions import CatalogError, DataError
from compute.tables import delta
from compute.tables.elements import ELEMENTS, SENSITIVITIES, check_mapping, element

DATABASE = "catalog.db"
CATALOG_FILE = "catalog.yaml"
FORMAT_VERSION = 2
SHARING_CLASSES = ("unconditional", "conditional", "not_shared")
# A column nobody classified is protected as personal data until a steward says otherwise.
UNCLASSIFIED_SENSITIVITY = "personal"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tables (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    sharing TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL,
    version INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    registered TEXT NOT NULL,
    search TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS columns (
    table_name TEXT NOT NULL REFERENCES tables(name) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    element TEXT,
    sensitivity TEXT NOT NULL,
    PRIMARY KEY (table_name, position)
);
CREATE INDEX IF NOT EXISTS columns_by_element ON columns (element);
CREATE TABLE IF NOT EXISTS authorities (
    element TEXT PRIMARY KEY,
    table_name TEXT NOT NULL REFERENCES tables(name) ON DELETE CASCADE
);
"""


@dataclass(frozen=True)
class ColumnEntry:
    """A column as the catalog records it: stored Arrow type, element (or None), sensitivity."""

    name: str
    dtype: str
    element: str | None
    sensitivity: str


@dataclass(frozen=True)
class TableEntry:
    """A table as the catalog records it; ``directory`` is absolute, the rest is the latest
    version's."""

    name: str
    owner: str
    sharing: str
    description: str
    directory: Path
    version: int
    rows: int
    bytes: int
    registered: str
    columns: tuple[ColumnEntry, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> ColumnEntry:
        for column in self.columns:
            if column.name == name:
                return column
        raise CatalogError(
            f"table {self.name!r} has no column {name!r}; it has {', '.join(self.column_names)}"
        )

    def column_of(self, element_name: str) -> str | None:
        """The column holding ``element_name``, or None."""
        for column in self.columns:
            if column.element == element_name:
                return column.name
        return None


@dataclass(frozen=True)
class Registration:
    """What registering one table takes; see :meth:`Catalog.add`."""

    name: str
    path: str
    owner: str
    sharing: str
    elements: dict[str, str] = field(default_factory=dict)
    sensitivities: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def check(self, root: Path) -> Path:
        """The dataset's absolute directory; a bad name, owner, sharing or path is refused."""
        _check_name(self.name)
        if not self.owner.strip():
            raise CatalogError(f"table {self.name!r}: the owner department must not be empty")
        if self.sharing not in SHARING_CLASSES:
            raise CatalogError(
                f"table {self.name!r}: sharing must be one of {', '.join(SHARING_CLASSES)}, "
                f"not {self.sharing!r}"
            )
        directory = Path(self.path) if Path(self.path).is_absolute() else root / self.path
        directory = directory.resolve()
        if not directory.is_dir():
            raise CatalogError(f"table {self.name!r}: {str(directory)!r} is not a directory")
        return directory


class Catalog:
    """The catalog database of one data directory."""

    def __init__(self, root: Path, database: Path | None = None) -> None:
        self.root = root
        self.path = database or root / DATABASE

    @classmethod
    def load(cls, data: str | os.PathLike[str] | Catalog) -> Catalog:
        """The catalog of directory ``data`` (or ``data`` itself when it already is one)."""
        if isinstance(data, Catalog):
            return data
        root = Path(data)
        if (root / DATABASE).is_file():
            return cls(root)
        if (root / CATALOG_FILE).is_file():
            raise CatalogError(
                f"{str(root)!r} holds a catalog in the old format ({CATALOG_FILE}, plain Parquet "
                f"directories); convert it with `govgrid catalog upgrade {root}`"
            )
        raise CatalogError(
            f"{str(root)!r} has no catalog ({DATABASE}); generate data there with "
            "`govgrid generate`, or register tables with `govgrid catalog add`"
        )

    @classmethod
    def create(cls, root: str | os.PathLike[str], database: Path | None = None) -> Catalog:
        """An empty catalog in directory ``root`` (made if needed); an existing one is kept.

        ``database`` puts the database file elsewhere (a temporary file to rename into place).
        """
        catalog = cls(Path(root), database)
        catalog.root.mkdir(parents=True, exist_ok=True)
        with catalog._write():
            pass
        return catalog

    # --- reading ------------------------------------------------------------------------

    def names(self) -> list[str]:
        with self._read() as db:
            return [row[0] for row in db.execute("SELECT name FROM tables ORDER BY name")]

    def __contains__(self, name: object) -> bool:
        with self._read() as db:
            return db.execute("SELECT 1 FROM tables WHERE name = ?", (name,)).fetchone() \
                is not None

    def __len__(self) -> int:
        with self._read() as db:
            return db.execute("SELECT count(*) FROM tables").fetchone()[0]

    def table(self, name: str) -> TableEntry:
        """The entry of table ``name``; an unknown name is a CatalogError."""
        with self._read() as db:
            entries = self._entries(db, "WHERE t.name = ?", (name,))
        if not entries:
            raise CatalogError(self._unknown(name))
        return entries[0]

    @property
    def tables(self) -> dict[str, TableEntry]:
        """Every entry by name (reads the whole catalog: for listings, not lookups)."""
        with self._read() as db:
            return {entry.name: entry for entry in self._entries(db, "", ())}

    def search(self, text: str, limit: int = 100) -> list[TableEntry]:
        """Tables whose name, description, owner, column or element contains ``text``."""
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%") \
            .replace("_", "\\_") + "%"
        with self._read() as db:
            return self._entries(
                db, "WHERE t.search LIKE ? ESCAPE '\\' ", (pattern,), limit=limit
            )

    def authority(self, element_name: str) -> str | None:
        """The table that is the authoritative source of ``element_name``, or None."""
        element(element_name)
        with self._read() as db:
            row = db.execute("SELECT table_name FROM authorities WHERE element = ?",
                             (element_name,)).fetchone()
        return row[0] if row else None

    def authorities(self) -> dict[str, str]:
        with self._read() as db:
            return dict(db.execute("SELECT element, table_name FROM authorities ORDER BY 1"))

    def holding(self, *elements: str) -> list[str]:
        """Tables that hold every one of ``elements``, by name."""
        for name in elements:
            element(name)
        with self._read() as db:
            marks = ", ".join("?" * len(elements))
            rows = db.execute(
                f"SELECT table_name FROM columns WHERE element IN ({marks}) "
                "GROUP BY table_name HAVING count(DISTINCT element) = ? ORDER BY table_name",
                (*elements, len(elements)),
            )
            return [row[0] for row in rows]

    def elements_beside(self, key: str, elements: tuple[str, ...]) -> dict[str, list[str]]:
        """For every table holding element ``key``: which of ``elements`` it holds too (one
        query, indexed by element, however large the catalog)."""
        for name in (key, *elements):
            element(name)
        marks = ", ".join("?" * len(elements))
        held: dict[str, list[str]] = {}
        with self._read() as db:
            for table, element_name in db.execute(
                f"SELECT table_name, element FROM columns WHERE element IN ({marks}) AND "
                "table_name IN (SELECT table_name FROM columns WHERE element = ?) "
                "ORDER BY table_name, position", (*elements, key),
            ):
                held.setdefault(table, []).append(element_name)
        return held

    def version(
        self, name: str, version: int | None = None, as_of: dt.datetime | None = None
    ) -> delta.Version:
        """A version of table ``name``: the latest, number ``version``, or current at ``as_of``."""
        return delta.open_version(name, self.table(name).directory, version, as_of)

    def history(self, name: str) -> list[dict[str, object]]:
        return delta.history(name, self.table(name).directory)

    # --- changing -----------------------------------------------------------------------

    def add(
        self,
        name: str,
        path: str | os.PathLike[str],
        owner: str,
        sharing: str,
        elements: Mapping[str, str] | None = None,
        sensitivities: Mapping[str, str] | None = None,
        description: str = "",
        replace: bool = False,
    ) -> TableEntry:
        """Register the Parquet dataset at ``path`` (a directory of files or a Delta table).

        ``path`` is relative to the data directory unless absolute. A plain directory becomes
        a Delta table in place (version 0). The schema comes from the data; ``elements`` maps
        columns to data elements (a column whose stored type cannot hold its element is
        refused, naming it) and ``sensitivities`` overrides a column's sensitivity (default:
        its element's, else personal). ``replace`` replaces an entry of the same name.
        """
        self.add_many([Registration(name, str(path), owner, sharing, dict(elements or {}),
                                    dict(sensitivities or {}), description)], replace=replace)
        return self.table(name)

    def add_many(self, registrations: list[Registration], replace: bool = False) -> None:
        """Register several tables in one transaction: all of them or none.

        Each distinct directory is opened once, so many entries over shared files (a
        catalog import, a benchmark) cost one database write.
        """
        versions: dict[Path, delta.Version] = {}
        rows = []
        for spec in registrations:
            directory = spec.check(self.root)
            if directory not in versions:
                delta.convert(spec.name, directory)
                versions[directory] = delta.open_version(spec.name, directory)
            current = versions[directory]
            columns = _columns(spec.name, current.schema, spec.elements, spec.sensitivities)
            rows.append((spec, directory, current, columns))
        with self._write() as db:
            for spec, directory, current, columns in rows:
                exists = db.execute("SELECT 1 FROM tables WHERE name = ?",
                                    (spec.name,)).fetchone()
                if exists and not replace:
                    raise CatalogError(f"the catalog already has a table {spec.name!r}; "
                                       "remove it first")
                db.execute("DELETE FROM tables WHERE name = ?", (spec.name,))
                self._insert(db, spec, directory, current, columns)

    def remove(self, name: str) -> list[str]:
        """Unregister table ``name`` (its files stay); returns the elements it was authority of."""
        with self._write() as db:
            if not db.execute("SELECT 1 FROM tables WHERE name = ?", (name,)).fetchone():
                raise CatalogError(self._unknown(name))
            dropped = [row[0] for row in db.execute(
                "SELECT element FROM authorities WHERE table_name = ? ORDER BY 1", (name,))]
            db.execute("DELETE FROM tables WHERE name = ?", (name,))
        return dropped

    def set_authority(self, element_name: str, table: str) -> None:
        """Make ``table`` the authoritative source of ``element_name``; it must hold it."""
        element(element_name)
        with self._write() as db:
            held = db.execute("SELECT 1 FROM columns WHERE table_name = ? AND element = ?",
                              (table, element_name)).fetchone()
            if not held:
                if not db.execute("SELECT 1 FROM tables WHERE name = ?", (table,)).fetchone():
                    raise CatalogError(self._unknown(table))
                raise CatalogError(
                    f"table {table!r} holds no column mapped to element {element_name!r}, so "
                    "it cannot be its authoritative source"
                )
            db.execute("INSERT OR REPLACE INTO authorities VALUES (?, ?)", (element_name, table))

    def update(self, name: str, source: str | os.PathLike[str], mode: str) -> int:
        """Append the rows of Parquet ``source`` to table ``name`` or replace its rows with
        them (``mode`` "append" or "replace"): one new version; returns its number."""
        if mode not in ("append", "replace"):
            raise CatalogError(f"mode must be 'append' or 'replace', not {mode!r}")
        entry = self.table(name)
        current = delta.open_version(name, entry.directory)
        data = delta.read_update(name, Path(source), current.schema)
        delta.write(name, entry.directory, data, "append" if mode == "append" else "overwrite")
        latest = delta.open_version(name, entry.directory)
        with self._write() as db:
            db.execute("UPDATE tables SET version = ?, rows = ?, bytes = ? WHERE name = ?",
                       (latest.number, latest.rows, latest.bytes, name))
        return latest.number

    # --- rendering ----------------------------------------------------------------------

    def render(self) -> str:
        """A readable listing: one line per table."""
        header = ("table", "owner", "sharing", "version", "rows", "size", "elements")
        rows = [
            (e.name, e.owner, e.sharing, str(e.version), f"{e.rows:,}", _size(e.bytes),
             ", ".join(c.element for c in e.columns if c.element))
            for e in self.tables.values()
        ]
        return "\n".join([f"catalog of {self.root}", *_grid(header, rows, right=(3, 4, 5))])

    def render_table(self, name: str) -> str:
        """One table: its facts, its columns, and the elements it is the authority of."""
        entry = self.table(name)
        authority_of = sorted(e for e, t in self.authorities().items() if t == name)
        lines = [
            f"table {entry.name}",
            f"  owner        {entry.owner}",
            f"  sharing      {entry.sharing}",
            f"  description  {entry.description or '-'}",
            f"  path         {_relative(self.root, entry.directory)}",
            f"  version      {entry.version} ({entry.rows:,} rows, {_size(entry.bytes)})",
            f"  registered   {entry.registered}",
            f"  authority of {', '.join(authority_of) or '-'}",
            "",
        ]
        lines += ["  " + line for line in _grid(
            ("column", "stored as", "element", "sensitivity"),
            [(c.name, c.dtype, c.element or "-", c.sensitivity) for c in entry.columns],
            right=(),
        )]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Catalog {str(self.root)!r}>"

    # --- the database -------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        db = _connect(self.path)
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: all of it is applied or none (BEGIN IMMEDIATE takes the write
        lock at once, so two writers queue instead of failing halfway)."""
        db = _connect(self.path)
        try:
            db.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (str(FORMAT_VERSION),))
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def _insert(
        self, db: sqlite3.Connection, spec: Registration, directory: Path,
        current: delta.Version, columns: list[ColumnEntry],
    ) -> None:
        registered = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        search = " ".join([spec.name, spec.description, spec.owner,
                           *(c.name for c in columns),
                           *(c.element for c in columns if c.element)]).lower()
        db.execute(
            "INSERT INTO tables VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (spec.name, spec.owner, spec.sharing, spec.description,
             _relative(self.root, directory), current.number, current.rows, current.bytes,
             registered, search),
        )
        db.executemany(
            "INSERT INTO columns VALUES (?, ?, ?, ?, ?, ?)",
            [(spec.name, i, c.name, c.dtype, c.element, c.sensitivity)
             for i, c in enumerate(columns)],
        )

    def _entries(
        self, db: sqlite3.Connection, where: str, args: tuple, limit: int | None = None
    ) -> list[TableEntry]:
        query = ("SELECT t.name, t.owner, t.sharing, t.description, t.path, t.version, t.rows, "
                 f"t.bytes, t.registered FROM tables t {where} ORDER BY t.name")
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        tables = db.execute(query, args).fetchall()
        if not tables:
            return []
        names = [row[0] for row in tables]
        columns: dict[str, list[ColumnEntry]] = {name: [] for name in names}
        for start in range(0, len(names), 500):
            chunk = names[start:start + 500]
            for table_name, *column in db.execute(
                "SELECT table_name, name, type, element, sensitivity FROM columns "
                f"WHERE table_name IN ({', '.join('?' * len(chunk))}) "
                "ORDER BY table_name, position", chunk,
            ):
                columns[table_name].append(ColumnEntry(*column))
        return [
            TableEntry(name, owner, sharing, description, _absolute(self.root, path), version,
                       rows, size, registered, tuple(columns[name]))
            for name, owner, sharing, description, path, version, rows, size, registered
            in tables
        ]

    def _unknown(self, name: str) -> str:
        names = self.names()
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        return f"the catalog of {str(self.root)!r} has no table {name!r}; it has {shown or 'none'}"


def _connect(path: Path) -> sqlite3.Connection:
    if not path.parent.is_dir():
        raise CatalogError(f"{str(path.parent)!r} is not a directory")
    try:
        db = sqlite3.connect(path, timeout=60, isolation_level=None)
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as exc:
        raise CatalogError(f"cannot open the catalog {str(path)!r}: {exc}") from exc
    return db


def _columns(
    table: str, schema: pa.Schema, elements: dict[str, str], sensitivities: dict[str, str]
) -> list[ColumnEntry]:
    for column in [*elements, *sensitivities]:
        if column not in schema.names:
            raise CatalogError(
                f"table {table!r} has no column {column!r}; its columns are "
                f"{', '.join(schema.names)}"
            )
    seen: dict[str, str] = {}
    columns = []
    for stored in schema:
        mapped = elements.get(stored.name)
        if mapped is not None:
            check_mapping(table, stored.name, stored.type, mapped)
            if mapped in seen:
                raise CatalogError(f"table {table!r}: columns {seen[mapped]!r} and "
                                   f"{stored.name!r} both map to element {mapped!r}")
            seen[mapped] = stored.name
        sensitivity = sensitivities.get(stored.name) or (
            ELEMENTS[mapped].sensitivity if mapped else UNCLASSIFIED_SENSITIVITY)
        if sensitivity not in SENSITIVITIES:
            raise CatalogError(f"table {table!r}: column {stored.name!r}: sensitivity must be "
                               f"one of {', '.join(SENSITIVITIES)}, not {sensitivity!r}")
        columns.append(ColumnEntry(stored.name, str(stored.type), mapped, sensitivity))
    return columns


def _check_name(name: str) -> None:
    if not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
        raise CatalogError(
            f"table name {name!r} must be letters, digits and underscores, not starting with a "
            "digit (Chinese characters are letters)"
        )


def _relative(root: Path, directory: Path) -> str:
    try:
        return directory.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(directory)  # outside the data directory: kept absolute


def _absolute(root: Path, stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else root / path


@dataclass(frozen=True)
class Footer:
    """What a Parquet file's footer tells without reading its data."""

    schema: pa.Schema
    rows: int
    # each row group's uncompressed bytes, all columns: what Dask's ``blocksize`` compares
    row_group_sizes: tuple[int, ...]
    metadata: pq.FileMetaData


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
    sizes = tuple(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    return Footer(metadata.schema.to_arrow_schema(), metadata.num_rows, sizes, metadata)


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
