"""Joins on identifier elements through packed keys, and the hub's kernels as SQL functions,
checked against python-stdnum, rapidfuzz and DuckDB."""

from __future__ import annotations

import dask
import pandas as pd
import pytest
from rapidfuzz.distance import JaroWinkler, Levenshtein
from stdnum.cn import ric, uscc

import compute.sql
from tests.sql.conftest import ParquetSource, assert_same, duckdb_over, write_table


def resident_id(division: str, birth: str, order: str) -> str:
    body = division + birth + order
    return body + ric.calc_check_digit(body + "0")


VALID = [resident_id("110105", "19491231", "002"), resident_id("440305", "19800101", "123"),
         resident_id("650102", "20011109", "457"), resident_id("320106", "19620317", "99X"[:3]
                                                               .replace("X", "8"))]
# Invalid: wrong check character, not a province, 30 February, too short; NULL.
INVALID = [VALID[0][:-1] + ("1" if VALID[0][-1] != "1" else "2"), "990105194912310021",
           "110105194902300021", "1101051949", None]
USCC = ["91350100M000100Y43", "91110000600037341L", "91350100M000100Y44", "ABC"]


def is_valid(value: str | None) -> bool:
    """GB 11643-1999 by hand: digits, a province, a real date, stdnum's check character."""
    if value is None or len(value) != 18 or not value[:17].isdigit():
        return False
    if not (11 <= int(value[:2]) <= 82):
        return False
    try:
        pd.Timestamp(f"{value[6:10]}-{value[10:12]}-{value[12:14]}")
    except ValueError:
        return False
    return ric.calc_check_digit(value) == value[17].upper()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    ids = VALID + INVALID
    write_table(root, "registry", pd.DataFrame({
        "证件号码": ids, "name": [f"p{i}" for i in range(len(ids))],
        "division_code": [110105, 440305, 650102, 320106, 110105, 990105, 110105, 110101, None],
    }).astype({"division_code": "Int64"}))
    # the same people as a department holds them: a lower-case check character, repeats
    held = [VALID[0], VALID[1].lower(), VALID[1], VALID[3], *INVALID]
    write_table(root, "benefits", pd.DataFrame({
        "holder": held, "amount": [float(10 * (i + 1)) for i in range(len(held))],
        "other": [VALID[2]] * len(held)}))
    # one person's ID written two ways, as two departments' exports hold it
    write_table(root, "payments", pd.DataFrame({
        "holder": [VALID[1], f"  {VALID[1]} ", VALID[2], INVALID[0], None],
        "amount": [1.0, 2.0, 4.0, 8.0, 16.0]}))
    write_table(root, "firms", pd.DataFrame({"uscc": USCC, "legal_rep_id": VALID}))
    # the same firms as another department holds them: lower case, padded, repeated; the
    # invalid codes spelled exactly as the firms table has them
    write_table(root, "licences", pd.DataFrame({
        "holder_code": [USCC[0].lower(), f" {USCC[1]} ", USCC[1], USCC[2], USCC[3], None],
        "licence": [f"L{i}" for i in range(6)]}))
    elements = {("registry", "证件号码"): "resident_id", ("benefits", "holder"): "resident_id",
                ("payments", "holder"): "resident_id",
                ("firms", "uscc"): "uscc", ("firms", "legal_rep_id"): "legal_rep_id",
                ("licences", "holder_code"): "uscc"}
    duck = duckdb_over(root)
    duck.register("valid_ids", pd.DataFrame({"id": [v for v in ids if is_valid(v)]}))
    return ParquetSource(root, elements), duck


def run(source, query: str) -> pd.DataFrame:
    # In-process: tasks-based shuffles (p2p, which a started cluster makes the default,
    # needs workers).
    with dask.config.set({"scheduler": "sync", "dataframe.shuffle.method": "tasks"}):
        return compute.sql.sql(source, query).compute()


