"""Polars: the four jobs as lazy frames over the Parquet files.

Polars sizes its thread pool once per process (all cores, or ``POLARS_MAX_THREADS``).
"""

from __future__ import annotations

import pandas as pd
import polars as pl

from benchmarks.engines._common import (
    AGE_BAND_STARTS,
    AGE_BANDS,
    CHECK_CHARS,
    EARLIEST_BIRTH,
    ID_PATTERN,
    ID_WEIGHTS,
    INTEGRITY_REASONS,
    LEVEL_DIVISORS,
    PAYMENT_COLUMNS,
    PROVINCE_PREFIXES,
    VERIFY_KINDS,
    jaro_winkler,
    table_files,
)
from benchmarks.engines.base import Engine, Outputs


def valid_id(column: str) -> pl.Expr:
    """GB 11643 validity of an ID column: shape, province, birth date, check character."""
    ids = pl.col(column)
    total = pl.sum_horizontal(
        ids.str.slice(i, 1).cast(pl.Int64, strict=False) * w for i, w in enumerate(ID_WEIGHTS)
    )
    check = pl.lit(CHECK_CHARS).str.slice(total % 11, 1)
    return (
        ids.str.contains(f"^{ID_PATTERN}$")
        & ids.str.slice(0, 2).is_in(PROVINCE_PREFIXES)
        & (ids.str.slice(6, 8).str.to_date("%Y%m%d", strict=False) >= EARLIEST_BIRTH)
        & (ids.str.slice(17, 1).str.to_uppercase() == check)
    ).fill_null(False)


def age_at(column: str, day) -> pl.Expr:
    birth = pl.col(column)
    ahead = (birth.dt.month() > day.month) | (
        (birth.dt.month() == day.month) & (birth.dt.day() > day.day)
    )
    return day.year - birth.dt.year().cast(pl.Int32) - ahead.cast(pl.Int32)


