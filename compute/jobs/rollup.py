"""rollup: population and enterprises up the administrative hierarchy (GROUP BY ROLLUP)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import dask.dataframe as dd

from compute.jobs._frames import (
    KEY_ROW_BYTES,
    flag_membership,
    keys_of,
    prefecture_of,
    province_of,
    sorted_small,
    with_resident_key,
)
from compute.jobs.base import DEFAULT_REFERENCE_DATE, Job, Params, as_date
from compute.planner import choose

if TYPE_CHECKING:
    import pandas as pd

    from compute.session import Session

AGE_BANDS = ("0-17", "18-34", "35-59", "60-79", "80+")
AGE_BAND_STARTS = (18, 35, 60, 80)  # the first age of each band after the first
LEVELS = {
    "county": lambda code: code,
    "prefecture": prefecture_of,
    "province": province_of,
    "nation": lambda code: code * 0,
}


@dataclass(frozen=True)
class RollupParams(Params):
    reference_date: dt.date = DEFAULT_REFERENCE_DATE

    # Deaths must be recorded up to the reference date for the population to be right.
    within_data: ClassVar = (("reference_date", "deaths", "death_date"),)

    help: ClassVar[dict[str, str]] = {
        "reference_date": "residents alive (born, not dead) on this date; ages at this date",
    }

    def __post_init__(self) -> None:
        object.__setattr__(self, "reference_date", as_date(self.reference_date, "reference_date"))


def rollup(session: Session, params: RollupParams | None = None, **kwargs) -> Job:
    """Population by level × division × sex × age band, and enterprises by level × status.

    Levels are county, prefecture, province and nation (division_code 0); only non-empty
    groups appear. Residents count when born on or before and not dead by the reference date.
    """
    p = params or RollupParams(**kwargs)
    p.check_data(session.catalog)
    reference = p.reference_date
    deaths_choice = choose("deaths", session.rows("deaths") * KEY_ROW_BYTES)
    residents = with_resident_key(session.table(
        "residents", columns=["resident_id", "sex", "birth_date", "division_code"],
        filters=[("birth_date", "<=", reference)],
    ))
    dead = keys_of(session.table("deaths", columns=["resident_id"],
                                 filters=[("death_date", "<=", reference)]), deaths_choice)
    residents = flag_membership(residents, dead, "dead", deaths_choice)
    counties = (
        residents.map_partitions(alive_by_age_band, reference)
        .groupby(["division_code", "sex", "age_band"])["population"].sum(split_out=1).reset_index()
    )
    population = roll_up(counties, ["sex", "age_band"])
    population = population.assign(
        age_band=population["age_band"].map(dict(enumerate(AGE_BANDS)), meta=("age_band", "str"))
    )
    enterprises = session.table(
        "enterprises", columns=["division_code", "status", "registered_capital"]
    )
    by_county = (
        enterprises.assign(enterprises=1)
        .groupby(["division_code", "status"])[["enterprises", "registered_capital"]]
        .sum(split_out=1)
        .reset_index()
    )
    return Job(
        "rollup", p,
        outputs={"population": population, "enterprises": roll_up(by_county, ["status"])},
        tables=("residents", "deaths", "enterprises"),
        plan=[deaths_choice],
    )


def alive_by_age_band(residents: pd.DataFrame, reference: dt.date) -> pd.DataFrame:
    """The living residents with their age band (an index into AGE_BANDS) and a count of 1."""
    alive = residents[~residents["dead"]]
    birth = alive["birth_date"]
    month, day = birth.dt.month, birth.dt.day
    birthday_ahead = (month > reference.month) | (
        (month == reference.month) & (day > reference.day)
    )
    age = reference.year - birth.dt.year - birthday_ahead.astype("int64")
    band = sum((age >= start).astype("int8") for start in AGE_BAND_STARTS)
    return alive.assign(age_band=band, population=1)


def roll_up(by_county: dd.DataFrame, keys: list[str]) -> dd.DataFrame:
    """Sum county-level groups up to prefecture, province and nation, one row per group.

    ``by_county`` is small (one row per county and key): each level is a group-by of it.
    """
    levels = []
    for level, code_of in LEVELS.items():
        levels.append(
            by_county.assign(division_code=code_of(by_county["division_code"]))
            .groupby(["division_code", *keys]).sum(split_out=1).reset_index()
            .assign(level=level)
        )
    rolled = dd.concat(levels)
    columns = ["level", "division_code", *keys]
    return sorted_small(rolled[[*columns, *(c for c in rolled.columns if c not in columns)]],
                        columns)
