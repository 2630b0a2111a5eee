"""Plain Dask: the jobs as an analyst writes them with ``dask.dataframe`` and no govgrid.

String keys, default merges (Dask picks broadcast or shuffle), the pandas column functions
reused per partition. Dates arrive as Arrow ``date32`` and are converted to numpy on read.
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa

from benchmarks.engines._common import INTEGRITY_REASONS, PAYMENT_COLUMNS, table_files
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
from benchmarks.engines.base import ClusterEngine, Outputs


def _flag(frame: dd.DataFrame, column: str, name: str) -> dd.DataFrame:
    """The distinct values of ``column`` renamed to resident_id, with a True marker ``name``."""
    return frame[[column]].rename(columns={column: "resident_id"}).drop_duplicates().assign(
        **{name: True}
    )


def _numpy_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Arrow date32 columns as datetime64[s], through Arrow (no Python date objects)."""
    dates = [c for c, t in frame.dtypes.items() if t == pd.ArrowDtype(pa.date32())]
    return frame.astype({c: pd.ArrowDtype(pa.timestamp("s")) for c in dates}).astype(
        {c: "datetime64[s]" for c in dates}
    )


class DaskEngine(ClusterEngine):
    name = "dask"

    def read(self, table: str, columns: list[str]) -> dd.DataFrame:
        frame = dd.read_parquet(table_files(self.data, table), columns=columns)
        if any(t == pd.ArrowDtype(pa.date32()) for t in frame.dtypes):
            # Inside map_partitions: Dask's optimiser pushes filters past an astype and then
            # compares date32 with a Timestamp (TypeError).
            frame = frame.map_partitions(_numpy_dates)
        return frame

    def compute(self, outputs: dict[str, dd.DataFrame]) -> Outputs:
        return dict(zip(outputs, dask.compute(*outputs.values()), strict=True))

    def verify(self, params) -> Outputs:
        registry = self.read("residents", ["resident_id", "name", "birth_date"]).rename(
            columns={"name": "registry_name", "birth_date": "registry_birth_date"}
        ).assign(found=True)
        checked = dd.concat([
            self.read(source, ["resident_id", "name", "birth_date", "division_code"])
            .merge(registry, on="resident_id", how="left")
            .map_partitions(classify, source)
            for source in params.sources
        ])
        return self.compute(conflicts_and_summary(checked, dd.concat))

    def eligibility(self, params) -> Outputs:
        reference = pd.Timestamp(params.reference_date)
        deaths = self.read("deaths", ["resident_id", "death_date"])
        residents = self.read("residents", ["resident_id", "division_code", "birth_date"])
        residents = residents.merge(
            _flag(deaths[deaths["death_date"] <= reference], "resident_id", "dead"),
            on="resident_id", how="left",
        )
        elderly = residents[
            residents["dead"].isna()
            & (age_at(residents["birth_date"], params.reference_date) >= params.min_age)
        ].drop(columns="dead")
        returns = self.read("tax_returns", ["resident_id", "year", "income"])
        income = (
            returns[returns["year"] == params.income_year]
            .groupby("resident_id")["income"].sum().reset_index()
        )
        elderly = elderly.merge(income, on="resident_id", how="left")
        elderly = elderly.assign(income=elderly["income"].fillna(0.0))
        eligible = elderly[elderly["income"] < params.max_income]
        payments = self.read("benefit_payments", ["resident_id", "program", "month"])
        paid = payments[
            (payments["program"] == params.program)
            & (payments["month"] == reference.replace(day=1))
        ]
        eligible = eligible.merge(_flag(paid, "resident_id", "enrolled"), on="resident_id",
                                  how="left")
        eligible = eligible.assign(enrolled=eligible["enrolled"].fillna(False).astype(bool))
        coverage = (
            eligible.assign(eligible=1, enrolled=eligible["enrolled"].astype("int64"))
            .groupby("division_code")[["eligible", "enrolled"]].sum().reset_index()
        )
        coverage = coverage.assign(coverage=coverage["enrolled"] / coverage["eligible"])
        not_enrolled = eligible[~eligible["enrolled"]][
            ["resident_id", "division_code", "birth_date", "income"]
        ]
        return self.compute({"eligible": not_enrolled, "coverage": coverage})

    def integrity(self, params) -> Outputs:
        payments = self.read("benefit_payments", PAYMENT_COLUMNS)
        group = ["resident_id", "program", "month"]
        first = payments.groupby(group)["payment_id"].min().reset_index()
        payments = payments.merge(first.rename(columns={"payment_id": "first_payment"}),
                                  on=group, how="left")
        registry = self.read("residents", ["resident_id"])
        payments = payments.merge(_flag(registry, "resident_id", "registered"),
                                  on="resident_id", how="left")
        deaths = self.read("deaths", ["resident_id", "death_date"])
        death_month = deaths.groupby("resident_id")["death_date"].min().reset_index()
        death_month = death_month.assign(death_month=month_start(death_month["death_date"]))
        payments = payments.merge(death_month[["resident_id", "death_month"]],
                                  on="resident_id", how="left")
        returns = self.read("tax_returns", ["resident_id", "year", "income"])
        income = returns.groupby(["resident_id", "year"])["income"].sum().reset_index()
        income = income.assign(year=income["year"].astype("int32") + 1).rename(
            columns={"year": "payment_year", "income": "income_before"}
        )
        payments = payments.assign(payment_year=payments["month"].dt.year.astype("int32"))
        payments = payments.merge(income, on=["resident_id", "payment_year"], how="left")
        enterprises = self.read("enterprises", ["legal_rep_id", "status"])
        reps = _flag(enterprises[enterprises["status"] == "active"], "legal_rep_id",
                     "enterprise_rep")
        payments = payments.merge(reps, on="resident_id", how="left")
        reasons = payments.map_partitions(payment_reasons, params.dibao_max_income)
        flagged = dd.concat([
            reasons.loc[reasons[r], PAYMENT_COLUMNS].assign(reason=r) for r in INTEGRITY_REASONS
        ])
        by_province = (
            flagged.assign(province_code=flagged["resident_id"].map_partitions(province_of_id))
            .groupby(["province_code", "reason"], dropna=False)
            .agg(payments=("payment_id", "count"), amount=("amount", "sum"))
            .reset_index()
        )
        return self.compute({"flagged": flagged, "by_province": by_province})

    def rollup(self, params) -> Outputs:
        reference = pd.Timestamp(params.reference_date)
        deaths = self.read("deaths", ["resident_id", "death_date"])
        residents = self.read("residents", ["resident_id", "sex", "birth_date", "division_code"])
        residents = residents[residents["birth_date"] <= reference].merge(
            _flag(deaths[deaths["death_date"] <= reference], "resident_id", "dead"),
            on="resident_id", how="left",
        )
        alive = residents[residents["dead"].isna()]
        counties = (
            alive.assign(
                age_band=alive["birth_date"].map_partitions(
                    age_band, params.reference_date, meta=("age_band", object)
                ),
                population=1,
            )
            .groupby(["division_code", "sex", "age_band"])["population"].sum().reset_index()
        )
        enterprises = self.read("enterprises", ["division_code", "status", "registered_capital"])
        by_county = (
            enterprises.assign(enterprises=1)
            .groupby(["division_code", "status"])[["enterprises", "registered_capital"]].sum()
            .reset_index()
        )
        counties, by_county = dask.compute(counties, by_county)
        return {
            "population": roll_up(counties, ["sex", "age_band"]),
            "enterprises": roll_up(by_county, ["status"]),
        }
