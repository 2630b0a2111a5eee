"""One chunk of synthetic data: the natives of a run of counties and everything about them.

A chunk is generated from its own seed, with whole-array numpy operations, and writes one
Parquet file per table plus its part of the ground truth. Nothing in a chunk depends on
another chunk, so chunks run in any order on any worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from compute.generate import identifiers as ids
from compute.generate._arrays import (
    codepoints,
    date_parts,
    dates,
    month_index,
    strings_from_bytes,
    strings_from_codepoints,
    with_rows,
)
from compute.generate.rates import ID_FORM_KINDS, ROSTER_KINDS, DefectRates
from compute.generate.reference import (
    AGE_BANDS,
    BRAND_CHARS,
    COMPANY_FORMS,
    GIVEN_FEMALE,
    GIVEN_MALE,
    GIVEN_NEUTRAL,
    INDUSTRIES,
    PLACE_CHARS,
    SURNAMES,
)
from compute.tables.contract import ENTERPRISE_STATUSES, PROGRAMS, TABLES

TRUTH_DIR = "_truth"
TRUTH_SCHEMA = pa.schema([("table", pa.string()), ("key", pa.string()), ("kind", pa.string())])

YEAR = 2025  # contributions and benefit payments cover its months
JAN = np.datetime64(f"{YEAR}-01-01", "D")
END = np.datetime64(f"{YEAR}-12-31", "D")
DEATHS_FROM = np.datetime64("2020-01-01", "D")
NEVER = np.datetime64("2200-01-01", "D")  # death date of the living
DAYS_PER_YEAR = 365.2425

# Proportions (see docs/data.md).
ENTERPRISES_PER_RESIDENT = 0.1
MIGRANT_SHARE = 0.1
EMPLOYMENT = 0.7  # of working age (18 to 59 men, 54 women), alive in January
LATE_EMPLOYMENT = 0.15  # of retirement age up to 64
PENSIONERS = 0.8  # of retirement age, not employed
OTHER_INSURED = 0.6  # of the other adults
MEDICAL_INSURED = 0.985  # of the living
OTHER_FILERS = (0.08, 0.15)  # share of non-employed adults under / over 60 filing a return
DIBAO = 0.03  # of residents with 2024 income at most 36,000
DIBAO_HIGH_INCOME = 0.0005  # natural integrity cases: income over 36,000 ...
DIBAO_ACTIVE_REP = 0.004  # ... or legal representative of an active enterprise
ELDERLY_ENROLMENT = 0.85  # of those 80 or over with 2024 income under 30,000
DISABILITY = 0.015


@dataclass(frozen=True)
class ChunkSpec:
    """What one chunk generates: the natives of ``county_codes``, ``county_counts`` each."""

    index: int
    seed: np.random.SeedSequence
    county_codes: np.ndarray
    county_counts: np.ndarray
    county_wage: np.ndarray
    rates: DefectRates


def generate_chunk(spec: ChunkSpec, out: Path) -> int:
    """Write the chunk's files under ``out`` (``<table>/part-NNNNN.parquet``); return residents."""
    rng = np.random.default_rng(spec.seed)
    people = _residents(rng, spec)
    writer = _Writer(out, spec.index)
    people, registry_truth, taken = _registry(rng, people, spec, writer)
    firms = _enterprises(rng, people, spec, writer)
    work = _employment(rng, people, spec, firms, writer)
    income_2024, tax_truth = _tax_returns(rng, people, spec, work, writer)
    retired = _pensions(rng, people, spec, work, writer)
    alive = people.death >= JAN
    adult = people.age >= 16
    insured = alive & (work.employed | retired | (adult & (rng.random(len(alive)) < OTHER_INSURED)))
    medical = alive & (rng.random(len(alive)) < MEDICAL_INSURED)
    truth = [registry_truth, tax_truth] + [
        _roster(rng, people, spec, np.flatnonzero(members), name, taken, writer)
        for members, name in ((insured, "insured_persons"), (medical, "medical_insured"))
    ]
    payments_truth, paid_after_death = _benefits(
        rng, people, spec, income_2024, firms.active_rep, writer
    )
    truth += [payments_truth, _deaths_table(rng, people, spec, paid_after_death, writer)]
    writer.truth(pa.concat_tables(truth))
    return len(people.sex) + registry_truth.num_rows  # the rows of residents


