"""Plain Dask: the jobs as an analyst writes them with ``dask.dataframe`` and no govgrid.

String keys (IDs normalised per partition as ``normalised_id``), default merges (Dask picks
broadcast or shuffle), the pandas column functions reused per partition; the registry is
reduced to one row per valid normalised ID by a shuffle on it. Dates arrive as Arrow
``date32`` and are converted to numpy on read.
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa

from benchmarks.engines._common import (
    INTEGRITY_REASONS,
    PAYMENT_COLUMNS,
    REGISTRY_ORDER,
    table_files,
    verify_sources,
)
from benchmarks.engines._frames import (
    age_at,
    age_band,
    classify,
    conflicts_and_summary,
    first_by_order,
    month_start,
    payment_reasons,
    province_of_id,
    registry_issues,
    roll_up,
    valid_resident_id,
    with_normalised_id,
)
from benchmarks.engines.base import ClusterEngine, Outputs


def _flag(frame: dd.DataFrame, name: str) -> dd.DataFrame:
    """The distinct ``normalised_id`` values of ``frame``, with a True marker ``name``."""
    return frame[["normalised_id"]].dropna().drop_duplicates().assign(**{name: True})


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

    def keyed(self, table: str, columns: list[str], id_column: str = "resident_id"
              ) -> dd.DataFrame:
        """``columns`` of ``table`` and ``id_column`` normalised as ``normalised_id``."""
        return self.read(table, columns).map_partitions(with_normalised_id, id_column)

    def held(self, columns: list[str]) -> dd.DataFrame:
        """The residents' ``columns``, ``normalised_id`` and its validity ``valid``."""
        residents = self.keyed("residents", columns)
        return residents.assign(
            valid=residents["normalised_id"].map_partitions(valid_resident_id, meta=(None, bool))
        )

    def registry(self, columns: list[str]) -> dd.DataFrame:
        """The residents reduced to one row per valid normalised ID, with ``columns``: the
        valid rows shuffled on ``normalised_id``, then each partition's firsts."""
        held = self.held(list(dict.fromkeys([*columns, *REGISTRY_ORDER])))
        valid = held[held["valid"]].shuffle("normalised_id")
        return valid.map_partitions(first_by_order)[[*columns, "normalised_id"]]

    def verify(self, params) -> Outputs:
        registry = self.registry(["name", "birth_date", "division_code"]).rename(
            columns={"name": "registry_name", "birth_date": "registry_birth_date",
                     "division_code": "registry_division_code"}
        ).assign(found=True)
        checked = dd.concat([
            self.keyed(source, ["resident_id", "name", "birth_date", "division_code"])
            .merge(registry, on="normalised_id", how="left")
            .map_partitions(classify, source)
            for source in verify_sources(params)
        ])
        # Every row of an invalid or a repeated valid normalised ID: few, finished in pandas.
        held = self.held(["resident_id"])
        counts = held[held["valid"]].groupby("normalised_id").size()
        repeated = counts[counts > 1].reset_index()[["normalised_id"]]
        candidates = dd.concat([held[~held["valid"]],
                                held[held["valid"]].merge(repeated, on="normalised_id")])
        outputs = self.compute({**conflicts_and_summary(checked, dd.concat),
                                "registry_issues": candidates})
        return {**outputs, "registry_issues": registry_issues(outputs["registry_issues"])}

    def eligibility(self, params) -> Outputs:
        reference = pd.Timestamp(params.reference_date)
        deaths = self.keyed("deaths", ["resident_id", "death_date"])
        residents = self.registry(["resident_id", "division_code", "birth_date"])
        residents = residents.merge(
            _flag(deaths[deaths["death_date"] <= reference], "dead"),
            on="normalised_id", how="left",
        )
        elderly = residents[
            residents["dead"].isna()
            & (age_at(residents["birth_date"], params.reference_date) >= params.min_age)
        ].drop(columns="dead")
        returns = self.keyed("tax_returns", ["resident_id", "year", "income"])
        income = (
            returns[returns["year"] == params.income_year]
            .groupby("normalised_id")["income"].sum().reset_index()
        )
        elderly = elderly.merge(income, on="normalised_id", how="left")
        elderly = elderly.assign(income=elderly["income"].fillna(0.0))
        eligible = elderly[elderly["income"] < params.max_income]
        payments = self.keyed("benefit_payments", ["resident_id", "program", "month"])
        paid = payments[
            (payments["program"] == params.program)
            & (payments["month"] == reference.replace(day=1))
        ]
        eligible = eligible.merge(_flag(paid, "enrolled"), on="normalised_id", how="left")
        eligible = eligible.assign(enrolled=eligible["enrolled"].fillna(False).astype(bool))
        coverage = (
            eligible.assign(eligible=1, enrolled=eligible["enrolled"].astype("int64"))
            .groupby("division_code")[["eligible", "enrolled"]].sum().reset_index()
        )
        coverage = coverage.assign(coverage=coverage["enrolled"] / coverage["eligible"])
        not_enrolled = eligible[~eligible["enrolled"]][
            ["resident_id", "normalised_id", "division_code", "birth_date", "income"]
        ]
        return self.compute({"eligible": not_enrolled, "coverage": coverage})

    def integrity(self, params) -> Outputs:
        payments = self.keyed("benefit_payments", PAYMENT_COLUMNS)
        group = ["normalised_id", "program", "month"]
        first = payments.groupby(group)["payment_id"].min().reset_index()
        payments = payments.merge(first.rename(columns={"payment_id": "first_payment"}),
                                  on=group, how="left")
        # Registered: the normalised ID is a valid one some resident holds.
        held = self.held(["resident_id"])
        payments = payments.merge(_flag(held[held["valid"]], "registered"),
                                  on="normalised_id", how="left")
        deaths = self.keyed("deaths", ["resident_id", "death_date"])
        death_month = deaths.groupby("normalised_id")["death_date"].min().reset_index()
        death_month = death_month.assign(death_month=month_start(death_month["death_date"]))
        payments = payments.merge(death_month[["normalised_id", "death_month"]],
                                  on="normalised_id", how="left")
        returns = self.keyed("tax_returns", ["resident_id", "year", "income"])
        income = returns.groupby(["normalised_id", "year"])["income"].sum().reset_index()
        income = income.assign(year=income["year"].astype("int32") + 1).rename(
            columns={"year": "payment_year", "income": "income_before"}
        )
        payments = payments.assign(payment_year=payments["month"].dt.year.astype("int32"))
        payments = payments.merge(income, on=["normalised_id", "payment_year"], how="left")
        enterprises = self.keyed("enterprises", ["legal_rep_id", "status"], "legal_rep_id")
        reps = _flag(enterprises[enterprises["status"] == "active"], "enterprise_rep")
        payments = payments.merge(reps, on="normalised_id", how="left")
        reasons = payments.map_partitions(payment_reasons, params.dibao_max_income)
        columns = [*PAYMENT_COLUMNS, "normalised_id"]
        flagged = dd.concat([
            reasons.loc[reasons[r], columns].assign(reason=r) for r in INTEGRITY_REASONS
        ])
        by_province = (
            flagged.assign(province_code=flagged["normalised_id"].map_partitions(province_of_id))
            .groupby(["province_code", "reason"], dropna=False)
            .agg(payments=("payment_id", "count"), amount=("amount", "sum"))
            .reset_index()
        )
        return self.compute({"flagged": flagged, "by_province": by_province})

    def rollup(self, params) -> Outputs:
        reference = pd.Timestamp(params.reference_date)
        deaths = self.keyed("deaths", ["resident_id", "death_date"])
        residents = self.registry(["sex", "birth_date", "division_code"])
        residents = residents[residents["birth_date"] <= reference].merge(
            _flag(deaths[deaths["death_date"] <= reference], "dead"),
            on="normalised_id", how="left",
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
