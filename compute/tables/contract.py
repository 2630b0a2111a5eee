"""The tables of the synthetic hub (contract v1) as code: columns, types, owners, elements.

The generator writes these tables and registers them in the catalog like any department's
table: each column with its data element (``compute.tables.elements``) and sensitivity, and
``AUTHORITIES`` names the authoritative source of each element. Nothing else in the catalog is
limited to them. A column's ``kind`` is its logical type (``string``, ``date``, ``int8`` ...);
``arrow_type`` is how the generator stores it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from compute.tables.catalog import SHARING_CLASSES, Catalog, Registration
from compute.tables.elements import ARROW_TYPES, ELEMENTS, SENSITIVITIES


@dataclass(frozen=True)
class Column:
    """One column of a contract table."""

    name: str
    kind: str
    sensitivity: str
    element: str | None = None

    def __post_init__(self) -> None:
        if self.element is not None and ELEMENTS[self.element].kind != self.kind:
            raise ValueError(f"column {self.name!r}: element {self.element!r} is not {self.kind}")
        if self.kind not in ARROW_TYPES:
            raise ValueError(f"column {self.name!r}: kind must be one of {tuple(ARROW_TYPES)}")
        if self.sensitivity not in SENSITIVITIES:
            raise ValueError(f"column {self.name!r}: sensitivity must be one of {SENSITIVITIES}")

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.kind]


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


def _columns(*specs: tuple[str, ...]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


_RESIDENT_ID = ("resident_id", "string", "personal_id", "resident_id")
_NAME = ("name", "string", "personal", "person_name")
_BIRTH_DATE = ("birth_date", "date", "personal", "birth_date")
_DIVISION = ("division_code", "int32", "public", "division_code")
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
            _RESIDENT_ID, _NAME, ("sex", "int8", "personal", "sex"), _BIRTH_DATE, _DIVISION,
        )),
        Table("insured_persons", "human resources and social security", "conditional", _ROSTER),
        Table("contributions", "human resources and social security", "conditional", _columns(
            _RESIDENT_ID,
            ("employer_uscc", "string", "public", "uscc"),
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
            ("year", "int16", "internal", "tax_year"),
            ("income", "float64", "personal", "income"),
            ("tax", "float64", "personal"),
        )),
        Table("enterprises", "market regulation", "unconditional", _columns(
            ("uscc", "string", "public", "uscc"),
            ("name", "string", "public", "enterprise_name"),
            _DIVISION,
            ("established", "date", "public"),
            ("registered_capital", "float64", "public", "registered_capital"),
            ("legal_rep_id", "string", "personal_id", "legal_rep_id"),
            ("status", "string", "public", "enterprise_status"),
        )),
        Table("benefit_payments", "civil affairs", "conditional", _columns(
            ("payment_id", "int64", "internal", "payment_id"),
            _RESIDENT_ID,
            ("program", "string", "internal", "benefit_program"),
            ("month", "date", "internal", "payment_month"),
            ("amount", "float64", "personal", "payment_amount"),
        )),
        Table("deaths", "civil affairs", "conditional", _columns(
            _RESIDENT_ID, ("death_date", "date", "personal", "death_date"),
        )),
    )
}

# The authoritative source of each element in generated data ("one number, one source").
AUTHORITIES: dict[str, str] = {
    **dict.fromkeys(("resident_id", "person_name", "sex", "birth_date", "division_code"),
                    "residents"),
    "death_date": "deaths",
    **dict.fromkeys(("income", "tax_year"), "tax_returns"),
    **dict.fromkeys(("uscc", "enterprise_name", "enterprise_status", "registered_capital",
                     "legal_rep_id"), "enterprises"),
    **dict.fromkeys(("payment_id", "benefit_program", "payment_month", "payment_amount"),
                    "benefit_payments"),
}

PROGRAMS = ("dibao", "elderly_allowance", "disability")
ENTERPRISE_STATUSES = ("active", "revoked", "cancelled")
ROSTERS = ("insured_persons", "medical_insured")


def register_contract_tables(catalog: Catalog, names: tuple[str, ...] = tuple(TABLES)) -> None:
    """Register the contract tables ``names`` found under the catalog's root (``root/<name>``)
    with their elements, and make them the authorities ``AUTHORITIES`` names."""
    catalog.add_many([
        Registration(
            name, name, owner=TABLES[name].owner, sharing=TABLES[name].sharing,
            elements={c.name: c.element for c in TABLES[name].columns if c.element},
            sensitivities={c.name: c.sensitivity for c in TABLES[name].columns},
            description=f"synthetic {name} (govgrid generate)",
        )
        for name in names
    ])
    for element_name, name in AUTHORITIES.items():
        if name in names:
            catalog.set_authority(element_name, name)