@dataclass(frozen=True)
class _People:
    keys: np.ndarray  # 17 leading ID digits, sorted
    id_bytes: np.ndarray
    names: np.ndarray  # code point matrix
    sex: np.ndarray
    birth: np.ndarray  # datetime64[D]
    birth_county: np.ndarray
    division: np.ndarray
    death: np.ndarray  # datetime64[D], NEVER for the living
    age: np.ndarray  # years on 1 January of YEAR


class _Writer:
    """Writes the chunk's part of each table with the contract's schema."""

    def __init__(self, out: Path, index: int) -> None:
        self.out = out
        self.file = f"part-{index:05d}.parquet"

    def table(self, name: str, columns: dict[str, pa.Array]) -> None:
        schema = TABLES[name].schema
        self._write(name, pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema))

    def truth(self, table: pa.Table) -> None:
        self._write(TRUTH_DIR, table)

    def _write(self, directory: str, table: pa.Table) -> None:
        path = self.out / directory
        path.mkdir(exist_ok=True)
        pq.write_table(table, path / self.file, compression="zstd", compression_level=1)


# --- residents --------------------------------------------------------------------------------

def _births(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Birth dates (datetime64[D]) and sexes of ``n`` people alive at the end of YEAR."""
    bands = np.array(AGE_BANDS, dtype=float)
    band = rng.choice(len(bands), n, p=bands / bands.sum())
    age = (band + rng.random(n)) * 5
    birth = END - (age * DAYS_PER_YEAR).astype(np.int64)
    # Women outlive men: the elderly are mostly women.
    p_male = np.select([age < 60, age < 80], [0.515, 0.48], 0.40)
    sex = np.where(rng.random(n) < p_male, 1, 2).astype(np.int8)
    return birth, sex


def _unique_keys(
    rng: np.random.Generator, county: np.ndarray, birth: np.ndarray, sex: np.ndarray,
    taken: np.ndarray,
) -> np.ndarray:
    """Resident ID keys, distinct and absent from the sorted ``taken``: odd order codes are men."""
    year, month, day = date_parts(birth)
    base = ids.resident_id_key(county, year, month, day, np.zeros(len(sex), dtype=np.int64))
    keys = base + _order_codes(rng, sex)
    while True:
        clash = np.ones(len(keys), dtype=bool)
        clash[np.unique(keys, return_index=True)[1]] = False
        if len(taken):
            position = np.minimum(np.searchsorted(taken, keys), len(taken) - 1)
            clash |= taken[position] == keys
        if not clash.any():
            return keys
        keys[clash] = base[clash] + _order_codes(rng, sex[clash])


def _order_codes(rng: np.random.Generator, sex: np.ndarray) -> np.ndarray:
    n = len(sex)
    return np.where(sex == 1, 2 * rng.integers(0, 500, n) + 1, 2 * rng.integers(1, 500, n))


def _residents(rng: np.random.Generator, spec: ChunkSpec) -> _People:
    birth_county = np.repeat(spec.county_codes, spec.county_counts).astype(np.int32)
    n = len(birth_county)
    birth, sex = _births(rng, n)
    keys = _unique_keys(rng, birth_county, birth, sex, np.empty(0, dtype=np.int64))
    order = np.argsort(keys, kind="stable")
    keys, birth_county, birth, sex = keys[order], birth_county[order], birth[order], sex[order]
    # Some live elsewhere in the chunk's counties, picked in proportion to their population.
    division = birth_county.copy()
    moved = np.flatnonzero(rng.random(n) < MIGRANT_SHARE)
    division[moved] = birth_county[rng.integers(0, n, len(moved))]
    age = (JAN - birth).astype(np.int64) / DAYS_PER_YEAR
    return _People(
        keys=keys, id_bytes=ids.resident_ids(keys), names=_names(rng, sex, birth), sex=sex,
        birth=birth, birth_county=birth_county, division=division,
        death=_deaths(rng, birth), age=age,
    )


def _deaths(rng: np.random.Generator, birth: np.ndarray) -> np.ndarray:
    """Death dates between 2020 and the end of YEAR (Gompertz mortality), NEVER otherwise."""
    age = (np.datetime64("2022-07-01") - birth).astype(np.int64) / DAYS_PER_YEAR
    yearly = np.minimum(5e-5 * np.exp(0.095 * np.maximum(age, 0)), 0.5)
    years = (END - DEATHS_FROM + 1).astype(np.int64) / DAYS_PER_YEAR
    dies = rng.random(len(birth)) < 1 - (1 - yearly) ** years
    start = np.maximum(birth, DEATHS_FROM)
    span = (END - start).astype(np.int64) + 1
    day = start + (rng.random(len(birth)) * span).astype(np.int64)
    return np.where(dies, day, NEVER)


def _registry(
    rng: np.random.Generator, people: _People, spec: ChunkSpec, writer: _Writer
) -> tuple[_People, pa.Table, np.ndarray]:
    """Write residents: the people, planted duplicates and invalid IDs, as many rows in all as
    natives were made.

    Some natives become the rows of people with an invalid ID (in no other table) and some
    make room for the duplicates. Returns the others (everything else is about them only),
    the truth of the registry and the sorted ID keys (17 leading digits) of every native, so
    that orphans are made elsewhere.
    """
    n = len(people.sex)
    invalid_count = min(rng.binomial(n, spec.rates.registry_invalid), n)
    twice_count = min(rng.binomial(n, spec.rates.registry_duplicate), (n - invalid_count) // 2)
    natives = people
    out = np.zeros(n, dtype=bool)
    out[rng.choice(n, invalid_count + twice_count, replace=False)] = True
    gone = np.flatnonzero(out)
    invalid = np.sort(rng.choice(gone, invalid_count, replace=False))
    people = _People(**{field: value[~out] for field, value in vars(natives).items()})

    # registry_invalid: a native's ID with a wrong check character.
    invalid_bytes = natives.id_bytes[invalid]
    invalid_bytes[:, -1] = ids.wrong_check(rng, invalid_bytes[:, -1])
    invalid_ids = strings_from_bytes(invalid_bytes)

    # registry_duplicate: a person's row again, the ID held in a form that sorts after the
    # canonical one (trailing whitespace or full-width characters), half with a birth date
    # 1-30 days later; the original row always wins the jobs' de-duplication.
    twice = np.sort(rng.choice(len(people.sex), twice_count, replace=False))
    trailing = ids.padded(rng, people.id_bytes[twice], leading=False)
    wide = np.pad(ids.fullwidth(rng, people.id_bytes[twice]),
                  ((0, 0), (0, trailing.shape[1] - ids.ID_WIDTH)))
    twice_ids = strings_from_codepoints(
        np.where((rng.random(twice_count) < 0.5)[:, None], wide, trailing)
    )
    shift = np.where(rng.random(twice_count) < 0.5, rng.integers(1, 31, twice_count), 0)
    twice_birth = people.birth[twice] + shift
    twice_birth = np.where(twice_birth > END, people.birth[twice], twice_birth)

    writer.table("residents", {
        "resident_id": pa.concat_arrays(
            [strings_from_bytes(people.id_bytes), twice_ids, invalid_ids]
        ),
        "name": strings_from_codepoints(
            np.concatenate([people.names, people.names[twice], natives.names[invalid]])
        ),
        "sex": pa.array(np.concatenate([people.sex, people.sex[twice], natives.sex[invalid]])),
        "birth_date": dates(np.concatenate([people.birth, twice_birth, natives.birth[invalid]])),
        "division_code": pa.array(np.concatenate([people.division, people.division[twice],
                                                  natives.division[invalid]])),
    })
    truth = pa.concat_tables([
        _truth("residents", twice_ids, np.full(twice_count, "registry_duplicate")),
        _truth("residents", invalid_ids, np.full(invalid_count, "registry_invalid")),
    ])
    return people, truth, natives.keys


def _deaths_table(
    rng: np.random.Generator, people: _People, spec: ChunkSpec, paid_after_death: np.ndarray,
    writer: _Writer,
) -> pa.Table:
    """Write deaths with invalid IDs planted, never of people paid after their death."""
    dead = np.flatnonzero(people.death != NEVER)
    id_bytes = people.id_bytes[dead]
    pool = np.flatnonzero(~np.isin(dead, paid_after_death))
    count = min(rng.binomial(len(dead), spec.rates.invalid_id), len(pool))
    invalid = np.sort(rng.choice(pool, count, replace=False))
    id_bytes[invalid, -1] = ids.wrong_check(rng, id_bytes[invalid, -1])
    writer.table("deaths", {
        "resident_id": strings_from_bytes(id_bytes),
        "death_date": dates(people.death[dead]),
    })
    return _truth("deaths", strings_from_bytes(id_bytes[invalid]),
                  np.full(count, "invalid_id"))


# --- names ------------------------------------------------------------------------------------

_SURNAMES = codepoints("".join(s for s, _ in SURNAMES))
_SURNAME_P = np.array([share for _, share in SURNAMES]) / sum(share for _, share in SURNAMES)
_GIVEN_MALE = codepoints(GIVEN_MALE)
_GIVEN_FEMALE = codepoints(GIVEN_FEMALE)
_GIVEN_NEUTRAL = codepoints(GIVEN_NEUTRAL)
_GIVEN_ALL = np.unique(np.concatenate([_GIVEN_MALE, _GIVEN_FEMALE, _GIVEN_NEUTRAL]))


def _names(rng: np.random.Generator, sex: np.ndarray, birth: np.ndarray) -> np.ndarray:
    """(rows, 3) code points: a surname by frequency and one or two given characters."""
    n = len(sex)
    names = np.zeros((n, 3), dtype=np.int32)
    names[:, 0] = _SURNAMES[rng.choice(len(_SURNAMES), n, p=_SURNAME_P)]
    own = np.where(
        (sex == 1)[:, None],
        _GIVEN_MALE[rng.integers(0, len(_GIVEN_MALE), (n, 2))],
        _GIVEN_FEMALE[rng.integers(0, len(_GIVEN_FEMALE), (n, 2))],
    )
    neutral = _GIVEN_NEUTRAL[rng.integers(0, len(_GIVEN_NEUTRAL), (n, 2))]
    names[:, 1:] = np.where(rng.random((n, 2)) < 0.75, own, neutral)
    # Single-character given names were commoner before 1970.
    older = birth < np.datetime64("1970-01-01")
    single = rng.random(n) < np.where(older, 0.4, 0.15)
    names[single, 2] = 0
    return names


def _other_names(
    rng: np.random.Generator, names: np.ndarray, sex: np.ndarray, birth: np.ndarray
) -> np.ndarray:
    """Names that differ from ``names``: half a one-character typo, half another name."""
    n = len(names)
    changed = names.copy()
    length = (names != 0).sum(axis=1)
    position = np.where(length == 3, rng.integers(1, 3, n), 1)
    pick = rng.integers(0, len(_GIVEN_ALL), n)
    typo = _GIVEN_ALL[pick]
    same = typo == names[np.arange(n), position]
    typo[same] = _GIVEN_ALL[(pick[same] + 1) % len(_GIVEN_ALL)]
    changed[np.arange(n), position] = typo
    other = rng.random(n) < 0.5
    fresh = _names(rng, sex, birth)
    # A fresh name that happens to equal the old one keeps the typo instead.
    use_fresh = other & np.any(fresh != names, axis=1)
    changed[use_fresh] = fresh[use_fresh]
    return changed


# --- enterprises and work ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Firms:
    uscc_bytes: np.ndarray
    active: np.ndarray  # indices of enterprises active on 1 January of YEAR
    active_rep: np.ndarray  # per resident: legal representative of an active enterprise


def _enterprises(
    rng: np.random.Generator, people: _People, spec: ChunkSpec, writer: _Writer
) -> _Firms:
    candidates = np.flatnonzero((people.age >= 22) & (people.age < 76))
    n = round(len(people.sex) * ENTERPRISES_PER_RESIDENT) if len(candidates) else 0
    rep = candidates[rng.integers(0, max(len(candidates), 1), n)]
    elsewhere = people.division[rng.integers(0, len(people.sex), n)]
    division = np.where(rng.random(n) < 0.85, people.division[rep], elsewhere)

    # USCC: authority 9 (market regulation), entity type, division, 9-character organisation code.
    digits = np.empty((n, 17), dtype=np.int64)
    digits[:, 0] = 9
    digits[:, 1] = rng.choice([1, 2, 3], n, p=[0.9, 0.05, 0.05])
    for position in range(6):
        digits[:, 2 + position] = division // 10 ** (5 - position) % 10
    organisation = _unique_organisation_codes(rng, n)
    for position in range(9):
        digits[:, 8 + position] = organisation // 31 ** (8 - position) % 31
    uscc = ids.usccs(digits)

    years_ago = np.minimum(rng.exponential(9.0, n), 40.0)
    established = np.datetime64(f"{YEAR}-12-31") - (years_ago * DAYS_PER_YEAR).astype(np.int64)
    status = rng.choice(len(ENTERPRISE_STATUSES), n, p=[0.8, 0.07, 0.13])
    status[established > JAN] = 0  # a firm founded this year is still active
    capital = np.maximum(np.round(rng.lognormal(np.log(1e6), 1.3, n), -3), 10_000.0)

    writer.table("enterprises", {
        "uscc": strings_from_bytes(uscc),
        "name": strings_from_codepoints(_firm_names(rng, n)),
        "division_code": pa.array(division.astype(np.int32)),
        "established": dates(established),
        "registered_capital": pa.array(capital),
        "legal_rep_id": strings_from_bytes(people.id_bytes[rep]),
        "status": pc.take(pa.array(ENTERPRISE_STATUSES), pa.array(status)),
    })
    active = np.flatnonzero((status == 0) & (established <= JAN))
    active_rep = np.zeros(len(people.sex), dtype=bool)
    active_rep[rep[status == 0]] = True
    return _Firms(uscc, active, active_rep)


def _unique_organisation_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct numbers below 31**9: organisation codes, unique within the chunk."""
    codes = rng.integers(0, 31**9, n)
    while True:
        clash = np.ones(n, dtype=bool)
        clash[np.unique(codes, return_index=True)[1]] = False
        if not clash.any():
            return codes
        codes[clash] = rng.integers(0, 31**9, int(clash.sum()))


def _firm_names(rng: np.random.Generator, n: int) -> np.ndarray:
    place, brand = codepoints(PLACE_CHARS), codepoints(BRAND_CHARS)
    industries = np.stack([codepoints(word) for word in INDUSTRIES])
    width = max(len(form) for form, _ in COMPANY_FORMS)
    forms = np.stack([
        np.pad(codepoints(form), (0, width - len(form))) for form, _ in COMPANY_FORMS
    ])
    form_p = np.array([p for _, p in COMPANY_FORMS])
    return np.concatenate([
        place[rng.integers(0, len(place), (n, 2))],
        brand[rng.integers(0, len(brand), (n, 2))],
        industries[rng.integers(0, len(industries), n)],
        forms[rng.choice(len(forms), n, p=form_p)],
    ], axis=1)


@dataclass(frozen=True)
class _Work:
    employed: np.ndarray  # per resident
    wage_base: np.ndarray  # per resident, 0 for the others


def _employment(
    rng: np.random.Generator, people: _People, spec: ChunkSpec, firms: _Firms, writer: _Writer
) -> _Work:
    n = len(people.sex)
    alive = people.death >= JAN
    retirement = np.where(people.sex == 1, 60, 55)
    working_age = alive & (people.age >= 18) & (people.age < retirement)
    late = alive & (people.age >= retirement) & (people.age < 65)
    draw = rng.random(n)
    employed = (working_age & (draw < EMPLOYMENT)) | (late & (draw < LATE_EMPLOYMENT))
    employed &= len(firms.active) > 0
    workers = np.flatnonzero(employed)
    # Employer sizes follow a power law: a few big employers, many small ones.
    size = 1.0 / np.arange(1, len(firms.active) + 1) ** 1.1
    pick = rng.choice(len(firms.active), len(workers), p=size / max(size.sum(), 1))
    employer = firms.active[pick]
    wage_level = spec.county_wage[np.searchsorted(spec.county_codes, people.division)]
    wage_base = np.zeros(n)
    wage_base[workers] = np.clip(
        np.round(rng.lognormal(np.log(6500 * wage_level[workers]), 0.5)), 3000, 36000
    )

    entry, month = _months(np.zeros(len(workers), dtype=np.int64),
                           _last_month(people.death[workers]))
    person = workers[entry]
    wage = wage_base[person]
    writer.table("contributions", {
        "resident_id": strings_from_bytes(people.id_bytes[person]),
        "employer_uscc": strings_from_bytes(firms.uscc_bytes[employer[entry]]),
        "month": dates(_month_dates(month)),
        "wage_base": pa.array(wage),
        "amount": pa.array(np.round(wage * 0.24, 2)),
    })
    return _Work(employed, wage_base)


def _last_month(death: np.ndarray) -> np.ndarray:
    """Index in YEAR (0-11) of the last month a person is alive in; -1 if dead before YEAR."""
    return np.clip(month_index(np.minimum(death, END), YEAR), -1, 11)


def _months(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row per month ``first[i]``..``last[i]`` (indices in YEAR): (i, month index)."""
    count = np.maximum(last - first + 1, 0)
    entry = np.repeat(np.arange(len(first)), count)
    start = np.repeat(np.cumsum(count) - count, count)
    return entry, np.arange(len(entry)) - start + np.repeat(first, count)


def _month_dates(month: np.ndarray) -> np.ndarray:
    return (np.datetime64(f"{YEAR}-01", "M") + month).astype("datetime64[D]")


def _tax_returns(
    rng: np.random.Generator, people: _People, spec: ChunkSpec, work: _Work, writer: _Writer
) -> tuple[np.ndarray, pa.Table]:
    """Write 2023 and 2024 returns, invalid IDs planted (at most one return per person).

    Return each resident's 2024 income (0 without a return) and the truth.
    """
    n = len(people.sex)
    parts, income_2024 = [], np.zeros(n)
    for year in (2023, 2024):
        alive = people.death >= np.datetime64(f"{year}-01-01")
        age = people.age - (YEAR - 1 - year)  # at the end of the year
        other = rng.random(n) < np.where(people.age >= 60, OTHER_FILERS[1], OTHER_FILERS[0])
        files = alive & (age >= 16) & (work.employed | other)
        income = np.where(
            work.employed,
            work.wage_base * 12 * rng.lognormal(0.0, 0.15, n) * (1 - 0.04 * (2024 - year)),
            rng.lognormal(np.log(20000), 0.9, n),
        ).round(2)
        who = np.flatnonzero(files)
        parts.append((who, year, income[who]))
        if year == 2024:
            income_2024[who] = income[who]
    who = np.concatenate([p[0] for p in parts])
    income = np.concatenate([p[2] for p in parts])
    id_bytes = people.id_bytes[who]
    pick = rng.choice(len(who), min(rng.binomial(len(who), spec.rates.invalid_id), len(who)),
                      replace=False)
    invalid = np.sort(pick[np.unique(who[pick], return_index=True)[1]])
    id_bytes[invalid, -1] = ids.wrong_check(rng, id_bytes[invalid, -1])
    writer.table("tax_returns", {
        "resident_id": strings_from_bytes(id_bytes),
        "year": pa.array(np.repeat([p[1] for p in parts], [len(p[0]) for p in parts])
                         .astype(np.int16)),
        "income": pa.array(income),
        "tax": pa.array(_income_tax(income)),
    })
    truth = _truth("tax_returns", strings_from_bytes(id_bytes[invalid]),
                   np.full(len(invalid), "invalid_id"))
    return income_2024, truth


_BRACKETS = np.array([36_000, 144_000, 300_000, 420_000, 660_000, 960_000])
_RATES = np.array([0.03, 0.10, 0.20, 0.25, 0.30, 0.35, 0.45])
_QUICK_DEDUCTION = np.array([0, 2520, 16920, 31920, 52920, 85920, 181920])


def _income_tax(income: np.ndarray) -> np.ndarray:
    """Individual income tax of a year: 60,000 allowance, 20% social insurance deducted."""
    taxable = np.maximum(income * 0.8 - 60_000, 0)
    bracket = np.searchsorted(_BRACKETS, taxable)
    return np.round(np.maximum(taxable * _RATES[bracket] - _QUICK_DEDUCTION[bracket], 0), 2)


def _pensions(
    rng: np.random.Generator, people: _People, spec: ChunkSpec, work: _Work, writer: _Writer
) -> np.ndarray:
    retirement = np.where(people.sex == 1, 60, 55)
    retired = (
        (people.death >= JAN) & (people.age >= retirement) & ~work.employed
        & (rng.random(len(people.sex)) < PENSIONERS)
    )
    who = np.flatnonzero(retired)
    year, month, _ = date_parts(people.birth[who])
    # From the month after the birthday of retirement, not before 1990.
    start = np.maximum(
        ((year + retirement[who] - 1970) * 12 + month).astype("datetime64[M]"),
        np.datetime64("1990-01", "M"),
    )
    wage_level = spec.county_wage[np.searchsorted(spec.county_codes, people.division[who])]
    writer.table("pensions", {
        "resident_id": strings_from_bytes(people.id_bytes[who]),
        "monthly_amount": pa.array(
            np.clip(rng.lognormal(np.log(3200 * wage_level), 0.35), 1000, 15000).round(2)
        ),
        "start_month": dates(start.astype("datetime64[D]")),
    })
    return retired


# --- rosters and payments with planted defects -------------------------------------------------

def _truth(table: str, keys: pa.Array, kinds: np.ndarray) -> pa.Table:
    return pa.table({
        "table": pa.array(np.full(len(keys), table)),
        "key": keys,
        "kind": pa.array(kinds),
    }, schema=TRUTH_SCHEMA)


def _roster(
    rng: np.random.Generator, people: _People, spec: ChunkSpec, members: np.ndarray, table: str,
    taken: np.ndarray, writer: _Writer,
) -> pa.Table:
    """A department's copy of residents ``members``, with roster defects planted.

    ``taken`` holds the sorted ID keys of residents, which orphans must avoid.
    """
    m = len(members)
    id_bytes = people.id_bytes[members]
    names = people.names[members]
    birth = people.birth[members]
    division = people.division[members]
    kinds = ROSTER_KINDS + ID_FORM_KINDS
    eligible = {
        "lowercase_id": id_bytes[:, -1] == ord("X"),
        "legacy_id": (id_bytes[:, 6] == ord("1")) & (id_bytes[:, 7] == ord("9")),
    }
    groups = _disjoint_groups(rng, m, [getattr(spec.rates, kind) for kind in kinds],
                              [eligible.get(kind) for kind in kinds])
    invalid, orphan, renamed, reborn, padded, lower, wide, legacy = groups

    id_bytes[invalid, -1] = ids.wrong_check(rng, id_bytes[invalid, -1])

    births, sexes = _births(rng, len(orphan))
    county = people.birth_county[rng.integers(0, len(people.sex), len(orphan))]
    keys = _unique_keys(rng, county, births, sexes, taken)
    id_bytes[orphan] = ids.resident_ids(keys)
    names[orphan] = _names(rng, sexes, births)
    birth[orphan] = births
    division[orphan] = county

    names[renamed] = _other_names(rng, names[renamed], people.sex[members[renamed]], birth[renamed])

    shift = rng.integers(1, 400, len(reborn)) * np.where(rng.random(len(reborn)) < 0.5, -1, 1)
    later = birth[reborn] + shift > END
    birth[reborn] = birth[reborn] + np.where(later, -np.abs(shift), shift)

    # The registry's person, the ID held in another written form.
    resident_id = with_rows(
        strings_from_bytes(id_bytes), np.concatenate([padded, wide, lower, legacy]),
        pa.concat_arrays([
            strings_from_codepoints(ids.padded(rng, id_bytes[padded])),
            strings_from_codepoints(ids.fullwidth(rng, id_bytes[wide])),
            strings_from_bytes(ids.lowercase(id_bytes[lower])),
            strings_from_bytes(ids.legacy(id_bytes[legacy])),
        ]),
    )
    writer.table(table, {
        "resident_id": resident_id,
        "name": strings_from_codepoints(names),
        "birth_date": dates(birth),
        "division_code": pa.array(division),
    })
    chosen = np.concatenate(groups)
    order = np.argsort(chosen, kind="stable")
    kind_of = np.repeat(np.array(kinds), [len(group) for group in groups])
    return _truth(table, resident_id.take(pa.array(chosen[order])), kind_of[order])


def _disjoint_groups(
    rng: np.random.Generator, m: int, rates: list[float], eligible: list[np.ndarray | None]
) -> list[np.ndarray]:
    """Disjoint sorted sets of records among ``m``, one per rate, each within its ``eligible``
    mask (None: any record); a set is smaller when too few eligible records are left."""
    counts = rng.multinomial(m, [*rates, max(1 - sum(rates), 0)])[:-1]
    free = np.ones(m, dtype=bool)
    groups: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(rates)
    # Restricted kinds first, so that the others cannot use up their few candidates.
    for k in sorted(range(len(rates)), key=lambda k: eligible[k] is None):
        pool = np.flatnonzero(free if eligible[k] is None else free & eligible[k])
        groups[k] = np.sort(rng.choice(pool, min(int(counts[k]), len(pool)), replace=False))
        free[groups[k]] = False
    return groups


def _benefits(
    rng: np.random.Generator, people: _People, spec: ChunkSpec, income_2024: np.ndarray,
    active_rep: np.ndarray, writer: _Writer,
) -> tuple[pa.Table, np.ndarray]:
    """Monthly payments of YEAR per program; duplicates, payments after death and invalid IDs
    planted. Returns the truth and the residents paid after their death."""
    n = len(people.sex)
    year, month, _ = date_parts(people.birth)
    born = np.maximum(month_index(people.birth, YEAR), 0)
    # Recipients are chosen as if nobody died; death then ends the payments.
    p_dibao = np.where(income_2024 > 36_000, DIBAO_HIGH_INCOME,
                       np.where(active_rep, DIBAO_ACTIVE_REP, DIBAO))
    dibao = np.flatnonzero(rng.random(n) < p_dibao)
    eighty = (year + 80 - YEAR) * 12 + month - 1  # month index of the 80th birthday
    elderly = np.flatnonzero(
        (eighty <= 11) & (income_2024 < 30_000) & (rng.random(n) < ELDERLY_ENROLMENT)
    )
    disabled = np.flatnonzero(rng.random(n) < DISABILITY)
    wage_level = spec.county_wage[np.searchsorted(spec.county_codes, people.division)]
    age_end = people.age + 1
    amounts = (
        np.round((500 + 400 * wage_level[dibao]) * rng.uniform(0.3, 1.0, len(dibao))),
        np.select([age_end[elderly] >= 100, age_end[elderly] >= 90], [500.0, 200.0], 100.0),
        rng.choice([120.0, 240.0], len(disabled)),
    )
    who = np.concatenate([dibao, elderly, disabled])
    program = np.repeat(np.arange(3), [len(dibao), len(elderly), len(disabled)])
    amount = np.concatenate(amounts)
    first = np.concatenate([born[dibao], np.maximum(eighty[elderly], born[elderly]),
                            born[disabled]])
    death_month = _last_month(people.death[who])

    entry, month = _months(first, death_month)
    paid = len(entry)
    duplicated = np.sort(rng.choice(paid, min(rng.binomial(paid, spec.rates.duplicate), paid),
                                    replace=False))
    # After death: a month after the death month, not before the entitlement began.
    after_from = np.maximum(first, death_month + 1)
    candidates = np.flatnonzero(after_from <= 11)
    late = np.sort(rng.choice(
        candidates, min(rng.binomial(paid, spec.rates.after_death), len(candidates)), replace=False
    ))
    late_month = after_from[late] + (rng.random(len(late)) * (12 - after_from[late])).astype(int)

    # Invalid IDs: rightful payments, none of them repeated by a planted duplicate.
    pool = np.flatnonzero(~np.isin(np.arange(paid), duplicated))
    invalid = np.sort(rng.choice(pool, min(rng.binomial(paid, spec.rates.invalid_id), len(pool)),
                                 replace=False))

    entry = np.concatenate([entry, entry[duplicated], late])
    month = np.concatenate([month, month[duplicated], late_month])
    payment_id = (spec.index + 1) * 10**9 + np.arange(1, len(entry) + 1, dtype=np.int64)
    id_bytes = people.id_bytes[who[entry]]
    id_bytes[invalid, -1] = ids.wrong_check(rng, id_bytes[invalid, -1])
    writer.table("benefit_payments", {
        "payment_id": pa.array(payment_id),
        "resident_id": strings_from_bytes(id_bytes),
        "program": pc.take(pa.array(PROGRAMS), pa.array(program[entry])),
        "month": dates(_month_dates(month)),
        "amount": pa.array(amount[entry]),
    })
    planted = np.concatenate([payment_id[invalid], payment_id[paid:]])
    kinds = np.repeat(["invalid_id", "duplicate", "after_death"],
                      [len(invalid), len(duplicated), len(late)])
    return _truth("benefit_payments", pa.array(planted.astype(str)), kinds), who[late]
