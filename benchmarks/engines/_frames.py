"""Column functions an analyst writes once in pandas and reuses in plain Dask.

Each takes a pandas Series (called per partition from Dask) and uses string and datetime
methods only: vectorised, no govgrid kernels.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.engines._common import (
    AGE_BAND_STARTS,
    AGE_BANDS,
    CHECK_CHARS,
    EARLIEST_BIRTH,
    ID_PATTERN,
    ID_WEIGHTS,
    LEVELS,
    PROVINCE_PREFIXES,
    VERIFY_KINDS,
    division_at,
    jaro_winkler,
)


def valid_resident_id(ids: pd.Series) -> pd.Series:
    """GB 11643: shape, province, birth date and check character, as a boolean Series."""
    shaped = ids.str.fullmatch(ID_PATTERN).fillna(False).astype(bool)
    candidates = ids.where(shaped, "110101190001010000")  # keeps the slicing below total
    province = candidates.str.slice(0, 2).isin(PROVINCE_PREFIXES)
    birth = pd.to_datetime(candidates.str.slice(6, 14), format="%Y%m%d", errors="coerce")
    born = (birth >= pd.Timestamp(EARLIEST_BIRTH)).fillna(False).astype(bool)
    total = sum(
        candidates.str.slice(i, i + 1).astype("int64") * weight
        for i, weight in enumerate(ID_WEIGHTS)
    )
    expected = (total % 11).map(dict(enumerate(CHECK_CHARS)))
    check = candidates.str.slice(17, 18).str.upper() == expected
    return shaped & province & born & check.astype(bool)


def age_at(birth: pd.Series, day: dt.date) -> pd.Series:
    """Completed years at ``day`` of each birth date."""
    ahead = (birth.dt.month > day.month) | (
        (birth.dt.month == day.month) & (birth.dt.day > day.day)
    )
    return day.year - birth.dt.year - ahead.astype("int64")


def age_band(birth: pd.Series, day: dt.date) -> pd.Series:
    """The age band label (0-17 ... 80+) of each birth date at ``day``."""
    age = age_at(birth, day)
    index = sum((age >= start).astype("int64") for start in AGE_BAND_STARTS)
    return pd.Series(np.asarray(AGE_BANDS, dtype=object)[index.to_numpy()], index=birth.index)


def month_start(dates: pd.Series) -> pd.Series:
    """The first day of each date's month."""
    return dates.dt.to_period("M").dt.start_time.astype(dates.dtype)


def province_of_id(ids: pd.Series) -> pd.Series:
    """First two characters of the ID × 10000, null unless both are digits."""
    head = ids.str.slice(0, 2)
    digits = head.str.fullmatch(r"[0-9]{2}").fillna(False).astype(bool)
    return pd.to_numeric(head.where(digits), errors="coerce").mul(10000).astype("Int64")


def roll_up(by_county: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """County-level sums (``division_code``, ``keys``, values) summed up every level."""
    levels = [
        by_county.assign(division_code=division_at(by_county["division_code"], level))
        .groupby(["division_code", *keys], as_index=False).sum()
        .assign(level=level)
        for level in LEVELS
    ]
    rolled = pd.concat(levels, ignore_index=True)
    first = ["level", "division_code", *keys]
    return rolled[[*first, *(c for c in rolled.columns if c not in first)]]


def classify(records: pd.DataFrame, source: str) -> pd.DataFrame:
    """One row per roster record joined to the registry (``found`` marks a match): a flag
    per kind of conflict, and the names' similarity on name mismatches."""
    valid = valid_resident_id(records["resident_id"])
    found = records["found"].fillna(False).astype(bool)
    matched = valid & found
    name_mismatch = matched & (records["name"] != records["registry_name"])
    similarity = pd.Series(float("nan"), index=records.index)
    similarity[name_mismatch] = jaro_winkler(
        records.loc[name_mismatch, "name"], records.loc[name_mismatch, "registry_name"]
    )
    return pd.DataFrame({
        "source": source,
        "resident_id": records["resident_id"],
        "province_code": records["division_code"] // 10000 * 10000,
        "invalid_id": ~valid,
        "orphan": valid & ~found,
        "name_mismatch": name_mismatch,
        "birth_mismatch": matched & (records["birth_date"] != records["registry_birth_date"]),
        "similarity": similarity,
    })


def payment_reasons(payments: pd.DataFrame, dibao_max_income: float) -> pd.DataFrame:
    """Payments with a boolean column per reason; needs ``registered``, ``death_month``,
    ``first_payment``, ``income_before`` and ``enterprise_rep`` joined on."""
    valid = valid_resident_id(payments["resident_id"])
    registered = valid & payments["registered"].fillna(False).astype(bool)
    dibao = registered & (payments["program"] == "dibao")
    return payments.assign(
        invalid_id=~valid,
        orphan=valid & ~registered,
        after_death=registered & (payments["month"] > payments["death_month"]),
        duplicate=registered & (payments["payment_id"] != payments["first_payment"]),
        dibao_high_income=dibao & (payments["income_before"] > dibao_max_income),
        dibao_enterprise_rep=dibao & payments["enterprise_rep"].fillna(False).astype(bool),
    )


def conflicts_and_summary(checked: Any, concat: Callable[[list[Any]], Any]) -> dict[str, Any]:
    """verify's outputs from the records :func:`classify` flagged (pandas or Dask frames)."""
    conflicts = concat([
        checked.loc[checked[kind], ["source", "resident_id", "similarity"]]
        .assign(kind=kind, **({} if kind == "name_mismatch" else {"similarity": float("nan")}))
        for kind in VERIFY_KINDS
    ])
    summary = (
        checked.assign(records=1, agreeing=~checked[list(VERIFY_KINDS)].any(axis=1))
        .groupby(["source", "province_code"])[["records", *VERIFY_KINDS, "agreeing"]].sum()
        .reset_index()
    )
    summary = summary.assign(agreement_rate=summary["agreeing"] / summary["records"])
    return {"conflicts": conflicts, "summary": summary.drop(columns="agreeing")}
