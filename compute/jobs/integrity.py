"""integrity: benefit payments that should not have happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from compute.jobs._frames import (
    KEY,
    KEY_ROW_BYTES,
    join_unique,
    keys_of,
    sorted_small,
    unpivot_flags,
    with_resident_key,
)
from compute.jobs.base import Job, Params, column_range, require
from compute.planner import choose, shape_side, split_out

if TYPE_CHECKING:
    import pandas as pd

    from compute.session import Session

REASONS = (
    "invalid_id", "orphan", "after_death", "duplicate", "dibao_high_income",
    "dibao_enterprise_rep",
)
PAYMENT_COLUMNS = ["payment_id", "resident_id", "program", "month", "amount"]


@dataclass(frozen=True)
class IntegrityParams(Params):
    dibao_max_income: float = 36000.0

    help: ClassVar[dict[str, str]] = {
        "dibao_max_income": "dibao is flagged when income in the year before exceeds this",
    }

    def __post_init__(self) -> None:
        require(self.dibao_max_income >= 0,
                f"dibao_max_income must not be negative, not {self.dibao_max_income}")


def integrity(session: Session, params: IntegrityParams | None = None, **kwargs) -> Job:
    """Flag each payment once per reason it should not have been made.

    Outputs ``flagged`` (payment columns and reason) and ``by_province`` (province of the
    ID's first two digits, reason, payments, amount).
    """
    p = params or IntegrityParams(**kwargs)
    payments_rows = session.rows("benefit_payments")
    registry_choice = choose("registry", session.rows("residents") * KEY_ROW_BYTES)
    deaths_choice = choose("deaths", session.rows("deaths") * KEY_ROW_BYTES)
    reps_choice = choose("enterprise_reps", session.rows("enterprises") * KEY_ROW_BYTES)
    dibao_choice = choose("dibao_recipients", payments_rows * KEY_ROW_BYTES)

    # Shuffle payments by person once: duplicates are then found within each partition.
    payments = with_resident_key(session.table("benefit_payments", columns=PAYMENT_COLUMNS))
    payments = payments.shuffle(on=KEY).map_partitions(mark_duplicates)

    registry = keys_of(session.table("residents", columns=["resident_id"]), registry_choice)
    payments = join_unique(payments, registry, registry_choice, flag="registered")

    deaths = with_resident_key(session.table("deaths", columns=["resident_id", "death_date"]))
    first_death = deaths.groupby(KEY).death_date.min().reset_index()
    death_month = first_death.assign(death_month=month_number(first_death["death_date"]))
    payments = join_unique(payments, death_month[[KEY, "death_month"]], deaths_choice)

    reps = keys_of(
        session.table(
            "enterprises", columns=["legal_rep_id"], filters=[("status", "==", "active")]
        ),
        reps_choice,
        column="legal_rep_id",
    )
    payments = join_unique(payments, reps, reps_choice, flag="enterprise_rep")

    dibao = payments[payments["program"] == "dibao"]
    # A merge, not join_unique: the recipients derive from `payments` itself, which
    # join_unique's separately computed broadcast side would compute a second time.
    recipients = shape_side(
        dibao[[KEY]].drop_duplicates(split_out=split_out(dibao_choice)), dibao_choice
    )
    # Only the years before the payments' years can matter (the range is in the footers).
    first_month, last_month = column_range(session.catalog, "benefit_payments", "month")
    years = list(range(first_month.year - 1, last_month.year))
    returns = with_resident_key(session.table(
        "tax_returns", columns=["resident_id", "year", "income"], filters=[("year", "in", years)]
    ))
    income = (
        returns[[KEY, "year", "income"]].merge(recipients, on=KEY, how="inner")
        .groupby([KEY, "year"]).income.sum(split_out=split_out(dibao_choice))
        .reset_index()
    )
    income = income.assign(year=income["year"] + 1).rename(columns={"year": "payment_year"})
    payments = payments.assign(payment_year=payments["month"].dt.year.astype("int16"))
    payments = payments.merge(
        shape_side(income, dibao_choice), on=[KEY, "payment_year"], how="left"
    )
    flagged = payments.map_partitions(payment_reasons, p.dibao_max_income).map_partitions(
        unpivot_flags, REASONS, PAYMENT_COLUMNS, "reason"
    )
    by_province = (
        flagged.map_partitions(with_province_of_id)
        .groupby(["province_code", "reason"], dropna=False)
        .agg(payments=("payment_id", "count"), amount=("amount", "sum"), split_out=1)
        .reset_index()
    )
    return Job(
        "integrity", p,
        outputs={
            "flagged": flagged,
            "by_province": sorted_small(by_province, ["reason", "province_code"]),
        },
        tables=("benefit_payments", "residents", "deaths", "enterprises", "tax_returns"),
        plan=[registry_choice, deaths_choice, reps_choice, dibao_choice],
    )


def mark_duplicates(payments: pd.DataFrame) -> pd.DataFrame:
    """Flag every payment but the lowest payment_id of its (person, program, month).

    Needs all payments of a person in one partition (the shuffle on the key does that).
    """
    payments = payments.reset_index(drop=True)
    # Sorted by payment_id, every repeat of a (person, program, month) after its first is one.
    repeats = payments.sort_values("payment_id").duplicated([KEY, "program", "month"])
    return payments.assign(duplicate=repeats)


def payment_reasons(payments: pd.DataFrame, dibao_max_income: float) -> pd.DataFrame:
    """A boolean column per reason; the reasons after ``orphan`` need a registered ID."""
    valid = payments[KEY] != -1
    registered = valid & payments["registered"]
    dibao = registered & (payments["program"] == "dibao")
    return payments.assign(
        invalid_id=~valid,
        orphan=valid & ~payments["registered"],
        after_death=registered & (month_number(payments["month"]) > payments["death_month"]),
        duplicate=registered & payments["duplicate"],
        dibao_high_income=dibao & (payments["income"] > dibao_max_income).fillna(False),
        dibao_enterprise_rep=dibao & payments["enterprise_rep"],
    )


def month_number(dates):
    """Months since year 0: compares calendar months without building month-start dates."""
    return dates.dt.year.astype("int32") * 12 + dates.dt.month.astype("int32")


def with_province_of_id(flagged: pd.DataFrame) -> pd.DataFrame:
    """Add province_code from the ID's first two characters, null unless they are digits."""
    head = flagged["resident_id"].str.slice(0, 2)
    digits = head.str.fullmatch(r"[0-9]{2}").fillna(False).astype(bool)
    return flagged.assign(
        province_code=(head.where(digits).astype("float64") * 10000).astype("Int32")
    )
