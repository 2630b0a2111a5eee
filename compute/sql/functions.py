"""The hub's column kernels as SQL functions: name -> function of partition Series.

Each takes and returns pandas (or cuDF) Series aligned with the partition; the kernels
dispatch on where the data lives, so the same entry serves the CPU and the GPU. Everything
else is an operation both libraries share, or goes through :mod:`compute.sql.frames`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kernels
from compute.sql import frames


def valid_resident_id(ids: Any) -> Any:
    """TRUE where the resident ID passes every check of GB 11643-1999 (NULL: FALSE)."""
    return kernels.validate_resident_id(ids) == 0


def resident_birth_date(ids: Any) -> Any:
    """The birth date an ID encodes; NULL where the ID is not valid."""
    return frames.date_column(kernels.resident_id_fields(ids)["birth_date"])


def resident_sex(ids: Any) -> Any:
    """1 (male) or 2 (female) as the ID's order code says; NULL where the ID is not valid."""
    return kernels.resident_id_fields(ids)["sex"].astype("float64")


def province_of(division_code: Any) -> Any:
    """GB/T 2260: the province code (PP0000) of a division code."""
    return division_code // 10000 * 10000


def normalise_resident_id(ids: Any) -> Any:
    """The ID as the jobs match it (kernels.normalise_resident_id): surrounding white space
    removed, full-width digits and x read as ASCII X, a 15-digit legacy ID made 18 digits;
    an invalid ID is still normalised (test it with valid_resident_id), NULL stays NULL."""
    return kernels.normalise_resident_id(ids)


def normalise_uscc(codes: Any) -> Any:
    """The Unified Social Credit Code as the jobs match it (kernels.normalise_uscc): white
    space removed and letters upper-cased, full-width ones read as ASCII; an invalid code
    is still normalised (test it with valid_uscc), NULL stays NULL."""
    return kernels.normalise_uscc(codes)


def id_province(ids: Any) -> Any:
    """The province code (PP0000) of an ID's first two characters; NULL unless both are
    ASCII digits (as integrity's by_province counts)."""
    head = ids.str.slice(0, 2)
    digits = (head.str.len() == 2) & head.str.slice(0, 1).between("0", "9") & \
        head.str.slice(1, 2).between("0", "9")
    return (frames.to_numeric(head.where(digits.fillna(False).astype(bool)))
            * 10000).astype("float64")


def prefecture_of(division_code: Any) -> Any:
    """GB/T 2260: the prefecture code (PPCC00) of a division code."""
    return division_code // 100 * 100


def age_at(birth_date: Any, reference: Any) -> Any:
    """Completed years at ``reference``: the years between, less one before the birthday
    (NULL where either is NULL)."""
    birth, ref = frames.to_datetime(birth_date), frames.to_datetime(reference)
    # pandas compares NaT as False, cuDF gives null: only where ``years`` is NULL anyway
    before = (birth.dt.month > ref.dt.month) | (
        (birth.dt.month == ref.dt.month) & (birth.dt.day > ref.dt.day))
    # the fields are int32 (float64 with NaT) on pandas, int16 on cuDF: float64 first
    years = ref.dt.year.astype("float64") - birth.dt.year.astype("float64")
    return (years - before.astype("int64")).astype("float64")


def month_index(dates: Any) -> Any:
    """Months since year 0 (year * 12 + month - 1): equal for dates of the same month, as
    DATE_TRUNC('month', d) is, and ordered like it (NULL for NULL)."""
    dates = frames.to_datetime(dates)
    # float64 first: cuDF's year is int16, and year * 12 would overflow from year 2731
    return (dates.dt.year.astype("float64") * 12 + dates.dt.month - 1).astype("float64")


def valid_uscc(codes: Any) -> Any:
    """TRUE where the Unified Social Credit Code passes GB 32100-2015's checks."""
    return kernels.validate_uscc(codes) == 0


def jaro_winkler(a: Any, b: Any) -> Any:
    """Jaro-Winkler similarity of two strings (NULL where either is NULL)."""
    return kernels.jaro_winkler(a, b)


def levenshtein(a: Any, b: Any) -> Any:
    """Levenshtein distance of two strings (NULL where either is NULL)."""
    distances = kernels.levenshtein(a, b)
    return distances.where(distances >= 0).astype("float64")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "valid_resident_id": valid_resident_id,
    "resident_birth_date": resident_birth_date,
    "resident_sex": resident_sex,
    "province_of": province_of,
    "prefecture_of": prefecture_of,
    "normalise_resident_id": normalise_resident_id,
    "normalise_uscc": normalise_uscc,
    "id_province": id_province,
    "age_at": age_at,
    "month_index": month_index,
    "valid_uscc": valid_uscc,
    "jaro_winkler": jaro_winkler,
    "levenshtein": levenshtein,
}
