"""The reference implementation (benchmarks.reference, DuckDB SQL) against the jobs issue.

Its identifier macros against plain Python on hand-made cases, and its four jobs on a tiny
hand-made dataset against outputs worked out by hand below.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric

from benchmarks import reference
from benchmarks.engines.duckdb_sql import DuckDBEngine
from compute.jobs import EligibilityParams, IntegrityParams, RollupParams, VerifyParams
from compute.tables import TABLES, Catalog
from compute.tables.contract import register_contract_tables

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
PROVINCES = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36",
             "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62",
             "63", "64", "65", "71", "81", "82", "83"}
# Unicode White_Space, every one of them.
WHITE_SPACE = ("\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
               + "\u2028\u2029\u202f\u205f\u3000")
FULL_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘx", "0123456789XXX")


def with_check(body: str) -> str:
    """The 17 digits ``body`` and their GB 11643 check character."""
    total = sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def make_id(county: int, birth: dt.date, order: int) -> str:
    return with_check(f"{county}{birth:%Y%m%d}{order:03d}")


def wrong_check(value: str) -> str:
    return value[:17] + ("1" if value[17] == "0" else "0")


def full_width(value: str) -> str:
    return value.translate(str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ"))


def py_normalise(raw: str | None) -> str | None:
    """The issue's normalisation, plainly: strip White_Space, ASCII digits and X, widen."""
    if raw is None:
        return None
    value = raw.strip(WHITE_SPACE).translate(FULL_WIDTH)
    if len(value) == 15 and value.isascii() and value.isdigit():
        widened = value[:6] + "19" + value[6:]
        value = widened + ric.calc_check_digit(widened + "?")  # stdnum ignores the last char
    return value


def py_valid(value: str | None) -> bool:
    """A normalised ID is valid: 17 ASCII digits and a digit or X, province, date, check."""
    if value is None or len(value) != 18 or not value.isascii():
        return False
    if not value[:17].isdigit() or value[17] not in "0123456789X":
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return (value[:2] in PROVINCES and born >= dt.date(1900, 1, 1)
            and ric.calc_check_digit(value) == value[17])


# --- identifiers -------------------------------------------------------------------------

PLAIN = make_id(110105, dt.date(1949, 12, 31), 2)
WITH_X = next(i for n in range(1000) if (i := make_id(110101, dt.date(1975, 3, 4), n))[-1] == "X")
LEGACY = "110105491231002"  # the 15-digit form of PLAIN

CASES = [
    PLAIN, WITH_X, WITH_X.lower(), WITH_X[:17] + "Ｘ", WITH_X[:17] + "ｘ", full_width(PLAIN),
    full_width(WITH_X.lower()),
    *(ws + PLAIN + ws for ws in WHITE_SPACE), *(ws + WITH_X.lower() for ws in WHITE_SPACE),
    " \t\u3000" + PLAIN + "\u2028\xa0 ",
    LEGACY, " " + LEGACY + "\u3000", full_width(LEGACY), "310104900601003", "310104900230003",
    "990104900601003", "11010549123100", "1101054912310021",
    PLAIN[:6] + " " + PLAIN[6:], PLAIN[:17] + " " + PLAIN[17:], LEGACY[:7] + " " + LEGACY[7:],
    "\u200b" + PLAIN, "\x1c" + PLAIN, PLAIN + "\x1f", "x" + PLAIN[1:],
    with_check("11010519990230011"), with_check("11010518991231001"),
    with_check("11010519001301001"), with_check("11010519000100001"),
    with_check("11010519000101001"), with_check("99010519800101001"), wrong_check(PLAIN),
    PLAIN[:17] + "Z", PLAIN[:16] + "X" + PLAIN[17], "١١٠١٠٥١٩٤٩١٢٣١٠٠٢",
    None, "", "   ", "\u3000", "ABCDEFGHIJKLMNOPQR", "9" * 18,
]


@pytest.fixture(scope="module")
def con():
    connection = reference.connect()
    yield connection
    connection.close()


def test_normalise_and_valid_equal_plain_python(con):
    rows = con.execute(
        "SELECT normalise_id(id), valid_id(id), valid_normalised_id(normalise_id(id)) "
        "FROM unnest($ids) WITH ORDINALITY t(id, n) ORDER BY n", {"ids": CASES}
    ).fetchall()
    expected = [(py_normalise(c), py_valid(py_normalise(c)), py_valid(py_normalise(c)))
                for c in CASES]
    for case, got, want in zip(CASES, rows, expected, strict=True):
        assert got == want, repr(case)
    assert reference.normalise(con, CASES) == [row[:2] for row in expected]