class PolarsEngine(Engine):
    name = "polars"

    def scan(self, table: str) -> pl.LazyFrame:
        return pl.scan_parquet(table_files(self.data, table))

    def verify(self, params) -> Outputs:
        registry = self.scan("residents").select(
            "resident_id", registry_name="name", registry_birth_date="birth_date", found=True
        )
        checked = pl.concat([
            self.scan(source)
            .join(registry, on="resident_id", how="left")
            .with_columns(valid=valid_id("resident_id"), found=pl.col("found").fill_null(False))
            .select(
                "resident_id", "name", "registry_name",
                source=pl.lit(source),
                province_code=pl.col("division_code") // 10000 * 10000,
                invalid_id=~pl.col("valid"),
                orphan=pl.col("valid") & ~pl.col("found"),
                name_mismatch=pl.col("valid") & pl.col("found")
                & pl.col("name").ne_missing(pl.col("registry_name")),
                birth_mismatch=pl.col("valid") & pl.col("found")
                & pl.col("birth_date").ne_missing(pl.col("registry_birth_date")),
            )
            for source in params.sources
        ]).collect()
        conflicts = []
        for kind in VERIFY_KINDS:
            rows = checked.filter(pl.col(kind))
            similarity = (
                pl.Series(jaro_winkler(rows["name"], rows["registry_name"]), dtype=pl.Float64)
                if kind == "name_mismatch" else pl.lit(None, pl.Float64)
            )
            conflicts.append(rows.select(
                "source", "resident_id", kind=pl.lit(kind), similarity=similarity
            ))
        summary = checked.group_by("source", "province_code").agg(
            records=pl.len(),
            **{kind: pl.col(kind).sum() for kind in VERIFY_KINDS},
            agreement_rate=(~pl.any_horizontal(VERIFY_KINDS)).mean(),
        )
        return {"conflicts": pl.concat(conflicts).to_pandas(), "summary": summary.to_pandas()}

    def eligibility(self, params) -> Outputs:
        reference = params.reference_date
        dead = self.scan("deaths").filter(pl.col("death_date") <= reference).select("resident_id")
        income = (
            self.scan("tax_returns").filter(pl.col("year") == params.income_year)
            .group_by("resident_id").agg(pl.col("income").sum())
        )
        paid = self.scan("benefit_payments").filter(
            (pl.col("program") == params.program) & (pl.col("month") == reference.replace(day=1))
        ).select("resident_id").unique().with_columns(enrolled=True)
        eligible = (
            self.scan("residents").select("resident_id", "division_code", "birth_date")
            .join(dead, on="resident_id", how="anti")
            .filter(age_at("birth_date", reference) >= params.min_age)
            .join(income, on="resident_id", how="left")
            .with_columns(pl.col("income").fill_null(0.0))
            .filter(pl.col("income") < params.max_income)
            .join(paid, on="resident_id", how="left")
            .with_columns(pl.col("enrolled").fill_null(False))
        ).collect()
        coverage = eligible.group_by("division_code").agg(
            eligible=pl.len(), enrolled=pl.col("enrolled").sum(),
            coverage=pl.col("enrolled").mean(),
        )
        not_enrolled = eligible.filter(~pl.col("enrolled")).select(
            "resident_id", "division_code", "birth_date", "income"
        )
        return {"eligible": not_enrolled.to_pandas(), "coverage": coverage.to_pandas()}

    def integrity(self, params) -> Outputs:
        registry = self.scan("residents").select("resident_id", registered=True)
        death_months = self.scan("deaths").group_by("resident_id").agg(
            death_month=pl.col("death_date").min().dt.truncate("1mo")
        )
        income = self.scan("tax_returns").group_by("resident_id", "year").agg(
            pl.col("income").sum()
        ).select("resident_id", "income", payment_year=pl.col("year").cast(pl.Int32) + 1)
        reps = self.scan("enterprises").filter(pl.col("status") == "active").select(
            resident_id="legal_rep_id", enterprise_rep=True
        ).unique()
        registered = pl.col("valid") & pl.col("registered").fill_null(False)
        dibao = registered & (pl.col("program") == "dibao")
        reasons = {
            "invalid_id": ~pl.col("valid"),
            "orphan": pl.col("valid") & ~pl.col("registered").fill_null(False),
            "after_death": registered & (pl.col("month") > pl.col("death_month")),
            "duplicate": registered
            & (pl.col("payment_id") != pl.col("payment_id").min().over(
                "resident_id", "program", "month")),
            "dibao_high_income": dibao & (pl.col("income") > params.dibao_max_income),
            "dibao_enterprise_rep": dibao & pl.col("enterprise_rep").fill_null(False),
        }
        payments = (
            self.scan("benefit_payments")
            .with_columns(valid=valid_id("resident_id"),
                          payment_year=pl.col("month").dt.year().cast(pl.Int32))
            .join(registry, on="resident_id", how="left")
            .join(death_months, on="resident_id", how="left")
            .join(income, on=["resident_id", "payment_year"], how="left")
            .join(reps, on="resident_id", how="left")
        )
        flagged = pl.concat([
            payments.filter(reasons[reason].fill_null(False))
            .select(*PAYMENT_COLUMNS, reason=pl.lit(reason))
            for reason in INTEGRITY_REASONS
        ]).collect()
        head = pl.col("resident_id").str.slice(0, 2)
        by_province = flagged.group_by(
            province_code=pl.when(head.str.contains("^[0-9]{2}$"))
            .then(head.cast(pl.Int64, strict=False) * 10000),
            reason="reason",
        ).agg(payments=pl.len(), amount=pl.col("amount").sum())
        return {"flagged": flagged.to_pandas(), "by_province": by_province.to_pandas()}

    def rollup(self, params) -> Outputs:
        reference = params.reference_date
        dead = self.scan("deaths").filter(pl.col("death_date") <= reference).select("resident_id")
        band = pl.sum_horizontal(
            (age_at("birth_date", reference) >= start).cast(pl.Int32) for start in AGE_BAND_STARTS
        )
        alive = (
            self.scan("residents").filter(pl.col("birth_date") <= reference)
            .join(dead, on="resident_id", how="anti")
            .select("division_code", "sex", age_band=band.replace_strict(
                list(range(len(AGE_BANDS))), list(AGE_BANDS), return_dtype=pl.String))
        )
        population = self.roll_up(alive, ["sex", "age_band"], population=pl.len())
        enterprises = self.roll_up(
            self.scan("enterprises"), ["status"],
            enterprises=pl.len(), registered_capital=pl.col("registered_capital").sum(),
        )
        return {"population": population, "enterprises": enterprises}

    @staticmethod
    def roll_up(frame: pl.LazyFrame, keys: list[str], **aggregates: pl.Expr) -> pd.DataFrame:
        code = pl.col("division_code").cast(pl.Int64)
        levels = [
            frame.group_by(
                *keys,
                division_code=pl.lit(0, pl.Int64) if divisor is None
                else code // divisor * divisor,
            ).agg(**aggregates).with_columns(level=pl.lit(level))
            for level, divisor in LEVEL_DIVISORS.items()
        ]
        return pl.concat(levels).collect().to_pandas()
