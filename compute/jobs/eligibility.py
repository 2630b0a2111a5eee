"""eligibility: residents who qualify for a benefit and do not receive it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from compute.jobs._frames import (
    KEY,
    KEY_ROW_BYTES,
    join_unique,
    keys_of,
    sorted_small,
    with_resident_key,
)
from compute.jobs.base import (
    DEFAULT_REFERENCE_DATE,
    Job,
    Params,
    as_date,
    require,
    years_before,
)
from compute.planner import choose, shape_side, split_out
from compute.tables.contract import PROGRAMS

if TYPE_CHECKING:
    from compute.session import Session


@dataclass(frozen=True)
class EligibilityParams(Params):
    program: str = "elderly_allowance"
    reference_date: dt.date = DEFAULT_REFERENCE_DATE
    min_age: int = 80
    max_income: float = 30000.0
    income_year: int | None = None

    within_data: ClassVar = (
        ("reference_date", "benefit_payments", "month"),
        ("income_year", "tax_returns", "year"),
    )

    help: ClassVar[dict[str, str]] = {
        "program": f"benefit program, of {', '.join(PROGRAMS)}",
        "reference_date": "alive and of age on this date; enrolled in its month",
        "min_age": "minimum age in completed years at the reference date",
        "max_income": "eligible when income in income_year is below this",
        "income_year": "tax year of the income test (default: the reference year - 1)",
    }

    def __post_init__(self) -> None:
        require(self.program in PROGRAMS, f"unknown program {self.program!r}; the programs "
                f"are {list(PROGRAMS)}")
        reference = as_date(self.reference_date, "reference_date")
        object.__setattr__(self, "reference_date", reference)
        require(isinstance(self.min_age, int) and 0 <= self.min_age <= 150,
                f"min_age must be a whole number of years from 0 to 150, not {self.min_age!r}")
        require(self.max_income >= 0, f"max_income must not be negative, not {self.max_income}")
        if self.income_year is None:
            object.__setattr__(self, "income_year", reference.year - 1)


def eligibility(session: Session, params: EligibilityParams | None = None, **kwargs) -> Job:
    """Alive residents of ``min_age`` or more with income under ``max_income`` and no payment.

    Outputs ``eligible`` (eligible and not enrolled: resident_id, division_code, birth_date,
    income) and ``coverage`` per county (eligible, enrolled, coverage = enrolled / eligible).
    """
    p = params or EligibilityParams(**kwargs)
    p.check_data(session.catalog)
    reference = p.reference_date
    elderly = with_resident_key(session.table(
        "residents", columns=["resident_id", "division_code", "birth_date"],
        filters=[("birth_date", "<=", years_before(reference, p.min_age))],
    ))
    # The age filter leaves an unknown share of residents; all their keys bound its size.
    elderly_choice = choose("elderly", session.rows("residents") * KEY_ROW_BYTES)
    deaths_choice = choose("deaths", session.rows("deaths") * KEY_ROW_BYTES)
    payments_choice = choose("enrolled", session.rows("benefit_payments") * KEY_ROW_BYTES)

    dead = keys_of(session.table("deaths", columns=["resident_id"],
                                 filters=[("death_date", "<=", reference)]), deaths_choice)
    elderly = join_unique(elderly, dead, deaths_choice, flag="dead")
    alive = shape_side(elderly[~elderly["dead"]].drop(columns="dead"), elderly_choice)

    # Sum only the returns of the alive elderly: a join that keeps a few percent of the rows.
    # Merges, not join_unique: both sides derive from `alive`, which join_unique's separately
    # computed broadcast side would compute a second time.
    returns = with_resident_key(session.table(
        "tax_returns", columns=["resident_id", "income"], filters=[("year", "==", p.income_year)]
    ))[[KEY, "income"]].merge(alive[[KEY]], on=KEY, how="inner")
    income = returns.groupby(KEY).income.sum(split_out=split_out(elderly_choice)).reset_index()
    alive = alive.merge(income, on=KEY, how="left")
    alive = alive.assign(income=alive["income"].fillna(0.0))
    eligible = alive[alive["income"] < p.max_income]

    paid = keys_of(session.table(
        "benefit_payments", columns=["resident_id"],
        filters=[("program", "==", p.program), ("month", "==", reference.replace(day=1))],
    ), payments_choice)
    eligible = join_unique(eligible, paid, payments_choice, flag="enrolled")
    not_enrolled = eligible[~eligible["enrolled"]][
        ["resident_id", "division_code", "birth_date", "income"]
    ]
    coverage = (
        eligible.assign(eligible=1, enrolled=eligible["enrolled"].astype("int64"))
        .groupby("division_code")[["eligible", "enrolled"]].sum(split_out=1).reset_index()
    )
    coverage = coverage.assign(coverage=coverage["enrolled"] / coverage["eligible"])
    return Job(
        "eligibility", p,
        outputs={"eligible": not_enrolled, "coverage": sorted_small(coverage, ["division_code"])},
        tables=("residents", "deaths", "tax_returns", "benefit_payments"),
        plan=[elderly_choice, deaths_choice, payments_choice],
    )