def test_the_cases_cover_what_the_issue_names():
    assert all(py_valid(py_normalise(ws + PLAIN + ws)) for ws in WHITE_SPACE)
    assert py_normalise(WITH_X.lower()) == py_normalise(full_width(WITH_X)) == WITH_X
    assert py_normalise(LEGACY) == PLAIN and py_normalise(" " + LEGACY + "\u3000") == PLAIN
    assert not py_valid(py_normalise(PLAIN[:6] + " " + PLAIN[6:]))
    assert not py_valid(py_normalise("\u200b" + PLAIN))  # not White_Space: not removed
    assert py_normalise(None) is None


def test_legacy_ids_get_the_stdnum_check_character(con):
    legacy = ["110105491231002", "440306350707005", "310104900601003", "650102000101007"]
    got = reference.normalise(con, legacy)
    for old, (new, valid) in zip(legacy, got, strict=True):
        assert new[:6] + new[8:17] == old and new[6:8] == "19"
        assert new[17] == ric.calc_check_digit(new) and valid


def test_valid_id_of_a_column_of_ids(con):
    ids = pa.table({"id": pa.array(CASES, pa.string())})
    con.register("some_ids", ids)
    got = con.execute("SELECT count(*) FILTER (valid_id(id)) FROM some_ids").fetchall()[0][0]
    assert got == sum(py_valid(py_normalise(c)) for c in CASES)
    con.unregister("some_ids")


# --- the tiny hub -------------------------------------------------------------------------

REFERENCE = dt.date(2025, 12, 1)
ID_A = make_id(110101, dt.date(1940, 3, 15), 1)
ID_B = make_id(110105, dt.date(1944, 2, 29), 2)
ID_C = make_id(310104, dt.date(1990, 6, 1), 3)
ID_D_BAD = wrong_check(make_id(440305, dt.date(1950, 1, 1), 4))  # invalid in the registry
LEGACY_E = "440306350707005"
ID_E = make_id(440306, dt.date(1935, 7, 7), 5)                   # LEGACY_E widened
ID_F = make_id(650102, dt.date(1930, 1, 1), 7)                   # dies in May 2025
ORPHAN = make_id(110101, dt.date(1980, 1, 1), 999)
PADDED_A = " " + ID_A + "\u3000"
PADDED_B = "  " + ID_B + "\t"

RESIDENTS = [  # resident_id, name, sex, birth_date, division_code
    (ID_A, "王伟", 1, dt.date(1940, 3, 15), 110101),
    (PADDED_A, "王伟伟", 1, dt.date(1940, 3, 15), 110102),  # same person, loses the tie-break
    (ID_B, "李娜", 2, dt.date(1944, 2, 29), 110105),
    (ID_C, "张强", 1, dt.date(1990, 6, 1), 310104),
    (ID_D_BAD, "刘洋", 2, dt.date(1950, 1, 1), 440305),
    (ID_E, "陈杰", 1, dt.date(1935, 7, 7), 440306),
    (ID_F, "杨丽", 1, dt.date(1930, 1, 1), 650102),
    (None, "赵敏", 2, dt.date(1930, 5, 5), 110101),
]
INSURED = [  # resident_id, name, birth_date, division_code
    (ID_A, "王伟", dt.date(1940, 3, 15), 110101),           # agrees with the kept row
    (PADDED_B, "李娜", dt.date(1944, 2, 29), 110105),       # padded: agrees
    (LEGACY_E, "陈杰", dt.date(1935, 7, 7), 440306),        # legacy: agrees
    (ID_C, "张强强", dt.date(1990, 6, 2), 310104),          # name and birth
    (ID_D_BAD, "刘洋", dt.date(1950, 1, 1), 440305),        # invalid
    (ORPHAN, "周涛", dt.date(1980, 1, 1), 110101),          # orphan
    (None, "无名", None, 110101),                           # invalid (null)
]
MEDICAL = [
    (ID_F, "杨丽", dt.date(1930, 1, 1), 650101),            # division (the dead are checked)
    (full_width(ID_A), "王伟", dt.date(1940, 3, 15), 110102),  # division: kept row is 110101
    (ID_C[:6] + " " + ID_C[6:], "张强", dt.date(1990, 6, 1), 310104),  # inner space: invalid
]
DEATHS = [(ID_F, dt.date(2025, 5, 10)), (wrong_check(ID_C), dt.date(2025, 1, 1)),
          (ID_A, dt.date(2025, 12, 2)),  # A dies the day after the reference date
          (None, dt.date(2025, 2, 2))]
