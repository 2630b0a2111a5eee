"""The data elements the hub's jobs understand, in the spirit of GB/T 19488 catalogues.

A table's column maps to at most one element. The element fixes the column's logical type
(what it loads as, whatever the department stored), its default sensitivity and, for
identifiers, the kernels that validate and pack it. Jobs bind to elements, never to column or
table names: ``verify`` compares every table holding ``resident_id`` and a person element
with that element's authoritative source.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from compute.exceptions import CatalogError

SENSITIVITIES = ("public", "internal", "personal", "personal_id")

# Logical types: how a column of that kind is stored when govgrid writes it.
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "date": pa.date32(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
}


@dataclass(frozen=True)
class Element:
    """One data element: logical type, default sensitivity, identifier kind, description.

    ``identifier`` names the kernel family that validates and packs the values
    (``"resident_id"`` or ``"uscc"``); ``person`` marks an attribute of a person that
    multi-source verification compares with the element's authoritative source.
    """

    name: str
    kind: str
    sensitivity: str
    description: str
    identifier: str | None = None
    person: bool = False

    def accepts(self, stored: pa.DataType) -> bool:
        """Whether a column stored as ``stored`` can hold this element (it loads as ``kind``)."""
        if self.kind == "string":
            return (pa.types.is_string(stored) or pa.types.is_large_string(stored)
                    or pa.types.is_string_view(stored))
        if self.kind == "date":
            return pa.types.is_date(stored) or pa.types.is_timestamp(stored)
        if self.kind.startswith("int"):
            return pa.types.is_integer(stored)
        return pa.types.is_floating(stored) or pa.types.is_decimal(stored)

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.kind]


ELEMENTS: dict[str, Element] = {
    element.name: element
    for element in (
        Element("resident_id", "string", "personal_id",
                "resident identity number, GB 11643-1999", identifier="resident_id"),
        Element("legal_rep_id", "string", "personal_id",
                "resident identity number of an enterprise's legal representative",
                identifier="resident_id"),
        Element("uscc", "string", "public",
                "unified social credit code, GB 32100-2015", identifier="uscc"),
        Element("division_code", "int32", "public",
                "administrative division code, GB/T 2260", person=True),
        Element("person_name", "string", "personal", "a person's name", person=True),
        Element("sex", "int8", "personal", "sex, GB/T 2261.1: 1 male, 2 female", person=True),
        Element("birth_date", "date", "personal", "date of birth", person=True),
        Element("death_date", "date", "personal", "date of death", person=True),
        Element("income", "float64", "personal", "taxable income of a year"),
        Element("tax_year", "int16", "internal", "the year a tax return is for"),
        Element("benefit_program", "string", "internal",
                "social assistance programme (dibao, elderly_allowance, disability)"),
        Element("payment_id", "int64", "internal", "identifier of one benefit payment"),
        Element("payment_month", "date", "internal", "the month a payment is for (first day)"),
        Element("payment_amount", "float64", "personal", "amount of one payment"),
        Element("enterprise_name", "string", "public", "registered name of an enterprise"),
        Element("enterprise_status", "string", "public",
                "registration status: active, revoked, cancelled"),
        Element("registered_capital", "float64", "public", "registered capital of an enterprise"),
    )
}


def element(name: str) -> Element:
    """The element ``name``; an unknown name is a CatalogError listing the known ones."""
    try:
        return ELEMENTS[name]
    except KeyError:
        raise CatalogError(
            f"unknown data element {name!r}; the elements are {', '.join(ELEMENTS)}"
        ) from None


def check_mapping(table: str, column: str, stored: pa.DataType, element_name: str) -> Element:
    """The element ``element_name`` for ``column`` stored as ``stored``, or a CatalogError
    naming the column when the stored type cannot hold it."""
    found = element(element_name)
    if not found.accepts(stored):
        raise CatalogError(
            f"table {table!r}: column {column!r} is stored as {stored} and cannot be element "
            f"{found.name!r} ({found.kind}): {found.description}"
        )
    return found
