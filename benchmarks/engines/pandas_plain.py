"""pandas: the four jobs as an analyst writes them in one process, whole tables in memory."""

from __future__ import annotations

from functools import partial

import pandas as pd

from benchmarks.engines._common import (
    INTEGRITY_REASONS,
    PAYMENT_COLUMNS,
    read_arrow,
)
from benchmarks.engines._frames import (
    age_at,
    age_band,
    classify,
    conflicts_and_summary,
    month_start,
    payment_reasons,
    province_of_id,
    roll_up,
)
from benchmarks.engines.base import Engine, Outputs


class PandasEngine(Engine):
    name = "pandas"

    def read(self, table: str, columns: list[str]) -> pd.DataFrame:
        return read_arrow(self.data, table, columns).to_pandas(date_as_object=False)

    def verify(self, params) -> Outputs:
        registry = self.read("residents", ["resident_id", "name", "birth_date"]).rename(
            columns={"name": "registry_name", "birth_date": "registry_birth_date"}
        ).assign(found=True)
        checked = pd.concat([
            classify(
                self.read(source, ["resident_id", "name", "birth_date", "division_code"])
                .merge(registry, on="resident_id", how="left"),
                source,
            )
            for source in params.sources
        ], ignore_index=True)
        return conflicts_and_summary(checked, partial(pd.concat, ignore_index=True))

    def eligibility(self, params) -> Outputs:
        reference = pd.Timestamp(params.reference_date)
        residents = self.read("residents", ["resident_id", "division_code", "birth_date"])
        deaths = self.read("deaths", ["resident_id", "death_date"])
        dead = deaths.loc[deaths["death_date"] <= reference, "resident_id"]
        alive = residents[~residents["resident_id"].isin(dead)]
        elderly = alive[age_at(alive["birth_date"], params.reference_date) >= params.min_age]
        returns = self.read("tax_returns", ["resident_id", "year", "income"])
        income = (
            returns[returns["year"] == params.income_year]
            .groupby("resident_id")["income"].sum()
        )
        elderly = elderly.assign(income=elderly["resident_id"].map(income).fillna(0.0))
        eligible = elderly[elderly["income"] < params.max_income]
        payments = self.read("benefit_payments", ["resident_id", "program", "month"])
        paid = payments.loc[
            (payments["program"] == params.program)
            & (payments["month"] == reference.replace(day=1)),
            "resident_id",
        ]
        eligible = eligible.assign(enrolled=eligible["resident_id"].isin(paid))
        coverage = eligible.groupby("division_code", as_index=False).agg(
            eligible=("enrolled", "size"), enrolled=("enrolled", "sum")
        )
        coverage["coverage"] = coverage["enrolled"] / coverage["eligible"]
        not_enrolled = eligible.loc[
            ~eligible["enrolled"], ["resident_id", "division_code", "birth_date", "income"]
        ]
        return {"eligible": not_enrolled, "coverage": coverage}

    def integrity(self, params) -> Outputs:
        payments = self.read("benefit_payments", PAYMENT_COLUMNS)
        registry = self.read("residents", ["resident_id"])["resident_id"]
        deaths = self.read("deaths", ["resident_id", "death_date"])
        death_month = month_start(deaths.groupby("resident_id")["death_date"].min())
        returns = self.read("tax_returns", ["resident_id", "year", "income"])
        income = returns.groupby(["resident_id", "year"])["income"].sum()
        enterprises = self.read("enterprises", ["legal_rep_id", "status"])
        reps = enterprises.loc[enterprises["status"] == "active", "legal_rep_id"]

        ids = payments["resident_id"]
        year_before = pd.MultiIndex.from_arrays([ids, payments["month"].dt.year - 1])
        payments = payments.assign(
            registered=ids.isin(registry),
            death_month=ids.map(death_month),
            first_payment=payments.groupby(["resident_id", "program", "month"])["payment_id"]
            .transform("min"),
            income_before=income.reindex(year_before).to_numpy(),
            enterprise_rep=ids.isin(reps),
        )
        reasons = payment_reasons(payments, params.dibao_max_income)
        flagged = pd.concat(
            [reasons.loc[reasons[r], PAYMENT_COLUMNS].assign(reason=r) for r in INTEGRITY_REASONS],
            ignore_index=True,
        )
        by_province = (
            flagged.assign(province_code=province_of_id(flagged["resident_id"]))
            .groupby(["province_code", "reason"], dropna=False, as_index=False)
            .agg(payments=("payment_id", "count"), amount=("amount", "sum"))
        )
        return {"flagged": flagged, "by_province": by_province}

    def rollup(self, params) -> Outputs:
        reference = pd.Timestamp(params.reference_date)
        residents = self.read("residents", ["resident_id", "sex", "birth_date", "division_code"])
        deaths = self.read("deaths", ["resident_id", "death_date"])
        dead = deaths.loc[deaths["death_date"] <= reference, "resident_id"]
        alive = residents[
            (residents["birth_date"] <= reference) & ~residents["resident_id"].isin(dead)
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
