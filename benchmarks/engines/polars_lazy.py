"""Polars: the four jobs as lazy frames over the Parquet files.

IDs are normalised with Polars string expressions and matched on ``normalised_id``; the
registry is first reduced to one row per valid normalised ID.

Polars sizes its thread pool once per process (all cores, or ``POLARS_MAX_THREADS``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

from benchmarks.engines._common import (
    AGE_BAND_STARTS,
    AGE_BANDS,
    CHECK_CHARS,
    EARLIEST_BIRTH,
    ID_CHARACTERS,
    ID_PATTERN,
    ID_WEIGHTS,
    INTEGRITY_REASONS,
    LEGACY_ID_PATTERN,
    LEVEL_DIVISORS,
    PAYMENT_COLUMNS,
    PROVINCE_PREFIXES,
    REGISTRY_ORDER,
    VERIFY_KINDS,
    WHITE_SPACE,
    jaro_winkler,
    table_files,
    verify_sources,
)
from benchmarks.engines.base import Engine, Outputs


def check_character(body: pl.Expr) -> pl.Expr:
    """The GB 11643 check character of a 17-digit body, read as one integer whose digits are
    taken arithmetically (what the body holds where it is not 17 digits does not matter)."""
    number = body.cast(pl.Int64, strict=False)
    total = pl.sum_horizontal(
        number // 10 ** (16 - i) % 10 * w for i, w in enumerate(ID_WEIGHTS)
    )
    return pl.lit(CHECK_CHARS).str.slice(total % 11, 1)


def normalise_id(column: str) -> pl.Expr:
    """An ID column as the jobs match it: White_Space stripped from both ends, full-width
    digits and X and a lowercase x as ASCII, a 15-digit legacy ID widened to 18 ("19" before
    the year, the check character appended). Null stays null."""
    cleaned = pl.col(column).str.strip_chars(WHITE_SPACE).str.replace_many(
        list(ID_CHARACTERS), list(ID_CHARACTERS.values())
    )
    legacy = cleaned.str.contains(f"^{LEGACY_ID_PATTERN}$")
    body = pl.when(legacy).then(cleaned.str.slice(0, 6) + "19" + cleaned.str.slice(6))
    return pl.when(legacy).then(body + check_character(body)).otherwise(cleaned)


def valid_id(column: str) -> pl.Expr:
    """GB 11643 validity of a normalised ID column: shape, province, birth date, check
    character."""
    ids = pl.col(column)
    return (
        ids.str.contains(f"^{ID_PATTERN}$")
        & ids.str.slice(0, 2).is_in(PROVINCE_PREFIXES)
        & (ids.str.slice(6, 8).str.to_date("%Y%m%d", strict=False) >= EARLIEST_BIRTH)
        & (ids.str.slice(17, 1) == check_character(ids.str.slice(0, 17)))
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

    def keyed(self, table: str, column: str = "resident_id") -> pl.LazyFrame:
        """``table`` with ``column`` normalised as ``normalised_id``."""
        return self.scan(table).with_columns(normalised_id=normalise_id(column))

    def held(self) -> pl.LazyFrame:
        """The residents with ``normalised_id`` and its validity ``valid``."""
        return self.keyed("residents").with_columns(valid=valid_id("normalised_id"))

    def registry(self, held: pl.LazyFrame | None = None) -> pl.LazyFrame:
        """The residents (``held``) reduced to one row per valid normalised ID: the first by
        :data:`REGISTRY_ORDER`, nulls last; only repeated IDs are sorted."""
        valid = (self.held() if held is None else held).filter("valid")
        repeated = pl.col("normalised_id").is_duplicated()
        return pl.concat([
            valid.filter(~repeated),
            valid.filter(repeated).sort(REGISTRY_ORDER, nulls_last=True)
            .unique("normalised_id", keep="first"),
        ])

    def verify(self, params) -> Outputs:
        held = self.held()
        registry = self.registry(held).select(
            "normalised_id", registry_name="name", registry_birth_date="birth_date",
            registry_division_code="division_code", found=True
        )
        found = pl.col("found")
        checked = pl.concat([
            self.keyed(source)
            .join(registry, on="normalised_id", how="left")
            # The registry holds valid IDs alone: a record found there is valid.
            .with_columns(found=found.fill_null(False))
            .with_columns(valid=found | valid_id("normalised_id"))
            .select(
                "resident_id", "normalised_id", "name", "registry_name",
                source=pl.lit(source),
                province_code=pl.col("division_code") // 10000 * 10000,
                invalid_id=~pl.col("valid"),
                orphan=pl.col("valid") & ~found,
                name_mismatch=found & pl.col("name").ne_missing(pl.col("registry_name")),
                birth_mismatch=found
                & pl.col("birth_date").ne_missing(pl.col("registry_birth_date")),
                division_code_mismatch=found
                & pl.col("division_code").ne_missing(pl.col("registry_division_code")),
            )
            for source in verify_sources(params)
        ])
        # Each resident row of an invalid or repeated normalised ID (nulls counted together).
        issues = (
            held.select("resident_id", "normalised_id", "valid",
                        rows=pl.len().over("normalised_id"))
            .filter((pl.col("rows") > 1) | ~pl.col("valid"))
            .select("resident_id", "normalised_id",
                    issue=pl.when("valid").then(pl.lit("duplicate"))
                    .otherwise(pl.lit("invalid_id")),
                    rows="rows")
            .unique()
        )
        checked, issues = pl.collect_all([checked, issues])  # the residents read once
        conflicts = []
        for kind in VERIFY_KINDS:
            rows = checked.filter(pl.col(kind))
            if kind == "name_mismatch":  # scored where both names are known
                similarity = np.full(len(rows), np.nan)
                known = rows["name"].is_not_null() & rows["registry_name"].is_not_null()
                similarity[known.to_numpy()] = jaro_winkler(
                    rows.filter(known)["name"], rows.filter(known)["registry_name"])
                similarity = pl.Series(similarity, nan_to_null=True)
            else:
                similarity = pl.lit(None, pl.Float64)
            conflicts.append(rows.select(
                "source", "resident_id", "normalised_id", kind=pl.lit(kind),
                similarity=similarity,
            ))
        summary = checked.group_by("source", "province_code").agg(
            records=pl.len(),
            **{kind: pl.col(kind).sum() for kind in VERIFY_KINDS},
            agreement_rate=(~pl.any_horizontal(VERIFY_KINDS)).mean(),
        )
        return {"conflicts": pl.concat(conflicts).to_pandas(), "summary": summary.to_pandas(),
                "registry_issues": issues.to_pandas()}

    def eligibility(self, params) -> Outputs:
        reference = params.reference_date
        dead = self.keyed("deaths").filter(pl.col("death_date") <= reference).select(
            "normalised_id")
        income = (
            self.keyed("tax_returns").filter(pl.col("year") == params.income_year)
            .group_by("normalised_id").agg(pl.col("income").sum())
        )
        paid = self.keyed("benefit_payments").filter(
            (pl.col("program") == params.program) & (pl.col("month") == reference.replace(day=1))
        ).select("normalised_id").unique().with_columns(enrolled=True)
        eligible = (
            self.registry().select("resident_id", "normalised_id", "division_code", "birth_date")
            .join(dead, on="normalised_id", how="anti")
            .filter(age_at("birth_date", reference) >= params.min_age)
            .join(income, on="normalised_id", how="left")
            .with_columns(pl.col("income").fill_null(0.0))
            .filter(pl.col("income") < params.max_income)
            .join(paid, on="normalised_id", how="left")
            .with_columns(pl.col("enrolled").fill_null(False))
        ).collect()
        coverage = eligible.group_by("division_code").agg(
            eligible=pl.len(), enrolled=pl.col("enrolled").sum(),
            coverage=pl.col("enrolled").mean(),
        )
        not_enrolled = eligible.filter(~pl.col("enrolled")).select(
            "resident_id", "normalised_id", "division_code", "birth_date", "income"
        )
        return {"eligible": not_enrolled.to_pandas(), "coverage": coverage.to_pandas()}

    def integrity(self, params) -> Outputs:
        # Registered: the normalised ID is a valid one some resident holds.
        registry = self.keyed("residents").filter(valid_id("normalised_id")).select(
            "normalised_id", registered=True).unique()
        death_months = self.keyed("deaths").group_by("normalised_id").agg(
            death_month=pl.col("death_date").min().dt.truncate("1mo")
        )
        income = self.keyed("tax_returns").group_by("normalised_id", "year").agg(
            pl.col("income").sum()
        ).select("normalised_id", "income", payment_year=pl.col("year").cast(pl.Int32) + 1)
        reps = self.keyed("enterprises", "legal_rep_id").filter(
            pl.col("status") == "active").select("normalised_id", enterprise_rep=True).unique()
        registered = pl.col("registered").fill_null(False)
        # The registry holds valid IDs alone: a registered payment's ID is valid.
        valid = registered | valid_id("normalised_id")
        dibao = registered & (pl.col("program") == "dibao")
        reasons = {
            "invalid_id": ~valid,
            "orphan": valid & ~registered,
            "after_death": registered & (pl.col("month") > pl.col("death_month")),
            "duplicate": registered
            & (pl.col("payment_id") != pl.col("payment_id").min().over(
                "normalised_id", "program", "month")),
            "dibao_high_income": dibao & (pl.col("income") > params.dibao_max_income),
            "dibao_enterprise_rep": dibao & pl.col("enterprise_rep").fill_null(False),
        }
        payments = (
            self.keyed("benefit_payments")
            .with_columns(payment_year=pl.col("month").dt.year().cast(pl.Int32))
            .join(registry, on="normalised_id", how="left")
            .join(death_months, on="normalised_id", how="left")
            .join(income, on=["normalised_id", "payment_year"], how="left")
            .join(reps, on="normalised_id", how="left")
        )
        flagged = pl.concat([
            payments.filter(reasons[reason].fill_null(False))
            .select(*PAYMENT_COLUMNS, "normalised_id", reason=pl.lit(reason))
            for reason in INTEGRITY_REASONS
        ]).collect()
        head = pl.col("normalised_id").str.slice(0, 2)
        by_province = flagged.group_by(
            province_code=pl.when(head.str.contains("^[0-9]{2}$"))
            .then(head.cast(pl.Int64, strict=False) * 10000),
            reason="reason",
        ).agg(payments=pl.len(), amount=pl.col("amount").sum())
        return {"flagged": flagged.to_pandas(), "by_province": by_province.to_pandas()}

    def rollup(self, params) -> Outputs:
        reference = params.reference_date
        dead = self.keyed("deaths").filter(pl.col("death_date") <= reference).select(
            "normalised_id")
        band = pl.sum_horizontal(
            (age_at("birth_date", reference) >= start).cast(pl.Int32) for start in AGE_BAND_STARTS
        )
        alive = (
            self.registry().filter(pl.col("birth_date") <= reference)
            .join(dead, on="normalised_id", how="anti")
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
