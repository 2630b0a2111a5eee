"""Every output of every job equals DuckDB SQL written here, over the same Parquet files."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from compute.jobs import eligibility, integrity, rollup, verify

REFERENCE = dt.date(2025, 12, 1)


def age_sql(birth: str, day: dt.date) -> str:
    """Completed years at ``day``, spelled out in SQL."""
    return (
        f"({day.year} - year({birth}) - CASE WHEN month({birth}) > {day.month} OR "
        f"(month({birth}) = {day.month} AND day({birth}) > {day.day}) THEN 1 ELSE 0 END)"
    )


VERIFY_SQL = """
WITH records AS (
    SELECT 'insured_persons' AS source, * FROM insured_persons
    UNION ALL SELECT 'medical_insured', * FROM medical_insured
), checked AS (
    SELECT s.source, s.resident_id, s.division_code // 10000 * 10000 AS province_code,
           NOT valid_id(s.resident_id) AS invalid_id,
           valid_id(s.resident_id) AND r.resident_id IS NULL AS orphan,
           r.resident_id IS NOT NULL AND s.name IS DISTINCT FROM r.name AS name_mismatch,
           r.resident_id IS NOT NULL AND s.birth_date IS DISTINCT FROM r.birth_date
               AS birth_mismatch,
           jw(s.name, r.name) AS similarity
    FROM records s
    LEFT JOIN residents r ON valid_id(s.resident_id) AND upper(s.resident_id) = r.resident_id
)
"""


def test_verify_equals_duckdb(session, duck, same_rows):
    result = session.run(verify(session), show_progress=False)
    conflicts = duck.sql(VERIFY_SQL + """
        SELECT source, resident_id, kind,
               CASE WHEN kind = 'name_mismatch' THEN similarity END AS similarity
        FROM checked UNPIVOT (hit FOR kind IN (invalid_id, orphan, name_mismatch, birth_mismatch))
        WHERE hit
    """).df()
    summary = duck.sql(VERIFY_SQL + """
        SELECT source, province_code, count(*) AS records,
               sum(invalid_id::INT) AS invalid_id, sum(orphan::INT) AS orphan,
               sum(name_mismatch::INT) AS name_mismatch, sum(birth_mismatch::INT) AS birth_mismatch,
               avg((NOT (invalid_id OR orphan OR name_mismatch OR birth_mismatch))::INT)
                   AS agreement_rate
        FROM checked GROUP BY ALL
    """).df()
    assert len(conflicts) > 0
    same_rows(result["conflicts"], conflicts)
    same_rows(result["summary"], summary)


def test_verify_finds_exactly_the_planted_roster_defects(session, dataset):
    result = session.run(verify(session), show_progress=False)
    truth = pd.read_parquet(dataset / "_truth")
    planted = truth[truth["table"].isin(["insured_persons", "medical_insured"])]
    expected = set(planted[["table", "key", "kind"]].itertuples(index=False, name=None))
    found = set(result["conflicts"][["source", "resident_id", "kind"]]
                .itertuples(index=False, name=None))
    assert found == expected


def test_verify_of_one_source(session):
    result = session.run(verify(session, sources=["medical_insured"]), show_progress=False)
    assert set(result["conflicts"]["source"]) == {"medical_insured"}
    assert set(result["summary"]["source"]) == {"medical_insured"}


@pytest.mark.parametrize("min_age, max_income", [(80, 30000.0), (65, 12000.0)])
def test_eligibility_equals_duckdb(session, duck, same_rows, min_age, max_income):
    result = session.run(
        eligibility(session, min_age=min_age, max_income=max_income), show_progress=False
    )
    base = f"""
    WITH income AS (
        SELECT resident_id, sum(income) AS income FROM tax_returns WHERE year = 2024 GROUP BY 1
    ), candidates AS (
        SELECT r.resident_id, r.division_code, r.birth_date, coalesce(i.income, 0) AS income,
               EXISTS (SELECT 1 FROM benefit_payments p WHERE p.resident_id = r.resident_id
                       AND p.program = 'elderly_allowance' AND p.month = DATE '2025-12-01')
                   AS enrolled
        FROM residents r LEFT JOIN income i USING (resident_id)
        WHERE NOT EXISTS (SELECT 1 FROM deaths d WHERE d.resident_id = r.resident_id
                          AND d.death_date <= DATE '{REFERENCE}')
          AND {age_sql("r.birth_date", REFERENCE)} >= {min_age}
          AND coalesce(i.income, 0) < {max_income}
    )
    """
    eligible = duck.sql(base + """
        SELECT resident_id, division_code, birth_date, income FROM candidates WHERE NOT enrolled
    """).df()
    coverage = duck.sql(base + """
        SELECT division_code, count(*) AS eligible, sum(enrolled::INT) AS enrolled,
               avg(enrolled::INT) AS coverage
        FROM candidates GROUP BY 1
    """).df()
    assert len(coverage) > 0
    same_rows(result["eligible"], eligible)
    same_rows(result["coverage"], coverage)


INTEGRITY_SQL = """
WITH payments AS (
    SELECT *, valid_id(resident_id) AS ok FROM benefit_payments
), marked AS (
    SELECT p.payment_id, p.resident_id, p.program, p.month, p.amount,
           NOT p.ok AS invalid_id,
           p.ok AND NOT EXISTS (SELECT 1 FROM residents r
                                WHERE r.resident_id = upper(p.resident_id)) AS orphan
    FROM payments p
), registered AS (
    SELECT m.*,
        (SELECT min(death_date) FROM deaths d WHERE d.resident_id = m.resident_id) AS death_date,
        (SELECT sum(income) FROM tax_returns t WHERE t.resident_id = m.resident_id
            AND t.year = year(m.month) - 1) AS income,
        EXISTS (SELECT 1 FROM enterprises e WHERE e.legal_rep_id = m.resident_id
                AND e.status = 'active') AS rep,
        payment_id > (SELECT min(payment_id) FROM benefit_payments q
                      WHERE q.resident_id = m.resident_id AND q.program = m.program
                      AND q.month = m.month) AS dup
    FROM marked m WHERE NOT invalid_id AND NOT orphan
), reasons AS (
    SELECT payment_id, resident_id, program, month, amount, 'invalid_id' AS reason
        FROM marked WHERE invalid_id
    UNION ALL SELECT payment_id, resident_id, program, month, amount, 'orphan'
        FROM marked WHERE orphan
    UNION ALL SELECT payment_id, resident_id, program, month, amount, 'after_death'
        FROM registered WHERE month > date_trunc('month', death_date)
    UNION ALL SELECT payment_id, resident_id, program, month, amount, 'duplicate'
        FROM registered WHERE dup
    UNION ALL SELECT payment_id, resident_id, program, month, amount, 'dibao_high_income'
        FROM registered WHERE program = 'dibao' AND income > {max_income}
    UNION ALL SELECT payment_id, resident_id, program, month, amount, 'dibao_enterprise_rep'
        FROM registered WHERE program = 'dibao' AND rep
)
"""


def test_integrity_equals_duckdb(session, duck, same_rows):
    result = session.run(integrity(session), show_progress=False)
    sql = INTEGRITY_SQL.format(max_income=36000)
    flagged = duck.sql(sql + "SELECT * FROM reasons").df()
    by_province = duck.sql(sql + """
        SELECT CASE WHEN regexp_full_match(substr(resident_id, 1, 2), '[0-9]{2}')
                    THEN substr(resident_id, 1, 2)::INT * 10000 END AS province_code,
               reason, count(*) AS payments, sum(amount) AS amount
        FROM reasons GROUP BY ALL
    """).df()
    assert set(flagged["reason"]) >= {"after_death", "duplicate"}
    same_rows(result["flagged"], flagged)
    same_rows(result["by_province"], by_province)


def test_integrity_finds_every_planted_duplicate_and_after_death(session, dataset):
    result = session.run(integrity(session), show_progress=False)
    truth = pd.read_parquet(dataset / "_truth")
    flagged = result["flagged"]
    for kind in ("duplicate", "after_death"):
        planted = set(truth.loc[(truth["table"] == "benefit_payments") & (truth["kind"] == kind),
                                "key"].astype("int64"))
        assert planted, kind
        assert planted <= set(flagged.loc[flagged["reason"] == kind, "payment_id"]), kind


ROLLUP_SQL = f"""
WITH alive AS (
    SELECT division_code, sex,
        CASE WHEN age < 18 THEN '0-17' WHEN age < 35 THEN '18-34' WHEN age < 60 THEN '35-59'
             WHEN age < 80 THEN '60-79' ELSE '80+' END AS age_band
    FROM (SELECT *, {age_sql("birth_date", REFERENCE)} AS age FROM residents
          WHERE birth_date <= DATE '{REFERENCE}') r
    WHERE NOT EXISTS (SELECT 1 FROM deaths d WHERE d.resident_id = r.resident_id
                      AND d.death_date <= DATE '{REFERENCE}')
), coded AS (
    SELECT division_code // 10000 * 10000 AS province, division_code // 100 * 100 AS prefecture,
           division_code AS county, * EXCLUDE (division_code) FROM alive
)
SELECT CASE WHEN grouping(county) = 0 THEN 'county'
            WHEN grouping(prefecture) = 0 THEN 'prefecture'
            WHEN grouping(province) = 0 THEN 'province' ELSE 'nation' END AS level,
       coalesce(county, prefecture, province, 0) AS division_code, sex, age_band,
       count(*) AS population
