"""A hand-made contract dataset of a few hundred rows, with every defect the jobs look for.

Used until and beside ``govgrid generate``: small enough to check by eye, and it plants the
edge cases (29 February, a birthday on the reference date) on purpose.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from compute.tables import TABLES, Catalog
from compute.tables.contract import register_contract_tables

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
COUNTIES = (110101, 110105, 310104, 440305, 440306, 650102)
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰"


def with_check(body: str) -> str:
    """The 17 characters ``body`` and their GB 11643 check character."""
    total = sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def make_id(county: int, birth: dt.date, order: int) -> str:
    return with_check(f"{county}{birth:%Y%m%d}{order:03d}")


def full_width(value: str) -> str:
    return value.translate(str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ"))


def wrong_check(value: str) -> str:
    return value[:17] + ("1" if value[17] == "0" else "0")


def plant_dirty_ids(tables: dict[str, dict[str, list]], ids: list[str]) -> None:
    """Identifiers as hubs hold them (issue #11), planted in place and appended: rows whose IDs
    normalise to a resident's, and IDs no normalisation makes valid."""
    residents = {column: list(values) for column, values in tables["residents"].items()}
    insured, medical = tables["insured_persons"], tables["medical_insured"]

    def add_resident(resident_id: str | None, like: int, **changes: object) -> None:
        for column, values in residents.items():
            values.append(changes.get(column, resident_id if column == "resident_id"
                                      else values[like]))

    # The registry: a person held twice (full-width, born a day earlier and renamed: that row
    # is kept), one held twice exactly but for sex (the smaller is kept), an elderly one held
    # padded too (born a day earlier: kept), invalid IDs.
    twice = ids.index(insured["resident_id"][11])
    add_resident(full_width(ids[twice]), twice, name=residents["name"][twice] + "明",
                 birth_date=residents["birth_date"][twice] - dt.timedelta(days=1))
    exact = next(i for i in range(1, len(ids), 2) if ids[i] in medical["resident_id"][10:])
    add_resident(ids[exact], exact, sex=1)                              # sex 2 held first
    elderly = next(i for i in range(24, len(ids)) if residents["birth_date"][i].year < 1940
                   and ids[i] not in tables["deaths"]["resident_id"])
    add_resident(" " + ids[elderly] + "\u3000", elderly,                   # eligible, padded
                 birth_date=residents["birth_date"][elderly] - dt.timedelta(days=1))
    add_resident(wrong_check(ids[20]), 20)                              # invalid, not held
    add_resident("  " + ids[21][:10], 21)                               # too short, padded
    add_resident(None, 22)                                              # no ID at all
    add_resident(None, 23)
    tables["residents"] = residents

    # The rosters: padded, legacy 15-digit, lowercase and full-width forms of held IDs.
    insured["resident_id"][12] = "\u3000" + insured["resident_id"][12] + " \t"
    legacy = next(n for n in range(10, len(medical["resident_id"]) - 1)
                  if medical["resident_id"][n][6:8] == "19")
    medical["resident_id"][legacy] = (medical["resident_id"][legacy][:6]
                                      + medical["resident_id"][legacy][8:17])
    medical["resident_id"][legacy + 1] = full_width(medical["resident_id"][legacy + 1])
    medical["resident_id"][legacy + 2] = "\xa0" + medical["resident_id"][legacy + 2].lower()
    insured["resident_id"][13] = insured["resident_id"][13][:6] + " " + insured[
        "resident_id"][13][6:]                                          # inner space: invalid

    # Deaths: an invalid ID (kills nobody) and a padded one (kills its holder).
    deaths = tables["deaths"]
    dead = set(deaths["resident_id"])
    alive = [i for i in range(40, len(ids)) if ids[i] not in dead]
    deaths["resident_id"] += [wrong_check(ids[alive[0]]), "\u2003" + ids[alive[1]],
                              ids[alive[2]][:6] + ids[alive[2]][8:17]]
    deaths["death_date"] += [dt.date(2024, 6, 1)] * 3

    # Payments, tax returns and enterprises: legacy and padded forms of held IDs.
    payments = tables["benefit_payments"]["resident_id"]
    payments[5] = payments[5][:6] + payments[5][8:17] if payments[5][6:8] == "19" else (
        " " + payments[5])
    payments[6] = "\t" + payments[6].lower() + "\u3000"
    payments[7] = full_width(payments[7])
    taxes = tables["tax_returns"]["resident_id"]
    taxes[0], taxes[1] = " " + taxes[0], full_width(taxes[1])
    reps = tables["enterprises"]["legal_rep_id"]
    reps[0], reps[1] = reps[0] + "\u3000", wrong_check(reps[1])


def write_tiny_dataset(root: Path, residents: int = 240, seed: int = 7) -> Path:
    """Write the tables the jobs read, and their catalog, under ``root``."""
    rng = np.random.default_rng(seed)
    births = [dt.date(1920, 1, 1) + dt.timedelta(days=int(d)) for d in
              rng.integers(0, 365 * 105, residents)]
    births[:4] = [dt.date(1945, 12, 1), dt.date(1945, 12, 2), dt.date(1944, 2, 29),
                  dt.date(2025, 12, 2)]  # exactly 80, one day short, leap day, unborn
    counties = rng.choice(COUNTIES, residents)
    ids = [make_id(int(c), b, i) for i, (c, b) in enumerate(zip(counties, births, strict=True))]
    names = [SURNAMES[rng.integers(10)] + "".join(rng.choice(list(GIVEN), rng.integers(1, 3)))
             for _ in range(residents)]
    sex = [1 + i % 2 for i in range(residents)]
    tables = {"residents": {"resident_id": ids, "name": names, "sex": sex,
                            "birth_date": births, "division_code": counties}}

    for n, source in enumerate(("insured_persons", "medical_insured")):
        picked = rng.choice(residents, residents // 2, replace=False)
        rows = {"resident_id": [ids[i] for i in picked], "name": [names[i] for i in picked],
                "birth_date": [births[i] for i in picked],
                "division_code": [int(counties[i]) for i in picked]}
        rows["name"][0] = rows["name"][0] + "华"                       # name mismatch
        rows["name"][1] = "欧阳" + rows["name"][1]                     # name mismatch
        rows["birth_date"][1] = rows["birth_date"][1] + dt.timedelta(days=1)  # and birth
        rows["birth_date"][2] = dt.date(1999, 9, 9)                    # birth mismatch
        rows["resident_id"][3] = rows["resident_id"][3][:17] + "Z"     # bad character
        rows["resident_id"][4] = "99" + rows["resident_id"][4][2:]     # bad province
        rows["resident_id"][5] = with_check("110101" "19990230" "011")  # 30 February
        rows["resident_id"][6] = with_check("11010118991231001")       # born before 1900
        rows["resident_id"][7] = rows["resident_id"][7][:-1] + (
            "0" if rows["resident_id"][7][-1] != "0" else "1")         # wrong check
        rows["resident_id"][8] = make_id(440305, dt.date(1980, 5, 5), 900 + n)  # orphan
        rows["resident_id"][9] = rows["resident_id"][9][:10]           # too short
        for column in rows:
            rows[column].append(None if column == "resident_id" else rows[column][0])
        tables[source] = rows

    dead = rng.choice(residents, residents // 8, replace=False)
    tables["deaths"] = {
        "resident_id": [ids[i] for i in dead],
        "death_date": [dt.date(2024, 1, 1) + dt.timedelta(days=int(d))
                       for d in rng.integers(0, 800, len(dead))],
    }
    taxed = rng.choice(residents, residents * 2, replace=True)
    tables["tax_returns"] = {
        "resident_id": [ids[i] for i in taxed],
        "year": rng.integers(2023, 2026, len(taxed)).astype(np.int16),
        "income": rng.integers(0, 25000, len(taxed)).astype(float),
        "tax": np.zeros(len(taxed)),
    }
    reps = rng.choice(residents, 40)
    tables["enterprises"] = {
        "uscc": [f"91{i:016d}" for i in range(40)],
        "name": [f"企业{i}" for i in range(40)],
        "division_code": rng.choice(COUNTIES, 40),
        "established": [dt.date(2010, 1, 1)] * 40,
        "registered_capital": rng.integers(1, 1000, 40) * 1000.0,
        "legal_rep_id": [ids[i] for i in reps],
        "status": rng.choice(["active", "revoked", "cancelled"], 40).tolist(),
    }
    payees = rng.choice(residents, 500)
    months = [dt.date(2025, int(m), 1) for m in rng.integers(1, 13, 500)]
    payment_ids = [ids[i] for i in payees]
    payment_ids[:5] = ["", "ABCDEFGHIJKLMNOPQR", "9" * 18, make_id(650102, dt.date(1970, 1, 1),
                                                                      999), None]
    tables["benefit_payments"] = {
        "payment_id": rng.permutation(500).astype(np.int64) + 1000,
        "resident_id": payment_ids,
        "program": rng.choice(["dibao", "elderly_allowance", "disability"], 500).tolist(),
        "month": months,
        "amount": rng.integers(100, 2000, 500).astype(float),
    }
    # Duplicates: the same person, program and month paid again.
    for column, values in tables["benefit_payments"].items():
        extra = [values[i] for i in range(10, 30)]
        if column == "payment_id":
            extra = [5000 + i for i in range(20)]
        tables["benefit_payments"][column] = list(values) + extra

    plant_dirty_ids(tables, ids)

    for name, columns in tables.items():
        schema = TABLES[name].schema
        directory = root / name
        directory.mkdir(parents=True)
        table = pa.table({f.name: pa.array(columns[f.name], f.type) for f in schema}, schema)
        # Two files per table, so the readers handle more than one.
        half = table.num_rows // 2
        pq.write_table(table.slice(0, half), directory / "part-0.parquet")
        pq.write_table(table.slice(half), directory / "part-1.parquet")
    register_contract_tables(Catalog.create(root), tuple(tables))
    return root
