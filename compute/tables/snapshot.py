"""A snapshot: one consistent view of the catalog's tables for a job or a query.

Each table's version is fixed the first time the snapshot touches it (the latest then, or the
one current at ``as_of``) and every later read of that table in the snapshot reads the same
files, so a job never mixes versions. ``versions`` records what was read, for the result.
Jobs find their inputs here through elements and authorities, never by table name in code.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from compute.exceptions import CatalogError, DataError, ParameterError
from compute.tables.catalog import Catalog, TableEntry
from compute.tables.delta import Version
from compute.tables.elements import element
from compute.tables.read import Filters, check_files, read_version
from compute.tables.stats import distinct_estimate


class Snapshot:
    """The catalog's tables as of one moment (``as_of``; None: the latest at first use)."""

    def __init__(
        self,
        catalog: Catalog,
        as_of: dt.datetime | str | None = None,
        partitions: Any = None,
        inputs: Mapping[str, str] | None = None,
    ) -> None:
        self.catalog = catalog
        self.as_of = parse_as_of(as_of)
        # element -> table: where jobs read an element instead of its authoritative source.
        self.inputs = dict(inputs or {})
        for element_name in self.inputs:
            element(element_name)
        # partitions(row groups, bytes in memory) -> int: how many read partitions (the
        # planner's).
        self._partitions = partitions
        self._entries: dict[str, TableEntry] = {}
        self._versions: dict[str, Version] = {}
        # (table, files, columns) of every read, to name the file when a worker fails on it.
        self.reads: list[tuple[str, tuple[Path, ...], tuple[str, ...]]] = []

    @property
    def versions(self) -> dict[str, int]:
        """The version read of every table this snapshot touched."""
        return {name: version.number for name, version in self._versions.items()}

    def entry(self, name: str) -> TableEntry:
        if name not in self._entries:
            self._entries[name] = self.catalog.table(name)
        return self._entries[name]

    def version(self, name: str) -> Version:
        """The version of ``name`` this snapshot reads (fixed at first use)."""
        if name not in self._versions:
            self._versions[name] = self.catalog.version(name, as_of=self.as_of)
        return self._versions[name]

    def rows(self, name: str) -> int:
        return self.version(name).rows

    def schema(self, name: str) -> pa.Schema:
        return self.version(name).schema

    def element(self, table: str, column: str) -> str | None:
        return self.entry(table).column(column).element

    def distinct(self, table: str, column: str) -> int:
        """Estimated distinct values of a column, for planning (see
        :func:`compute.tables.stats.distinct_estimate`), an integer's or a date's from its
        :meth:`value_range`, so a view's rules for ranges hold here too."""
        return distinct_estimate(self.version(table), column, self.value_range(table, column))

    def value_range(self, table: str, column: str) -> tuple[Any, Any] | None:
        """Smallest and largest value of an integer or date column, for planning: its
        :meth:`column_range`, so a view's rules for ranges hold here too; None for another
        type, or where that range is not to be had (no statistics, or not readable)."""
        stored = self.schema(table).field(column).type
        if not (pa.types.is_integer(stored) or pa.types.is_date(stored)):
            return None
        try:
            return self.column_range(table, column)
        except (DataError, PermissionError):
            return None

    def column_of(self, table: str, element_name: str) -> str:
        """The column of ``table`` holding ``element_name``; a CatalogError names both."""
        column = self.entry(table).column_of(element_name)
        if column is None:
            raise CatalogError(f"table {table!r} holds no column mapped to element "
                               f"{element_name!r}")
        return column

    def source_of(self, element_name: str, table: str | None = None) -> str:
        """The table a job reads ``element_name`` from: ``table`` when given (it must hold the
        element), else the snapshot's input for it, else the element's authoritative source.
        Missing: a CatalogError naming the element, raised before any cluster work."""
        element(element_name)
        table = table or self.inputs.get(element_name)
        if table is not None:
            self.column_of(table, element_name)
            return table
        source = self.catalog.authority(element_name)
        if source is None:
            holders = self.catalog.holding(element_name)
            hint = (f"tables holding it: {', '.join(holders)}; name one with "
                    f"`govgrid catalog authority {element_name} TABLE`") if holders else \
                "no registered table holds it; register one with `govgrid catalog add`"
            raise CatalogError(f"no table is the authoritative source of element "
                               f"{element_name!r} ({hint})")
        return source

    def table(
        self,
        name: str,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> dd.DataFrame:
        """Table ``name`` at this snapshot's version, columns and filters pushed into the read."""
        entry = self.entry(name)
        version = self.version(name)
        frame = read_version(entry, version, columns, filters, self._partitions)
        self.reads.append((name, tuple(f.path for f in version.files), tuple(frame.columns)))
        return frame

    def unreadable_file(self) -> tuple[str, Path, str] | None:
        """(table, file, error) of the first file of this snapshot's reads that pyarrow cannot
        decode (the columns read), or None; for naming the file after a job failed on it."""
        for table, files, columns in self.reads:
            for path in files:
                try:
                    pq.ParquetFile(path).read(columns=list(columns))
                except (OSError, pa.ArrowException) as exc:
                    return table, path, str(exc).strip().splitlines()[0]
        return None

    def elements(
        self,
        name: str,
        elements: Sequence[str],
        filters: Sequence[tuple[str, str, Any]] = (),
    ) -> dd.DataFrame:
        """The columns of table ``name`` holding ``elements``, named by element.

        ``filters`` are (element, op, value) terms, one conjunction.
        """
        columns = {self.column_of(name, e): e for e in elements}
        terms = [(self.column_of(name, e), op, value) for e, op, value in filters]
        frame = self.table(name, columns=list(columns), filters=terms or None)
        renamed = {column: e for column, e in columns.items() if column != e}
        return frame.rename(columns=renamed) if renamed else frame

    def estimate_bytes(self, name: str, columns: Sequence[str]) -> int:
        """Rough bytes in memory of ``columns`` of table ``name`` (for the join planner)."""
        schema = self.schema(name)
        return self.rows(name) * sum(value_bytes(schema.field(c).type) for c in columns)

    def check(self, name: str) -> None:
        """Read the footer of every file of ``name``'s version and check it against the
        table's schema: a missing or corrupt file, a missing column or a changed type is a
        DataError naming the table, the file and the column."""
        version = self.version(name)
        check_files(name, version.schema, version.files, version.schema.names)

    def column_range(self, name: str, column: str) -> tuple[Any, Any]:
        """Smallest and largest value of a column, from the Delta log's file statistics."""
        version = self.version(name)
        if column not in version.schema.names:
            raise DataError(f"table {name!r} has no column {column!r}")
        lows, highs = [], []
        for file in version.files:
            if file.rows == 0:
                continue
            if column not in file.minimum or column not in file.maximum:
                raise DataError(f"table {name!r}: file {str(file.path)!r} has no statistics "
                                f"for {column!r}")
            lows.append(file.minimum[column])
            highs.append(file.maximum[column])
        if not lows:
            raise DataError(f"table {name!r} has no rows (version {version.number})")
        return min(lows), max(highs)

    # The SQL layer's table source protocol.
    def scan(self, table: str, columns: list[str], filters: Filters | None) -> dd.DataFrame:
        return self.table(table, columns=columns, filters=filters)


def value_bytes(stored: pa.DataType) -> int:
    """Coarse in-memory width of one value of a column stored as ``stored``."""
    if pa.types.is_string(stored) or pa.types.is_large_string(stored) or \
            pa.types.is_string_view(stored) or pa.types.is_binary(stored):
        return 32
    try:
        return max(1, stored.bit_width // 8)
    except ValueError:
        return 16


def parse_as_of(value: dt.datetime | dt.date | str | None) -> dt.datetime | None:
    """A moment from a datetime, a date (its end) or an ISO string; naive means local time."""
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time.max)
    try:
        stamp = pd.Timestamp(str(value))
    except ValueError:
        raise ParameterError(
            f"as_of must be a time like 2025-12-01T08:00:00+08:00, not {value!r}"
        ) from None
    return stamp.to_pydatetime()


def read_table(
    data: str | os.PathLike[str] | Catalog,
    name: str,
    columns: Sequence[str] | None = None,
    filters: Filters | None = None,
    as_of: dt.datetime | str | None = None,
) -> dd.DataFrame:
    """Table ``name`` of a data directory (or catalog), latest or at ``as_of``, lazily.

    Without a session: one partition per file. See :meth:`Snapshot.table`.
    """
    return Snapshot(Catalog.load(data), as_of).table(name, columns=columns, filters=filters)
