"""The government tables: the data contract and loading tables as Dask DataFrames."""

from compute.tables.catalog import CATALOG_FILE, Catalog, ColumnEntry, TableEntry
from compute.tables.contract import (
    PROGRAMS,
    ROSTERS,
    SENSITIVITIES,
    SHARING_CLASSES,
    TABLES,
    Column,
    Table,
    contract_table,
)
from compute.tables.read import DATE_DTYPE, STRING_DTYPE, check_files, read_table

__all__ = [
    "CATALOG_FILE",
    "DATE_DTYPE",
    "PROGRAMS",
    "ROSTERS",
    "SENSITIVITIES",
    "SHARING_CLASSES",
    "STRING_DTYPE",
    "TABLES",
    "Catalog",
    "Column",
    "ColumnEntry",
    "Table",
    "TableEntry",
    "check_files",
    "contract_table",
    "read_table",
]
