"""rollup: population and enterprises up the administrative hierarchy (GROUP BY ROLLUP)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import dask.dataframe as dd
import pandas as pd
from dask.dataframe.methods import concat

from compute.jobs._frames import (
    KEY,
    KEY_ROW_BYTES,
    deciding_elements,
    join_unique,
    keys_of,
    prefecture_of,
    province_of,
    registry_repeated_keys,
    unique_rows,
    with_resident_key,
)
from compute.jobs.base import (
    DEFAULT_REFERENCE_DATE,
    Job,
    Params,
    as_date,
    check_inputs,
    prepare,
    years_before,
)
from compute.planner import choose

if TYPE_CHECKING:
    from compute.session import Session
    from compute.tables import Snapshot

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
    within_data: ClassVar = (("reference_date", "death_date"),)

    help: ClassVar[dict[str, str]] = {
        "reference_date": "residents alive (born, not dead) on this date; ages at this date",
    }

    def __post_init__(self) -> None:
        object.__setattr__(self, "reference_date", as_date(self.reference_date, "reference_date"))


def rollup_inputs(snapshot: Snapshot, params: RollupParams) -> dict[str, str]:
    """The tables rollup reads, found through elements; checked against the data."""
    tables = {
        "registry": snapshot.source_of("resident_id"),
        "deaths": snapshot.source_of("death_date"),
        "enterprises": snapshot.source_of("enterprise_status"),
    }
    for role, elements in (("registry", ("sex", "birth_date", "division_code")),
                           ("deaths", ("resident_id",)),
                           ("enterprises", ("division_code", "registered_capital"))):
        for element in elements:
            snapshot.column_of(tables[role], element)
    return check_inputs(snapshot, params, tables)


def rollup(
    session: Session, params: RollupParams | None = None, as_of=None, inputs=None, **kwargs
) -> Job:
    """Population by level × division × sex × age band, and enterprises by level × status.

    Inputs by element: the registry (resident_id's authority, with sex, birth_date and
    division_code), the death register (death_date's) and the enterprises
    (enterprise_status's, with division_code and registered_capital).
    Levels are county, prefecture, province and nation (division_code 0); only non-empty
    groups appear. Residents count when born on or before and not dead by the reference date.
    """
    p, snapshot = prepare(session, RollupParams, params, as_of, inputs, kwargs)
    registry, deaths, enterprises_table = rollup_inputs(snapshot, p).values()
    reference = p.reference_date
    deaths_choice = choose("deaths", snapshot.rows(deaths) * KEY_ROW_BYTES)
    # One row per person (the registry may hold an ID twice), kept by the elements reported:
    # each living resident's group is found first, so only a key, a date and the group of
    # the few repeated keys travel to be made unique.
    reported = ("sex", "birth_date", "division_code")
    read = list(dict.fromkeys(["resident_id", *deciding_elements(snapshot.entry(registry),
                                                                 reported)]))
    keys_choice = choose("registry keys", snapshot.rows(registry) * KEY_ROW_BYTES)
    repeated = registry_repeated_keys(session, snapshot, registry, keys_choice, "rollup")
    residents = with_resident_key(snapshot.elements(
        registry, read, filters=[("birth_date", "<=", reference)]))[[KEY, *reported]]
    dead = keys_of(snapshot.elements(deaths, ["resident_id"],
                                     filters=[("death_date", "<=", reference)]), deaths_choice)
    living = join_unique(residents, dead, deaths_choice, flag="dead").map_partitions(
        living_groups, reference)
    counties = (
        unique_rows(living, repeated).map_partitions(count_groups)
        .groupby(["division_code", "sex", "age_band"])["population"].sum(split_out=1)
        .reset_index()
    )
    population = roll_up(counties, ["sex", "age_band"]).map_partitions(with_band_labels)
    enterprises = snapshot.elements(
        enterprises_table, ["division_code", "enterprise_status", "registered_capital"]
    ).rename(columns={"enterprise_status": "status"})
    by_county = (
        enterprises.assign(enterprises=1)
        .groupby(["division_code", "status"])[["enterprises", "registered_capital"]]
        .sum(split_out=1)
        .reset_index()
    )
    return Job(
        "rollup", p,
        outputs={"population": population, "enterprises": roll_up(by_county, ["status"])},
        snapshot=snapshot,
        plan=[deaths_choice],
    )


def living_groups(residents: pd.DataFrame, reference: dt.date) -> pd.DataFrame:
    """The living residents of one partition: key, birth date and group, the division, sex
    and age band packed into one integer (which groups much faster than three columns).

    The age band (an index into AGE_BANDS) is the number of band starts the age has reached:
    age >= N exactly when the birth date is on or before the reference date N years earlier.
    For one birth date, ordering by group orders by division code, then sex: the registry's
    order (``REGISTRY_ORDER``) on the elements rollup reports.
    """
    alive = residents[~residents["dead"]]
    birth = alive["birth_date"]
    band = sum(
        (birth <= pd.Timestamp(years_before(reference, start))).astype("int64")
        for start in AGE_BAND_STARTS
    )
    group = alive["division_code"].astype("int64") * 100 + alive["sex"].astype("int64") * 10 + band
    return alive[[KEY, "birth_date"]].assign(group=group)


def count_groups(living: pd.DataFrame) -> pd.DataFrame:
    """Residents counted by division, sex and age band (unpacked from ``group``)."""
    counts = living["group"].value_counts()
    codes = counts.index.to_series(index=counts.index)
    return counts.to_frame("population").assign(
        division_code=(codes // 100).astype("int32"),
        sex=(codes // 10 % 10).astype("int8"),
        age_band=(codes % 10).astype("int8"),
    ).reset_index(drop=True)[["division_code", "sex", "age_band", "population"]]


def with_band_labels(population: pd.DataFrame) -> pd.DataFrame:
    return population.assign(age_band=population["age_band"].map(dict(enumerate(AGE_BANDS))))


def roll_up(by_county: dd.DataFrame, keys: list[str]) -> dd.DataFrame:
    """Sum county-level groups up to prefecture, province and nation, one row per group.

    ``by_county`` is one small partition (a row per county and key), so the whole roll-up
    is one task.
    """
    return by_county.map_partitions(roll_up_levels, keys)


def roll_up_levels(by_county: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    levels = [
        by_county.assign(division_code=code_of(by_county["division_code"]))
        .groupby(["division_code", *keys], as_index=False).sum()
        .assign(level=level)
        for level, code_of in LEVELS.items()
    ]
    rolled = concat(levels)
    columns = ["level", "division_code", *keys]
    ordered = rolled[[*columns, *(c for c in rolled.columns if c not in columns)]]
    return ordered.sort_values(columns)