def run_as_oracle(hub, query: str, oracle: str, strategy: str) -> pd.DataFrame:
    """``query`` run with every join of ``strategy``, checked equal to DuckDB's ``oracle``."""
    source, duck = hub
    with dask.config.set({"govgrid.sql.join": strategy}):
        got = run(source, query)
    assert_same(got, duck.execute(oracle).df(), ordered=False)
    return got


@pytest.mark.parametrize("strategy", ["broadcast", "shuffle"])
def test_identifier_join_goes_through_packed_keys(hub, strategy):
    query = ('SELECT r.name, b.amount FROM registry r JOIN benefits b '
             'ON r."证件号码" = b.holder')
    # valid IDs match whatever the case of X; invalid ones (even equal strings) never match
    oracle = ('SELECT r.name, b.amount FROM registry r JOIN benefits b '
              'ON upper(r."证件号码") = upper(b.holder) '
              'WHERE r."证件号码" IN (SELECT id FROM valid_ids)')
    got = run_as_oracle(hub, query, oracle, strategy)
    assert len(got) == 4  # VALID[0], VALID[1] twice (one lower-case x), VALID[3]


@pytest.mark.parametrize("strategy", ["broadcast", "shuffle"])
def test_uscc_join_goes_through_its_two_packed_keys(hub, strategy):
    # A USCC packs into two int64 keys (high and low): both are the join's keys.
    query = "SELECT f.uscc, l.licence FROM firms f JOIN licences l ON f.uscc = l.holder_code"
    valid = [code for code in USCC if uscc.is_valid(code)]
    oracle = ("SELECT f.uscc, l.licence FROM firms f JOIN licences l "
              "ON f.uscc = upper(trim(l.holder_code)) WHERE f.uscc IN "
              f"({', '.join(repr(code) for code in valid)})")
    got = run_as_oracle(hub, query, oracle, strategy)
    assert sorted(got["licence"]) == ["L0", "L1", "L2"]


@pytest.mark.parametrize("strategy", ["broadcast", "shuffle"])
def test_not_in_takes_an_invalid_identifier_for_no_match_and_not_for_null(hub, strategy):
    # An invalid ID packs to a NULL key, but as written it is no NULL: in the subquery it
    # must not empty the result (NOT IN's NULL rule), and an invalid ID tested is kept.
    query = ('SELECT name FROM registry WHERE "证件号码" NOT IN '
             "(SELECT holder FROM benefits WHERE holder IS NOT NULL)")
    oracle = ('SELECT name FROM registry WHERE "证件号码" IS NOT NULL AND ('
              'upper("证件号码") NOT IN (SELECT upper(holder) FROM benefits '
              'WHERE holder IS NOT NULL) OR "证件号码" NOT IN (SELECT id FROM valid_ids))')
    got = run_as_oracle(hub, query, oracle, strategy)
    assert sorted(got["name"]) == ["p2", "p4", "p5", "p6", "p7"]
    with dask.config.set({"govgrid.sql.join": strategy}):
        assert run(hub[0], 'SELECT name FROM registry WHERE "证件号码" NOT IN '
                           "(SELECT holder FROM benefits)").empty  # it holds a NULL


@pytest.mark.parametrize("strategy", ["broadcast", "shuffle"])
def test_a_correlated_subquery_counts_each_person_once_however_the_id_is_written(hub,
                                                                                 strategy):
    # payments holds VALID[1] as written and padded: grouped by the IDs as written, its
    # registry row matched both groups and was listed twice, each time counting one
    match = 'p.holder = r."证件号码"'
    oracle_match = ('trim(p.holder) = r."证件号码" AND r."证件号码" IN '
                    "(SELECT id FROM valid_ids)")
    query = ("SELECT r.name, (SELECT COUNT(*) FROM payments p WHERE {m}) AS n, "
             "COALESCE((SELECT SUM(amount) FROM payments p WHERE {m}), 0) AS paid "
             "FROM registry r")
    got = run_as_oracle(hub, query.format(m=match), query.format(m=oracle_match), strategy)
    assert got.loc[got["name"] == "p1", "paid"].tolist() == [3.0]  # once, both payments
    # the same subquery in a WHERE clause (sqlglot's unnesting)
    where = "SELECT r.name FROM registry r WHERE (SELECT COUNT(*) FROM payments p WHERE {m}) > 0"
    got = run_as_oracle(hub, where.format(m=match), where.format(m=oracle_match), strategy)
    assert sorted(got["name"]) == ["p1", "p2"]