TAX_RETURNS = [  # resident_id, year, income
    (ID_A, 2024, 10000.0), (ID_A, 2024, 5000.0), (wrong_check(ID_A), 2024, 99999.0),
    (ID_A, 2023, 70000.0), ("\u3000" + ID_B, 2024, 40000.0), (ID_C, 2024, 50000.0),
    (None, 2024, 1.0),
]
ENTERPRISES = [  # legal_rep_id, status, division_code, registered_capital
    (" " + ID_C, "active", 310104, 1_000_000.0),
    (ID_A, "revoked", 110101, 200_000.0),
    (None, "active", 110105, 300_000.0),
]
PAYMENTS = [  # payment_id, resident_id, program, month, amount
    (1, ID_A, "elderly_allowance", dt.date(2025, 12, 1), 100.0),
    (2, ID_A, "elderly_allowance", dt.date(2025, 12, 1), 100.0),
    (3, ID_F, "elderly_allowance", dt.date(2025, 7, 1), 200.0),
    (4, ID_F, "elderly_allowance", dt.date(2025, 5, 1), 200.0),
    (5, ID_C, "dibao", dt.date(2025, 3, 1), 300.0),
    (6, "ABC", "dibao", dt.date(2025, 3, 1), 50.0),
    (7, ORPHAN, "disability", dt.date(2025, 3, 1), 60.0),
    (8, None, "disability", dt.date(2025, 3, 1), 70.0),
    (9, LEGACY_E, "elderly_allowance", dt.date(2025, 11, 1), 80.0),
    (10, ID_D_BAD, "dibao", dt.date(2025, 3, 1), 90.0),
    (11, full_width(ID_A), "elderly_allowance", dt.date(2025, 12, 1), 100.0),
    (12, PADDED_B, "disability", dt.date(2025, 12, 1), 110.0),
]


