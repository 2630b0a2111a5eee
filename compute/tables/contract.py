"""The data contract (v1) as code: every table's columns, Arrow types, owner and sensitivity.

The single source for the generator, the catalog and the loader. A column's ``kind`` is the
logical type the contract names (``string``, ``date``, ``int8`` ...); ``arrow_type`` is how it
is stored in Parquet, and ``accepts`` tells which stored types a hand-made file may use.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from compute.exceptions import ParameterError

SHARING_CLASSES = ("unconditional", "conditional", "not_shared")
SENSITIVITIES = ("public", "internal", "personal", "personal_id")

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "date": pa.date32(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
}
# Other writers (Polars, DuckDB) store strings as large_string or string_view; they load alike.
_STRING_TYPES = (pa.string(), pa.large_string(), pa.string_view())


@dataclass(frozen=True)
class Column:
    """One column of a contract table."""

    name: str
    kind: str
    sensitivity: str

    def __post_init__(self) -> None:
        if self.kind not in ARROW_TYPES:
            raise ValueError(f"column {self.name!r}: kind must be one of {tuple(ARROW_TYPES)}")
        if self.sensitivity not in SENSITIVITIES:
            raise ValueError(f"column {self.name!r}: sensitivity must be one of {SENSITIVITIES}")

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.kind]

    def accepts(self, stored: pa.DataType) -> bool:
        """Whether a file storing this column as ``stored`` satisfies the contract."""
        if self.kind == "string":
            return stored in _STRING_TYPES
        return stored == self.arrow_type


@dataclass(frozen=True)
class Table:
    """One contract table: its owner department, sharing class and columns."""

    name: str
    owner: str
    sharing: str
    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        if self.sharing not in SHARING_CLASSES:
            raise ValueError(f"table {self.name!r}: sharing must be one of {SHARING_CLASSES}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name!r} has no column {name!r}; it has {self.column_names}")

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(column.name, column.arrow_type) for column in self.columns])


def _columns(*specs: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


_RESIDENT_ID = ("resident_id", "string", "personal_id")
_NAME = ("name", "string", "personal")
_BIRTH_DATE = ("birth_date", "date", "personal")
_DIVISION = ("division_code", "int32", "public")
_ROSTER = _columns(_RESIDENT_ID, _NAME, _BIRTH_DATE, _DIVISION)

TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table("divisions", "civil affairs", "unconditional", _columns(
            ("division_code", "int32", "public"),
            ("name", "string", "public"),
            ("level", "int8", "public"),
            ("parent_code", "int32", "public"),
        )),
        Table("residents", "public security", "conditional", _columns(
            _RESIDENT_ID, _NAME, ("sex", "int8", "personal"), _BIRTH_DATE, _DIVISION,
        )),
        Table("insured_persons", "human resources and social security", "conditional", _ROSTER),
        Table("contributions", "human resources and social security", "conditional", _columns(
            _RESIDENT_ID,
            ("employer_uscc", "string", "public"),
            ("month", "date", "internal"),
            ("wage_base", "float64", "personal"),
            ("amount", "float64", "personal"),
        )),
        Table("pensions", "human resources and social security", "conditional", _columns(
            _RESIDENT_ID,
            ("monthly_amount", "float64", "personal"),
            ("start_month", "date", "personal"),
        )),
        Table("medical_insured", "medical insurance", "conditional", _ROSTER),
        Table("tax_returns", "taxation", "not_shared", _columns(
            _RESIDENT_ID,
            ("year", "int16", "internal"),
            ("income", "float64", "personal"),
            ("tax", "float64", "personal"),
        )),
        Table("enterprises", "market regulation", "unconditional", _columns(
            ("uscc", "string", "public"),
            ("name", "string", "public"),
            _DIVISION,
            ("established", "date", "public"),
            ("registered_capital", "float64", "public"),
            ("legal_rep_id", "string", "personal_id"),
            ("status", "string", "public"),
        )),
        Table("benefit_payments", "civil affairs", "conditional", _columns(
            ("payment_id", "int64", "internal"),
            _RESIDENT_ID,
            ("program", "string", "internal"),
            ("month", "date", "internal"),
            ("amount", "float64", "personal"),
        )),
        Table("deaths", "civil affairs", "conditional", _columns(
            _RESIDENT_ID, ("death_date", "date", "personal"),
        )),
    )
}

PROGRAMS = ("dibao", "elderly_allowance", "disability")
ENTERPRISE_STATUSES = ("active", "revoked", "cancelled")
ROSTERS = ("insured_persons", "medical_insured")


def contract_table(name: str) -> Table:
    """The contract of table ``name``; an unknown name is a ParameterError naming the known."""
    try:
        return TABLES[name]
    except KeyError:
        raise ParameterError(
            f"unknown table {name!r}; the contract has {', '.join(TABLES)}"
        ) from None