FROM coded
GROUP BY GROUPING SETS ((province, prefecture, county, sex, age_band),
    (province, prefecture, sex, age_band), (province, sex, age_band), (sex, age_band))
"""

ENTERPRISES_SQL = """
WITH coded AS (
    SELECT division_code // 10000 * 10000 AS province, division_code // 100 * 100 AS prefecture,
           division_code AS county, status, registered_capital FROM enterprises
)
SELECT CASE WHEN grouping(county) = 0 THEN 'county'
            WHEN grouping(prefecture) = 0 THEN 'prefecture'
            WHEN grouping(province) = 0 THEN 'province' ELSE 'nation' END AS level,
       coalesce(county, prefecture, province, 0) AS division_code, status,
       count(*) AS enterprises, sum(registered_capital) AS registered_capital
FROM coded
GROUP BY GROUPING SETS ((province, prefecture, county, status),
    (province, prefecture, status), (province, status), (status))
"""


def test_rollup_equals_duckdb(session, duck, same_rows):
    result = session.run(rollup(session), show_progress=False)
    same_rows(result["population"], duck.sql(ROLLUP_SQL).df())
    same_rows(result["enterprises"], duck.sql(ENTERPRISES_SQL).df())
    nation = result["population"].query("level == 'nation'")["population"].sum()
    assert nation == result["population"].query("level == 'county'")["population"].sum()
