"""The administrative divisions, how the population spreads over them, and the chunk plan.

Divisions do not depend on the scale: 31 real provinces; under each, synthetic prefectures
(one "市辖区" for the four municipalities) and 4-14 synthetic counties per prefecture (16 per
municipality). Residents are spread over counties by province population and a random
county weight; chunks are runs of whole counties, so an ID (which starts with the birth
county) made in one chunk can never be made in another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from compute.generate._arrays import codepoints, strings_from_codepoints
from compute.generate.reference import COUNTY_SUFFIXES, MUNICIPALITIES, PLACE_CHARS, PROVINCES

MUNICIPALITY_COUNTIES = 16


@dataclass(frozen=True)
class Layout:
    """The divisions table and, per county (sorted by code), its weight and wage level."""

    divisions: pa.Table
    county_codes: np.ndarray
    county_weights: np.ndarray
    county_wage: np.ndarray


def build_layout(rng: np.random.Generator) -> Layout:
    """Provinces, prefectures and counties with codes, names and population weights."""
    province_codes = np.array([p[0] for p in PROVINCES], dtype=np.int32)
    population = np.array([p[2] for p in PROVINCES])
    wage = np.array([p[3] for p in PROVINCES])
    municipal = np.isin(province_codes, list(MUNICIPALITIES))
    prefectures_per = np.where(municipal, 1, np.clip(np.round(population / 6.5), 2, 21)).astype(int)

    pref_province = np.repeat(np.arange(len(PROVINCES)), prefectures_per)
    pref_codes = (province_codes[pref_province] * 10000 + _ordinal(prefectures_per) * 100)
    pref_municipal = municipal[pref_province]
    counties_per = np.where(
        pref_municipal, MUNICIPALITY_COUNTIES, rng.integers(4, 15, len(pref_codes))
    )
    county_pref = np.repeat(np.arange(len(pref_codes)), counties_per)
    county_codes = (pref_codes[county_pref] + _ordinal(counties_per)).astype(np.int32)
    county_province = pref_province[county_pref]

    # Population: the province's share, split by a random weight; the first prefecture (the
    # capital) draws more people.
    weight = rng.lognormal(0.0, 0.7, len(county_codes))
    weight *= np.where(pref_codes[county_pref] % 10000 == 100, 1.6, 1.0)
    weight *= population[county_province] / np.bincount(county_province, weight)[county_province]

    place = codepoints(PLACE_CHARS)
    pref_names = np.zeros((len(pref_codes), 3), dtype=np.int32)
    pref_names[:, :2] = place[rng.integers(0, len(place), (len(pref_codes), 2))]
    pref_names[:, 2] = codepoints("市")[0]
    pref_names[pref_municipal] = codepoints("市辖区")
    suffixes = codepoints("".join(s for s, _ in COUNTY_SUFFIXES))
    suffix_p = np.array([p for _, p in COUNTY_SUFFIXES])
    county_names = np.zeros((len(county_codes), 3), dtype=np.int32)
    county_names[:, :2] = place[rng.integers(0, len(place), (len(county_codes), 2))]
    county_names[:, 2] = np.where(
        pref_municipal[county_pref],
        codepoints("区")[0],
        suffixes[rng.choice(len(suffixes), len(county_codes), p=suffix_p)],
    )

    divisions = pa.table({
        "division_code": pa.array(
            np.concatenate([province_codes * 10000, pref_codes, county_codes]), pa.int32()
        ),
        "name": pa.concat_arrays([
            pa.array([p[1] for p in PROVINCES], pa.string()),
            strings_from_codepoints(pref_names),
            strings_from_codepoints(county_names),
        ]),
        "level": pa.array(np.repeat(np.array([1, 2, 3], dtype=np.int8),
                                    [len(province_codes), len(pref_codes), len(county_codes)])),
        # Provinces have no parent: 0 stands for the nation.
        "parent_code": pa.array(np.concatenate([
            np.zeros(len(province_codes), dtype=np.int32),
            province_codes[pref_province] * 10000,
            pref_codes[county_pref],
        ]).astype(np.int32)),
    })
    divisions = divisions.take(np.argsort(divisions["division_code"].to_numpy(), kind="stable"))
    return Layout(divisions, county_codes, weight, wage[county_province])


def _ordinal(group_sizes: np.ndarray) -> np.ndarray:
    """1, 2, ... within each consecutive group of the given sizes."""
    starts = np.repeat(np.cumsum(group_sizes) - group_sizes, group_sizes)
    return np.arange(int(group_sizes.sum())) - starts + 1


def plan_chunks(county_counts: np.ndarray, chunk_size: int) -> np.ndarray:
    """The chunk number of each county: runs of whole counties of about ``chunk_size``.

    Each county goes to the chunk its first resident falls in, so chunks differ in size by
    at most one county's residents.
    """
    total = int(county_counts.sum())
    before = np.cumsum(county_counts) - county_counts
    raw = np.minimum(before, max(total - 1, 0)) // chunk_size
    return np.unique(raw, return_inverse=True)[1]
