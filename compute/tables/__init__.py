"""The hub's tables: data elements, the catalog, versions (Delta Lake) and reading snapshots."""

from compute.tables.catalog import (
    CATALOG_FILE,
    DATABASE,
    SHARING_CLASSES,
    Catalog,
    ColumnEntry,
    TableEntry,
)
from compute.tables.contract import AUTHORITIES, PROGRAMS, ROSTERS, TABLES, Column, Table
from compute.tables.dtypes import DATE_DTYPE, STRING_DTYPE
from compute.tables.elements import ELEMENTS, SENSITIVITIES, Element
from compute.tables.snapshot import Snapshot, read_table

__all__ = [
    "AUTHORITIES",
    "CATALOG_FILE",
    "DATABASE",
    "DATE_DTYPE",
    "ELEMENTS",
    "PROGRAMS",
    "ROSTERS",
    "SENSITIVITIES",
    "SHARING_CLASSES",
    "STRING_DTYPE",
    "TABLES",
    "Catalog",
    "Column",
    "ColumnEntry",
    "Element",
    "Snapshot",
    "Table",
    "TableEntry",
    "read_table",
]
