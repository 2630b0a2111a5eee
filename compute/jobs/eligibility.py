"""eligibility: residents who qualify for a benefit and do not receive it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from compute.jobs._frames import (
    KEY,
    KEY_ROW_BYTES,
    deciding_elements,
    join_unique,
    keys_of,
    registry_repeated_keys,
    sorted_small,
    unique_registry,
    with_normalised_id,
    with_resident_key,
)
from compute.jobs.base import (
    DEFAULT_REFERENCE_DATE,
    Job,
    Params,
    as_date,
    as_number,
    check_inputs,
    prepare,
    require,
    years_before,
)
from compute.planner import choose, split_out
from compute.tables.contract import PROGRAMS

if TYPE_CHECKING:
    from compute.session import Session
    from compute.tables import Snapshot


@dataclass(frozen=True)
class EligibilityParams(Params):
    program: str = "elderly_allowance"
    reference_date: dt.date = DEFAULT_REFERENCE_DATE
    min_age: int = 80
    max_income: float = 30000.0
    income_year: int | None = None

    within_data: ClassVar = (
        ("reference_date", "payment_month"),
        ("income_year", "tax_year"),
    )

    help: ClassVar[dict[str, str]] = {
        "program": f"benefit program, of {', '.join(PROGRAMS)}",
        "reference_date": "alive and of age on this date; enrolled in its month",
        "min_age": "minimum age in completed years at the reference date",
        "max_income": "eligible when income in income_year is below this",
        "income_year": "tax year of the income test (default: the reference year - 1)",
    }

    def __post_init__(self) -> None:
        require(isinstance(self.program, str) and self.program in PROGRAMS,
                f"unknown program {self.program!r}; the programs are {list(PROGRAMS)}")
        reference = as_date(self.reference_date, "reference_date")
        object.__setattr__(self, "reference_date", reference)
        min_age = as_number(self.min_age, "min_age", integer=True)
        require(0 <= min_age <= 150,
                f"min_age must be a whole number of years from 0 to 150, not {self.min_age!r}")
        object.__setattr__(self, "min_age", min_age)
        max_income = as_number(self.max_income, "max_income")
        require(max_income >= 0, f"max_income must not be negative, not {self.max_income}")
        object.__setattr__(self, "max_income", max_income)
        income_year = reference.year - 1 if self.income_year is None else as_number(
            self.income_year, "income_year", integer=True)
        object.__setattr__(self, "income_year", income_year)


def eligibility_inputs(snapshot: Snapshot, params: EligibilityParams) -> dict[str, str]:
    """The tables eligibility reads, found through elements; checked against the data."""
    tables = {
        "registry": snapshot.source_of("resident_id"),
        "deaths": snapshot.source_of("death_date"),
        "incomes": snapshot.source_of("income"),
        "payments": snapshot.source_of("benefit_program"),
    }
    for role, elements in (("registry", ("birth_date", "division_code")),
                           ("deaths", ("resident_id",)), ("incomes", ("resident_id", "tax_year")),
                           ("payments", ("resident_id", "payment_month"))):
        for element in elements:
            snapshot.column_of(tables[role], element)
    return check_inputs(snapshot, params, tables)


def eligibility(
    session: Session, params: EligibilityParams | None = None, as_of=None, inputs=None, **kwargs
) -> Job:
    """Alive residents of ``min_age`` or more with income under ``max_income`` and no payment.

    Inputs by element: the registry (resident_id's authority, with birth_date and
    division_code), the death register (death_date's), the income source (income's, with
    tax_year) and the payments (benefit_program's, with payment_month).
    IDs match after normalisation; an invalid one matches nothing, and the registry counts
    one row per ID. Outputs ``eligible`` (eligible and not enrolled: resident_id as held,
    normalised_id, division_code, birth_date, income) and ``coverage`` per county
    (eligible, enrolled, coverage = enrolled / eligible).
    """
    p, snapshot = prepare(session, EligibilityParams, params, as_of, inputs, kwargs)
    registry, deaths, incomes, payments = eligibility_inputs(snapshot, p).values()
    reference = p.reference_date
    order = deciding_elements(snapshot.entry(registry),
                              ("resident_id", "division_code", "birth_date"))
    elderly = with_resident_key(snapshot.elements(
        registry, order, filters=[("birth_date", "<=", years_before(reference, p.min_age))],
    ))
    # The age filter leaves an unknown share of residents; all their keys bound its size.
    elderly_choice = choose("elderly", snapshot.rows(registry) * KEY_ROW_BYTES)
    repeated = registry_repeated_keys(session, snapshot, registry, elderly_choice,
                                      "eligibility")
    deaths_choice = choose("deaths", snapshot.rows(deaths) * KEY_ROW_BYTES)
    payments_choice = choose("enrolled", snapshot.rows(payments) * KEY_ROW_BYTES)

    dead = keys_of(snapshot.elements(deaths, ["resident_id"],
                                     filters=[("death_date", "<=", reference)]), deaths_choice)
    elderly = join_unique(elderly, dead, deaths_choice, flag="dead")
    # One row per person (the registry may hold an ID twice), shaped as a join side.
    alive = unique_registry(elderly[~elderly["dead"]], elderly_choice, repeated)[
        [KEY, "resident_id", "division_code", "birth_date"]]

    # Sum only the returns of the alive elderly: a join that keeps a few percent of the rows.
    # Merges, not join_unique: both sides derive from `alive`, which join_unique's separately
    # computed broadcast side would compute a second time.
    returns = with_resident_key(snapshot.elements(
        incomes, ["resident_id", "income"], filters=[("tax_year", "==", p.income_year)]
    ))[[KEY, "income"]].merge(alive[[KEY]], on=KEY, how="inner")
    income = returns.groupby(KEY).income.sum(split_out=split_out(elderly_choice)).reset_index()
    alive = alive.merge(income, on=KEY, how="left")
    alive = alive.assign(income=alive["income"].fillna(0.0))
    eligible = alive[alive["income"] < p.max_income]

    paid = keys_of(snapshot.elements(
        payments, ["resident_id"],
        filters=[("benefit_program", "==", p.program),
                 ("payment_month", "==", reference.replace(day=1))],
    ), payments_choice)
    eligible = join_unique(eligible, paid, payments_choice, flag="enrolled")
    not_enrolled = eligible[~eligible["enrolled"]].map_partitions(with_normalised_id)[
        ["resident_id", "normalised_id", "division_code", "birth_date", "income"]
    ]
    coverage = (
        eligible.assign(eligible=1, enrolled=eligible["enrolled"].astype("int64"))
        .groupby("division_code")[["eligible", "enrolled"]].sum(split_out=1).reset_index()
    )
    coverage = coverage.assign(coverage=coverage["enrolled"] / coverage["eligible"])
    return Job(
        "eligibility", p,
        outputs={"eligible": not_enrolled, "coverage": sorted_small(coverage, ["division_code"])},
        snapshot=snapshot,
        plan=[elderly_choice, deaths_choice, payments_choice],
    )
