"""What the SQL engine needs from a catalog: schemas, elements, sizes and lazy scans."""

from __future__ import annotations

from typing import Any, Protocol

import dask.dataframe as dd
import pyarrow as pa

Filter = tuple[str, str, Any]


class TableSource(Protocol):
    """The tables a query may name. An unknown table raises ``CatalogError`` naming it."""

    def schema(self, table: str) -> pa.Schema:
        """The table's columns and their stored Arrow types."""

    def element(self, table: str, column: str) -> str | None:
        """The data element of a column (``"resident_id"``, ``"uscc"``, ...) or None."""

    def rows(self, table: str) -> int:
        """The table's row count, for planning."""

    def distinct(self, table: str, column: str) -> int | None:
        """Estimated distinct values of a column, for planning; None when unknown."""

    def value_range(self, table: str, column: str) -> tuple[Any, Any] | None:
        """Smallest and largest value of an integer or date column, for planning; None when
        unknown."""

    def scan(self, table: str, columns: list[str], filters: list[Filter] | None) -> dd.DataFrame:
        """The table's ``columns`` (engine dtypes), each row failing ``filters`` (a
        conjunction of pyarrow DNF terms) dropped: the engine does not apply them again."""
