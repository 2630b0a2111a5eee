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
    ID_CHARACTERS,
    ID_PATTERN,
    ID_WEIGHTS,
    LEGACY_ID_PATTERN,
    LEVELS,
    PROVINCE_PREFIXES,
    REGISTRY_ORDER,
    VERIFY_KINDS,
    WHITE_SPACE,
    division_at,
    jaro_winkler,
)

TRANSLATION = str.maketrans(ID_CHARACTERS)
CHECK_CHARACTERS = np.array(list(CHECK_CHARS), dtype=object)


def check_character(bodies: pd.Series) -> pd.Series:
    """The GB 11643 check character of each 17-digit body (17 ASCII digits), the digits taken
    arithmetically from the body read as one integer."""
    number = bodies.astype("int64").to_numpy()
    total = sum(number // 10 ** (16 - i) % 10 * w for i, w in enumerate(ID_WEIGHTS))
    return pd.Series(CHECK_CHARACTERS[total % 11], index=bodies.index)


def normalise_id(ids: pd.Series) -> pd.Series:
    """The IDs as the jobs match them: White_Space stripped from both ends, full-width digits
    and X and a lowercase x read as ASCII, a 15-digit legacy ID widened to 18 ("19" before
    the year, the check character appended). Null stays null."""
    dirty = ~ids.str.fullmatch(ID_PATTERN).fillna(False).astype(bool).to_numpy()
    if not dirty.any():  # the usual case: every ID already plain
        return ids
    cleaned = ids[dirty].str.strip(WHITE_SPACE).str.translate(TRANSLATION)
    legacy = cleaned.str.fullmatch(LEGACY_ID_PATTERN).fillna(False).astype(bool).to_numpy()
    if legacy.any():
        bodies = cleaned[legacy].str.slice(0, 6) + "19" + cleaned[legacy].str.slice(6)
        cleaned[legacy] = (bodies + check_character(bodies)).to_numpy()
    normalised = ids.copy()
    normalised[dirty] = cleaned.to_numpy()  # positions, not labels: indexes may repeat
    return normalised


def valid_resident_id(ids: pd.Series) -> pd.Series:
    """GB 11643 validity of normalised IDs: shape, province, birth date and check character,
    as a boolean Series."""
    shaped = ids.str.fullmatch(ID_PATTERN).fillna(False).astype(bool)
    candidates = ids.where(shaped, "110101190001010000")  # keeps the slicing below total
    province = candidates.str.slice(0, 2).isin(PROVINCE_PREFIXES)
    birth = pd.to_datetime(candidates.str.slice(6, 14), format="%Y%m%d", errors="coerce")
    born = (birth >= pd.Timestamp(EARLIEST_BIRTH)).fillna(False).astype(bool)
    check = candidates.str.slice(17, 18) == check_character(candidates.str.slice(0, 17))
    return shaped & province & born & check.astype(bool)


def with_normalised_id(frame: pd.DataFrame, column: str = "resident_id") -> pd.DataFrame:
    """``frame`` with ``column`` normalised as ``normalised_id``."""
    return frame.assign(normalised_id=normalise_id(frame[column]))


def first_by_order(registry: pd.DataFrame) -> pd.DataFrame:
    """One row per ``normalised_id``: the first by :data:`REGISTRY_ORDER`, nulls last. Only the
    rows whose ID repeats are sorted."""
    repeated = registry["normalised_id"].duplicated(keep=False)
    if not repeated.any():
        return registry
    firsts = (
        registry[repeated].sort_values(REGISTRY_ORDER, na_position="last", kind="stable")
        .drop_duplicates("normalised_id")
    )
    return pd.concat([registry[~repeated], firsts])


def registry_issues(held: pd.DataFrame) -> pd.DataFrame:
    """verify's ``registry_issues`` from registry rows (``resident_id``, ``normalised_id`` and
    its ``valid``ity): each row of an invalid or repeated normalised ID, with how many rows
    hold it (nulls counted together), once per distinct raw and normalised ID. Every row of
    each such normalised ID must be there; others may be."""
    held = held.reset_index(drop=True)
    rows = held.groupby("normalised_id", dropna=False)["resident_id"].transform("size")
    issue = (rows > 1) | ~held["valid"]
    return pd.DataFrame({
        "resident_id": held["resident_id"][issue],
        "normalised_id": held["normalised_id"][issue],
        "issue": np.where(held["valid"][issue], "duplicate", "invalid_id"),
        "rows": rows[issue].astype("int64"),
    }).drop_duplicates(ignore_index=True)


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


def differs(left: pd.Series, right: pd.Series) -> pd.Series:
    """``left IS DISTINCT FROM right``: unequal, or one of them null (two nulls are equal)."""
    unequal = (left != right).fillna(True).astype(bool)  # Arrow types compare to null
    return unequal & ~(left.isna() & right.isna()).to_numpy()


def classify(records: pd.DataFrame, source: str) -> pd.DataFrame:
    """One row per roster record joined to the registry on ``normalised_id`` (``found`` marks
    a match): a flag per kind of conflict, and the names' similarity on name mismatches."""
    found = records["found"].fillna(False).astype(bool)
    # The registry holds valid IDs alone: a record found there is valid.
    valid = found | valid_resident_id(records["normalised_id"])
    name_mismatch = found & differs(records["name"], records["registry_name"])
    scored = name_mismatch & records["name"].notna() & records["registry_name"].notna()
    similarity = pd.Series(float("nan"), index=records.index)
    similarity[scored] = jaro_winkler(
        records.loc[scored, "name"], records.loc[scored, "registry_name"]
    )
    return pd.DataFrame({
        "source": source,
        "resident_id": records["resident_id"],
        "normalised_id": records["normalised_id"],
        "province_code": records["division_code"] // 10000 * 10000,
        "invalid_id": ~valid,
        "orphan": valid & ~found,
        "name_mismatch": name_mismatch,
        "birth_mismatch": found & differs(records["birth_date"], records["registry_birth_date"]),
        "division_code_mismatch": found
        & differs(records["division_code"], records["registry_division_code"]),
        "similarity": similarity,
    })


def payment_reasons(payments: pd.DataFrame, dibao_max_income: float) -> pd.DataFrame:
    """Payments with a boolean column per reason; needs ``normalised_id``, ``registered`` (in
    the registry), ``death_month``, ``first_payment``, ``income_before`` and
    ``enterprise_rep`` joined on."""
    registered = payments["registered"].fillna(False).astype(bool)
    valid = registered | valid_resident_id(payments["normalised_id"])
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
        checked.loc[checked[kind], ["source", "resident_id", "normalised_id", "similarity"]]
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
