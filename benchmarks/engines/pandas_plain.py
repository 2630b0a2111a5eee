"""pandas: the four jobs as an analyst writes them in one process, whole tables in memory.

IDs are normalised with the string methods of :mod:`benchmarks.engines._frames` and matched
on ``normalised_id``; the registry is first reduced to one row per valid normalised ID.
"""

from __future__ import annotations

from functools import partial

import pandas as pd

from benchmarks.engines._common import (
    INTEGRITY_REASONS,
    PAYMENT_COLUMNS,
    REGISTRY_ORDER,
    read_arrow,
    verify_sources,
)
from benchmarks.engines._frames import (
    age_at,
    age_band,
    classify,
    conflicts_and_summary,
    first_by_order,
    month_start,
    normalise_id,
    payment_reasons,
    province_of_id,
    registry_issues,
    roll_up,
    valid_resident_id,
    with_normalised_id,
)
from benchmarks.engines.base import Engine, Outputs


class PandasEngine(Engine):
    name = "pandas"

    def read(self, table: str, columns: list[str]) -> pd.DataFrame:
        return read_arrow(self.data, table, columns).to_pandas(date_as_object=False)

    def keyed(self, table: str, columns: list[str], id_column: str = "resident_id"
              ) -> pd.DataFrame:
        """``columns`` of ``table`` and ``id_column`` normalised as ``normalised_id``."""
        return with_normalised_id(self.read(table, columns), id_column)

    def registry(self, columns: list[str]) -> pd.DataFrame:
        """The residents reduced to one row per valid normalised ID, with ``columns``."""
        residents = self.keyed("residents", list(dict.fromkeys([*columns, *REGISTRY_ORDER])))
        valid = residents[valid_resident_id(residents["normalised_id"])]
        return first_by_order(valid)[[*columns, "normalised_id"]]

    def verify(self, params) -> Outputs:
        residents = self.keyed("residents", [*REGISTRY_ORDER])
        valid = valid_resident_id(residents["normalised_id"])
        registry = first_by_order(residents[valid])[
            ["normalised_id", "name", "birth_date", "division_code"]
        ].rename(columns={"name": "registry_name", "birth_date": "registry_birth_date",
                          "division_code": "registry_division_code"}).assign(found=True)
        checked = pd.concat([
            classify(
                self.keyed(source, ["resident_id", "name", "birth_date", "division_code"])
                .merge(registry, on="normalised_id", how="left"),
                source,
            )
            for source in verify_sources(params)
        ], ignore_index=True)
        return {
            **conflicts_and_summary(checked, partial(pd.concat, ignore_index=True)),
            "registry_issues": registry_issues(
                residents[["resident_id", "normalised_id"]].assign(valid=valid)
            ),
        }

    def eligibility(self, params) -> Outputs:
        reference = pd.Timestamp(params.reference_date)
        residents = self.registry(["resident_id", "division_code", "birth_date"])
        deaths = self.keyed("deaths", ["resident_id", "death_date"])
        dead = deaths.loc[deaths["death_date"] <= reference, "normalised_id"].dropna()
        alive = residents[~residents["normalised_id"].isin(dead)]
        elderly = alive[age_at(alive["birth_date"], params.reference_date) >= params.min_age]
        returns = self.keyed("tax_returns", ["resident_id", "year", "income"])
        income = (
            returns[returns["year"] == params.income_year]
            .groupby("normalised_id")["income"].sum()
        )
        elderly = elderly.assign(income=elderly["normalised_id"].map(income).fillna(0.0))
        eligible = elderly[elderly["income"] < params.max_income]
        payments = self.keyed("benefit_payments", ["resident_id", "program", "month"])
        paid = payments.loc[
            (payments["program"] == params.program)
            & (payments["month"] == reference.replace(day=1)),
            "normalised_id",
        ].dropna()
        eligible = eligible.assign(enrolled=eligible["normalised_id"].isin(paid))
        coverage = eligible.groupby("division_code", as_index=False).agg(
            eligible=("enrolled", "size"), enrolled=("enrolled", "sum")
        )
        coverage["coverage"] = coverage["enrolled"] / coverage["eligible"]
        not_enrolled = eligible.loc[
            ~eligible["enrolled"],
            ["resident_id", "normalised_id", "division_code", "birth_date", "income"],
        ]
        return {"eligible": not_enrolled, "coverage": coverage}

    def integrity(self, params) -> Outputs:
        payments = self.keyed("benefit_payments", PAYMENT_COLUMNS)
        # Registered: the normalised ID is a valid one some resident holds.
        held = normalise_id(self.read("residents", ["resident_id"])["resident_id"])
        registry = held[valid_resident_id(held)]
        deaths = self.keyed("deaths", ["resident_id", "death_date"])
        death_month = month_start(deaths.groupby("normalised_id")["death_date"].min())
        returns = self.keyed("tax_returns", ["resident_id", "year", "income"])
        income = returns.groupby(["normalised_id", "year"])["income"].sum()
        enterprises = self.keyed("enterprises", ["legal_rep_id", "status"], "legal_rep_id")
        reps = enterprises.loc[enterprises["status"] == "active", "normalised_id"].dropna()

        ids = payments["normalised_id"]
        year_before = pd.MultiIndex.from_arrays([ids, payments["month"].dt.year - 1])
        payments = payments.assign(
            registered=ids.isin(registry),
            death_month=ids.map(death_month),
            first_payment=payments.groupby(["normalised_id", "program", "month"])["payment_id"]
            .transform("min"),
            income_before=income.reindex(year_before).to_numpy(),
            enterprise_rep=ids.isin(reps),
        )
        reasons = payment_reasons(payments, params.dibao_max_income)
        columns = [*PAYMENT_COLUMNS, "normalised_id"]
        flagged = pd.concat(
            [reasons.loc[reasons[r], columns].assign(reason=r) for r in INTEGRITY_REASONS],
            ignore_index=True,
        )
        by_province = (
            flagged.assign(province_code=province_of_id(flagged["normalised_id"]))
            .groupby(["province_code", "reason"], dropna=False, as_index=False)
            .agg(payments=("payment_id", "count"), amount=("amount", "sum"))
        )
        return {"flagged": flagged, "by_province": by_province}

    def rollup(self, params) -> Outputs:
        reference = pd.Timestamp(params.reference_date)
        residents = self.registry(["sex", "birth_date", "division_code"])
        deaths = self.keyed("deaths", ["resident_id", "death_date"])
        dead = deaths.loc[deaths["death_date"] <= reference, "normalised_id"].dropna()
        alive = residents[
            (residents["birth_date"] <= reference) & ~residents["normalised_id"].isin(dead)
        ]
        counties = (
            alive.assign(age_band=age_band(alive["birth_date"], params.reference_date))
            .groupby(["division_code", "sex", "age_band"], as_index=False)
            .size().rename(columns={"size": "population"})
        )
        enterprises = self.read("enterprises", ["division_code", "status", "registered_capital"])
        by_county = enterprises.groupby(["division_code", "status"], as_index=False).agg(
            enterprises=("status", "size"), registered_capital=("registered_capital", "sum")
        )
        return {
            "population": roll_up(counties, ["sex", "age_band"]),
            "enterprises": roll_up(by_county, ["status"]),
        }
