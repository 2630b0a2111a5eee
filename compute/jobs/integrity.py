"""integrity: benefit payments that should not have happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from compute.jobs._frames import (
    KEY,
    KEY_ROW_BYTES,
    by_key,
    join_unique,
    keys_of,
    known,
    sorted_small,
    unpivot_flags,
    valid_rows,
    with_normalised_id,
    with_resident_key,
)
from compute.jobs.base import Job, Params, as_number, check_inputs, prepare, require
from compute.planner import choose, shape_side, split_out

if TYPE_CHECKING:
    import pandas as pd

    from compute.session import Session
    from compute.tables import Snapshot

REASONS = (
    "invalid_id", "orphan", "after_death", "duplicate", "dibao_high_income",
    "dibao_enterprise_rep",
)
PAYMENT_COLUMNS = ["payment_id", "resident_id", "program", "month", "amount"]
# The payments' elements, and the output column each becomes.
PAYMENT_ELEMENTS = {"payment_id": "payment_id", "resident_id": "resident_id",
                    "benefit_program": "program", "payment_month": "month",
                    "payment_amount": "amount"}


@dataclass(frozen=True)
class IntegrityParams(Params):
    dibao_max_income: float = 36000.0

    help: ClassVar[dict[str, str]] = {
        "dibao_max_income": "dibao is flagged when income in the year before exceeds this",
    }

    def __post_init__(self) -> None:
        value = as_number(self.dibao_max_income, "dibao_max_income")
        require(value >= 0, f"dibao_max_income must not be negative, not {value}")
        object.__setattr__(self, "dibao_max_income", value)


def integrity_inputs(snapshot: Snapshot, params: IntegrityParams) -> dict[str, str]:
    """The tables integrity reads, found through elements; checked against the data."""
    tables = {
        "payments": snapshot.source_of("payment_id"),
        "registry": snapshot.source_of("resident_id"),
        "deaths": snapshot.source_of("death_date"),
        "enterprises": snapshot.source_of("legal_rep_id"),
        "incomes": snapshot.source_of("income"),
    }
    for role, elements in (("payments", tuple(PAYMENT_ELEMENTS)), ("deaths", ("resident_id",)),
                           ("enterprises", ("enterprise_status",)),
                           ("incomes", ("resident_id", "tax_year"))):
        for element in elements:
            snapshot.column_of(tables[role], element)
    return check_inputs(snapshot, params, tables)


def integrity(
    session: Session, params: IntegrityParams | None = None, as_of=None, inputs=None, **kwargs
) -> Job:
    """Flag each payment once per reason it should not have been made.

    Inputs by element: the payments (payment_id's authority), the registry (resident_id's),
    the death register (death_date's), the enterprises (legal_rep_id's, with
    enterprise_status) and the income source (income's, with tax_year).
    IDs match after normalisation; an invalid one (flagged invalid_id) matches nothing.
    Outputs ``flagged`` (payment_id, resident_id as held, normalised_id, program, month,
    amount, reason) and ``by_province`` (province of the normalised ID's first two digits,
    reason, payments, amount).
    """
    p, snapshot = prepare(session, IntegrityParams, params, as_of, inputs, kwargs)
    payments_table, registry_table, deaths_table, enterprises_table, incomes_table = \
        integrity_inputs(snapshot, p).values()
    payments_rows = snapshot.rows(payments_table)
    registry_choice = choose("registry", snapshot.rows(registry_table) * KEY_ROW_BYTES)
    deaths_choice = choose("deaths", snapshot.rows(deaths_table) * KEY_ROW_BYTES)
    reps_choice = choose("enterprise_reps", snapshot.rows(enterprises_table) * KEY_ROW_BYTES)
    dibao_choice = choose("dibao_recipients", payments_rows * KEY_ROW_BYTES)

    # Shuffle payments by person once: duplicates are then found within each partition.
    payments = with_resident_key(
        snapshot.elements(payments_table, list(PAYMENT_ELEMENTS)).rename(columns=PAYMENT_ELEMENTS)
    )
    payments = payments.shuffle(on=KEY).map_partitions(mark_duplicates)

    registry = keys_of(snapshot.elements(registry_table, ["resident_id"]), registry_choice)
    payments = join_unique(payments, registry, registry_choice, flag="registered")

    deaths = with_resident_key(snapshot.elements(deaths_table, ["resident_id", "death_date"]))
    deaths = valid_rows(deaths)
    payments = join_unique(payments, by_key(deaths, deaths_choice, first_death_month),
                           deaths_choice)

    reps = keys_of(
        snapshot.elements(enterprises_table, ["legal_rep_id"],
                          filters=[("enterprise_status", "==", "active")]),
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
    first_month, last_month = snapshot.column_range(
        payments_table, snapshot.column_of(payments_table, "payment_month"))
    years = list(range(first_month.year - 1, last_month.year))
    returns = with_resident_key(snapshot.elements(
        incomes_table, ["resident_id", "tax_year", "income"],
        filters=[("tax_year", "in", years)],
    )).rename(columns={"tax_year": "year"})
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
    ).map_partitions(with_normalised_id)[
        ["payment_id", "resident_id", "normalised_id", "program", "month", "amount", "reason"]]
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
        snapshot=snapshot,
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


def first_death_month(deaths: pd.DataFrame) -> pd.DataFrame:
    """The month of each key's first recorded death (all of a key's rows are here)."""
    first = deaths.groupby(KEY, as_index=False)["death_date"].min()
    return first.assign(death_month=month_number(first["death_date"]))[[KEY, "death_month"]]


def payment_reasons(payments: pd.DataFrame, dibao_max_income: float) -> pd.DataFrame:
    """A boolean column per reason; the reasons after ``orphan`` need a registered ID."""
    valid = payments[KEY] != -1
    registered = valid & payments["registered"]
    dibao = registered & (payments["program"] == "dibao")
    return payments.assign(
        invalid_id=~valid,
        orphan=valid & ~payments["registered"],
        after_death=registered & known(month_number(payments["month"]) > payments["death_month"]),
        duplicate=registered & payments["duplicate"],
        dibao_high_income=dibao & known(payments["income"] > dibao_max_income),
        dibao_enterprise_rep=dibao & payments["enterprise_rep"],
    )


def month_number(dates):
    """Months since year 0: compares calendar months without building month-start dates."""
    return dates.dt.year.astype("int32") * 12 + dates.dt.month.astype("int32")


def with_province_of_id(flagged: pd.DataFrame) -> pd.DataFrame:
    """Add province_code from the normalised ID's first two characters, null unless both
    are 0-9."""
    ids = flagged["normalised_id"]
    # A one-character string between "0" and "9" is an ASCII digit on both backends (pandas
    # orders code points, cuDF UTF-8 bytes: the same order). cuDF has no str.fullmatch, and
    # str.isdigit also takes other Unicode digits, which only pandas' float() would parse.
    first, second = ids.str.slice(0, 1), ids.str.slice(1, 2)
    digits = known((first >= "0") & (first <= "9") & (second >= "0") & (second <= "9"))
    head = ids.str.slice(0, 2)
    return flagged.assign(
        province_code=(head.where(digits).astype("float64") * 10000).astype("Int32")
    )