def test_a_uscc_kernel_runs_once_per_partition_for_both_keys(hub, monkeypatch):
    from compute.sql import execute

    source, _ = hub
    uscc = execute.IDENTIFIERS["uscc"]
    calls = []
    monkeypatch.setitem(execute.IDENTIFIERS, "uscc", uscc._replace(
        pack=lambda values: calls.append(len(values)) or uscc.pack(values)))
    query = "SELECT f.uscc, l.licence FROM firms f JOIN licences l ON f.uscc = l.holder_code"
    with dask.config.set({"scheduler": "sync", "dataframe.shuffle.method": "tasks",
                          "govgrid.sql.join": "shuffle"}):
        frame = compute.sql.sql(source, query)
        calls.clear()  # planning evaluates the meta
        frame.compute()
    parts = len(source.files("firms")) + len(source.files("licences"))
    assert len(calls) == parts  # one call per partition gives both keys


def test_legal_representative_joins_residents_by_element(hub):
    source, duck = hub
    query = ('SELECT f.uscc, r.name FROM firms f LEFT JOIN registry r '
             'ON f.legal_rep_id = r."证件号码"')
    assert_same(run(source, query), duck.execute(query).df(), ordered=False)


@pytest.mark.parametrize("strategy", ["broadcast", "shuffle"])
def test_a_legal_representative_matches_a_resident_id_written_another_way(hub, strategy):
    # two elements matched alike: the padded ID in payments was compared as written before
    query = "SELECT f.uscc, p.amount FROM firms f JOIN payments p ON f.legal_rep_id = p.holder"
    oracle = ("SELECT f.uscc, p.amount FROM firms f JOIN payments p "
              "ON f.legal_rep_id = trim(p.holder)")
    got = run_as_oracle(hub, query, oracle, strategy)
    assert sorted(got["amount"]) == [1.0, 2.0, 4.0]


def test_resident_kernels_as_sql_functions(hub):
    source, _ = hub
    got = run(source, 'SELECT "证件号码" AS id, valid_resident_id("证件号码") AS valid, '
                      'resident_birth_date("证件号码") AS birth, resident_sex("证件号码") AS sex, '
                      'province_of(division_code) AS province FROM registry')
    ids = got["id"].astype(object).where(got["id"].notna(), None)
    assert got["valid"].tolist() == [is_valid(v) for v in ids]
    for value, valid, birth, sex in zip(ids, got["valid"], got["birth"], got["sex"],
                                        strict=True):
        if valid:
            assert birth == pd.Timestamp(f"{value[6:10]}-{value[10:12]}-{value[12:14]}")
            assert sex == (1 if int(value[16]) % 2 else 2)
        else:
            assert pd.isna(birth) and pd.isna(sex)
    codes = pd.Series([110105, 440305, 650102, 320106, 110105, 990105, 110105, 110101, None])
    provinces = got["province"].astype("float64").fillna(-1).tolist()
    assert provinces == (codes // 10000 * 10000).fillna(-1).tolist()


def test_uscc_and_similarity_kernels_as_sql_functions(hub):
    source, _ = hub
    got = run(source, 'SELECT uscc, valid_uscc(uscc) AS valid, '
                      'jaro_winkler(uscc, legal_rep_id) AS jw, levenshtein(uscc, legal_rep_id) '
                      'AS lev, legal_rep_id FROM firms')
    assert got["valid"].tolist() == [uscc.is_valid(v) for v in got["uscc"]]
    for a, b, jw, lev in zip(got["uscc"], got["legal_rep_id"], got["jw"], got["lev"],
                             strict=True):
        assert jw == pytest.approx(JaroWinkler.similarity(a, b), rel=1e-12)
        assert lev == Levenshtein.distance(a, b)