def tiny_tables() -> dict[str, pa.Table]:
    def roster(rows):
        return dict(zip(("resident_id", "name", "birth_date", "division_code"),
                        map(list, zip(*rows, strict=True)), strict=True))

    residents = dict(zip(("resident_id", "name", "sex", "birth_date", "division_code"),
                         map(list, zip(*RESIDENTS, strict=True)), strict=True))
    columns = {
        "residents": residents,
        "insured_persons": roster(INSURED),
        "medical_insured": roster(MEDICAL),
        "deaths": {"resident_id": [d[0] for d in DEATHS], "death_date": [d[1] for d in DEATHS]},
        "tax_returns": {"resident_id": [t[0] for t in TAX_RETURNS],
                        "year": [t[1] for t in TAX_RETURNS],
                        "income": [t[2] for t in TAX_RETURNS],
                        "tax": [0.0] * len(TAX_RETURNS)},
        "enterprises": {
            "uscc": [f"91{i:016d}" for i in range(len(ENTERPRISES))],
            "name": [f"企业{i}" for i in range(len(ENTERPRISES))],
            "division_code": [e[2] for e in ENTERPRISES],
            "established": [dt.date(2010, 1, 1)] * len(ENTERPRISES),
            "registered_capital": [e[3] for e in ENTERPRISES],
            "legal_rep_id": [e[0] for e in ENTERPRISES],
            "status": [e[1] for e in ENTERPRISES],
        },
        "benefit_payments": dict(zip(("payment_id", "resident_id", "program", "month", "amount"),
                                     map(list, zip(*PAYMENTS, strict=True)), strict=True)),
    }
    return {
        name: pa.table({f.name: pa.array(values[f.name], f.type) for f in TABLES[name].schema},
                       TABLES[name].schema)
        for name, values in columns.items()
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny hub as a data directory: Parquet files and their catalog."""
    root = tmp_path_factory.mktemp("reference") / "data"
    for name, table in tiny_tables().items():
        (root / name).mkdir(parents=True)
        pq.write_table(table, root / name / "part-0.parquet")
    register_contract_tables(Catalog.create(root), tuple(tiny_tables()))
    return root


@pytest.fixture(scope="module")
def hub(tiny):
    connection = reference.connect(tiny)
    yield connection
    connection.close()


def frame(columns: str, rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns.split())


def test_verify(hub, same_rows):
    out = reference.run(hub, "verify", VerifyParams())
    assert set(out) == {"conflicts", "summary", "registry_issues"}
    # 张强强 / 张强 by code point: window 0, 2 matches, no transpositions: Jaro (2/3 + 1 + 1)/3
    # = 8/9; common prefix 2: 8/9 + 2 * 0.1 * (1/9) = 0.9111...
    jw = pytest.approx(41 / 45, rel=1e-12)
    conflicts = out["conflicts"].sort_values(["source", "kind", "resident_id"]).reset_index(
        drop=True)
    assert conflicts.loc[conflicts["kind"] == "name_mismatch", "similarity"].tolist() == [jw]
    same_rows(out["conflicts"], frame("source resident_id normalised_id kind similarity", [
        ("insured_persons", ID_C, ID_C, "name_mismatch", 41 / 45),
        ("insured_persons", ID_C, ID_C, "birth_mismatch", None),
        ("insured_persons", ID_D_BAD, ID_D_BAD, "invalid_id", None),
        ("insured_persons", ORPHAN, ORPHAN, "orphan", None),
        ("insured_persons", None, None, "invalid_id", None),
        ("medical_insured", ID_F, ID_F, "division_code_mismatch", None),
        ("medical_insured", full_width(ID_A), ID_A, "division_code_mismatch", None),
        ("medical_insured", ID_C[:6] + " " + ID_C[6:], ID_C[:6] + " " + ID_C[6:], "invalid_id",
         None),
    ]))
    same_rows(out["summary"], frame(
        "source province_code records invalid_id orphan name_mismatch birth_mismatch "
        "division_code_mismatch agreement_rate", [
            ("insured_persons", 110000, 4, 1, 1, 0, 0, 0, 0.5),
            ("insured_persons", 440000, 2, 1, 0, 0, 0, 0, 0.5),
            ("insured_persons", 310000, 1, 0, 0, 1, 1, 0, 0.0),
            ("medical_insured", 650000, 1, 0, 0, 0, 0, 1, 0.0),
            ("medical_insured", 110000, 1, 0, 0, 0, 0, 1, 0.0),
            ("medical_insured", 310000, 1, 1, 0, 0, 0, 0, 0.0),
        ]))
    same_rows(out["registry_issues"], frame("resident_id normalised_id issue rows", [
        (ID_A, ID_A, "duplicate", 2),
        (PADDED_A, ID_A, "duplicate", 2),
        (ID_D_BAD, ID_D_BAD, "invalid_id", 1),
        (None, None, "invalid_id", 1),
    ]))


def test_verify_of_one_source(hub, same_rows):
    out = reference.run(hub, "verify", VerifyParams(sources=("medical_insured",)))
    assert set(out["conflicts"]["source"]) == set(out["summary"]["source"]) == {
        "medical_insured"}
    assert len(out["conflicts"]) == 3


def test_eligibility(hub, same_rows):
    # A is enrolled (December payment); B earns too much (padded tax ID); C is too young; E
    # (registered with 18 digits, paid under the legacy 15) is not enrolled in December; F died;
    # the padded duplicate of A, the invalid D and the null row take part in nothing.
    out = reference.run(hub, "eligibility", EligibilityParams(reference_date=REFERENCE))
    same_rows(out["eligible"], frame("resident_id normalised_id division_code birth_date income",
                                     [(ID_E, ID_E, 440306, dt.date(1935, 7, 7), 0.0)]))
    same_rows(out["coverage"], frame("division_code eligible enrolled coverage",
                                     [(110101, 1, 1, 1.0), (440306, 1, 0, 0.0)]))


def test_eligibility_of_another_program(hub, same_rows):
    # C's death record has an invalid ID: C stays alive. A's invalid tax ID is not A's income.
    params = EligibilityParams(program="disability", reference_date=REFERENCE, min_age=30,
                               max_income=60000.0, income_year=2024)
    out = reference.run(hub, "eligibility", params)
    same_rows(out["eligible"], frame("resident_id normalised_id division_code birth_date income", [
        (ID_A, ID_A, 110101, dt.date(1940, 3, 15), 15000.0),
        (ID_C, ID_C, 310104, dt.date(1990, 6, 1), 50000.0),
        (ID_E, ID_E, 440306, dt.date(1935, 7, 7), 0.0),
    ]))
    same_rows(out["coverage"], frame("division_code eligible enrolled coverage", [
        (110101, 1, 0, 0.0), (110105, 1, 1, 1.0), (310104, 1, 0, 0.0), (440306, 1, 0, 0.0),
    ]))


def test_integrity(hub, same_rows):
    out = reference.run(hub, "integrity", IntegrityParams())
    march, july, december = dt.date(2025, 3, 1), dt.date(2025, 7, 1), dt.date(2025, 12, 1)
    same_rows(out["flagged"], frame(
        "payment_id resident_id normalised_id program month amount reason", [
            (6, "ABC", "ABC", "dibao", march, 50.0, "invalid_id"),
            (8, None, None, "disability", march, 70.0, "invalid_id"),
            (10, ID_D_BAD, ID_D_BAD, "dibao", march, 90.0, "invalid_id"),
            (7, ORPHAN, ORPHAN, "disability", march, 60.0, "orphan"),
            (3, ID_F, ID_F, "elderly_allowance", july, 200.0, "after_death"),
            (2, ID_A, ID_A, "elderly_allowance", december, 100.0, "duplicate"),
            (11, full_width(ID_A), ID_A, "elderly_allowance", december, 100.0, "duplicate"),
            (5, ID_C, ID_C, "dibao", march, 300.0, "dibao_high_income"),
            (5, ID_C, ID_C, "dibao", march, 300.0, "dibao_enterprise_rep"),
        ]))
    same_rows(out["by_province"], frame("province_code reason payments amount", [
        (None, "invalid_id", 2, 120.0),
        (440000, "invalid_id", 1, 90.0),
        (110000, "orphan", 1, 60.0),
        (650000, "after_death", 1, 200.0),
        (110000, "duplicate", 2, 200.0),
        (310000, "dibao_high_income", 1, 300.0),
        (310000, "dibao_enterprise_rep", 1, 300.0),
    ]))


def test_integrity_income_threshold(hub):
    out = reference.run(hub, "integrity", IntegrityParams(dibao_max_income=50000.0))
    assert "dibao_high_income" not in set(out["flagged"]["reason"])  # 50000 is not above


def test_rollup(hub, same_rows):
    # Alive on the reference date: A (110101, m, 85), B (110105, f, 81), C (310104, m, 35;
    # its death record's ID is invalid), E (440306, m, 90). F died; D and the null row are out.
    out = reference.run(hub, "rollup", RollupParams(reference_date=REFERENCE))
    same_rows(out["population"], frame("level division_code sex age_band population", [
        ("county", 110101, 1, "80+", 1), ("county", 110105, 2, "80+", 1),
        ("county", 310104, 1, "35-59", 1), ("county", 440306, 1, "80+", 1),
        ("prefecture", 110100, 1, "80+", 1), ("prefecture", 110100, 2, "80+", 1),
        ("prefecture", 310100, 1, "35-59", 1), ("prefecture", 440300, 1, "80+", 1),
        ("province", 110000, 1, "80+", 1), ("province", 110000, 2, "80+", 1),
        ("province", 310000, 1, "35-59", 1), ("province", 440000, 1, "80+", 1),
        ("nation", 0, 1, "80+", 2), ("nation", 0, 2, "80+", 1), ("nation", 0, 1, "35-59", 1),
    ]))
    same_rows(out["enterprises"], frame("level division_code status enterprises "
                                        "registered_capital", [
        ("county", 310104, "active", 1, 1e6), ("county", 110101, "revoked", 1, 2e5),
        ("county", 110105, "active", 1, 3e5),
        ("prefecture", 310100, "active", 1, 1e6), ("prefecture", 110100, "revoked", 1, 2e5),
        ("prefecture", 110100, "active", 1, 3e5),
        ("province", 310000, "active", 1, 1e6), ("province", 110000, "revoked", 1, 2e5),
        ("province", 110000, "active", 1, 3e5),
        ("nation", 0, "active", 2, 1.3e6), ("nation", 0, "revoked", 1, 2e5),
    ]))


JOB_PARAMS = [("verify", VerifyParams()), ("eligibility", EligibilityParams()),
              ("integrity", IntegrityParams()), ("rollup", RollupParams())]


@pytest.mark.parametrize("job, params", JOB_PARAMS, ids=[j for j, _ in JOB_PARAMS])
def test_the_engine_and_a_connections_own_views_give_the_same(tiny, hub, same_rows, job,
                                                              params):
    expected = reference.run(hub, job, params)
    with DuckDBEngine(tiny, 1, 1) as engine:
        by_engine = engine.run(job, params)
    con = reference.connect()
    for name, table in tiny_tables().items():
        con.register(name, table)
    by_views = reference.run(con, job, params)
    con.close()
    for outputs in (by_engine, by_views):
        assert set(outputs) == set(expected)
        for name in expected:
            same_rows(outputs[name], expected[name])
