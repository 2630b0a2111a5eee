"""DuckDB: the four jobs as SQL over the Parquet files.

``IN (subquery)`` lists exclude nulls: one null in the list turns every miss into NULL.

DuckDB's own ``jaro_winkler_similarity`` works on UTF-8 bytes, so it scores Chinese names
differently from a per-character Jaro-Winkler (王秀英/王秀兰: 0.867 against 0.822); the
similarity comes from an Arrow UDF over rapidfuzz instead.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa

from benchmarks.engines._common import (
    CHECK_CHARS,
    ID_PATTERN,
    ID_WEIGHTS,
    INTEGRITY_REASONS,
    LEVEL_DIVISORS,
    PROVINCE_PREFIXES,
    VERIFY_KINDS,
    jaro_winkler,
    table_files,
)
from benchmarks.engines.base import Engine, Outputs

_CHECK_SUM = " + ".join(
    f"TRY_CAST(substr(id, {i + 1}, 1) AS INTEGER) * {w}" for i, w in enumerate(ID_WEIGHTS)
)
_PROVINCES = ", ".join(f"'{p}'" for p in PROVINCE_PREFIXES)
VALID_ID_MACRO = f"""
CREATE OR REPLACE MACRO valid_id(id) AS coalesce(
    regexp_full_match(id, '{ID_PATTERN}')
    AND substr(id, 1, 2) IN ({_PROVINCES})
    AND try_strptime(substr(id, 7, 8), '%Y%m%d') >= DATE '1900-01-01'
    AND upper(substr(id, 18, 1)) = substr('{CHECK_CHARS}', ({_CHECK_SUM}) % 11 + 1, 1),
    false)
"""


def _jaro_winkler_udf(left: pa.Array, right: pa.Array) -> pa.Array:
    return pa.array(jaro_winkler(left.to_pylist(), right.to_pylist()), pa.float64())


class DuckDBEngine(Engine):
    name = "duckdb"

    def __init__(self, data, workers: int, threads: int) -> None:
        super().__init__(data, workers, threads)
        self.con = duckdb.connect(config={"threads": threads})
        for table in ("residents", "insured_persons", "medical_insured", "deaths",
                      "tax_returns", "enterprises", "benefit_payments"):
            files = ", ".join(f"'{f}'" for f in table_files(self.data, table))
            self.con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet([{files}])")
        self.con.execute(VALID_ID_MACRO)
        self.con.create_function(
            "jaro_winkler", _jaro_winkler_udf, ["VARCHAR", "VARCHAR"], "DOUBLE", type="arrow"
        )

    def sql(self, query: str, **params: object) -> pd.DataFrame:
        return self.con.execute(query, params).df()

    def close(self) -> None:
        self.con.close()

    def verify(self, params) -> Outputs:
        sources = " UNION ALL ".join(
            f"SELECT '{s}' AS source, resident_id, name, birth_date, division_code FROM {s}"
            for s in params.sources
        )
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE checked AS
            WITH joined AS (
                SELECT s.*, valid_id(s.resident_id) AS valid, r.resident_id IS NOT NULL AS found,
                       r.name AS registry_name, r.birth_date AS registry_birth_date
                FROM ({sources}) s LEFT JOIN residents r ON s.resident_id = r.resident_id
            )
            SELECT source, resident_id, name, registry_name,
                   division_code // 10000 * 10000 AS province_code,
                   NOT valid AS invalid_id,
                   valid AND NOT found AS orphan,
                   valid AND found AND name IS DISTINCT FROM registry_name AS name_mismatch,
                   valid AND found AND birth_date IS DISTINCT FROM registry_birth_date
                       AS birth_mismatch
            FROM joined
        """)
        conflicts = " UNION ALL ".join(
            f"SELECT source, resident_id, '{kind}' AS kind, "
            + ("jaro_winkler(name, registry_name)" if kind == "name_mismatch" else "NULL::DOUBLE")
            + f" AS similarity FROM checked WHERE {kind}"
            for kind in VERIFY_KINDS
        )
        counts = ", ".join(f"count(*) FILTER ({kind}) AS {kind}" for kind in VERIFY_KINDS)
        agreeing = " OR ".join(VERIFY_KINDS)
        summary = f"""
            SELECT source, province_code, count(*) AS records, {counts},
                   count(*) FILTER (NOT ({agreeing})) / count(*) AS agreement_rate
            FROM checked GROUP BY source, province_code
        """
        return {"conflicts": self.sql(conflicts), "summary": self.sql(summary)}

    def eligibility(self, params) -> Outputs:
        self.con.execute("""
            CREATE OR REPLACE TEMP TABLE eligible AS
            WITH income AS (
                SELECT resident_id, sum(income) AS income FROM tax_returns
                WHERE year = $income_year GROUP BY resident_id
            ),
            alive AS (
                SELECT r.resident_id, r.division_code, r.birth_date,
                       coalesce(i.income, 0) AS income
                FROM residents r LEFT JOIN income i USING (resident_id)
                WHERE r.resident_id NOT IN (
                    SELECT resident_id FROM deaths
                    WHERE death_date <= $reference AND resident_id IS NOT NULL)
                  AND date_diff('year', r.birth_date, $reference)
                      - (strftime(r.birth_date, '%m%d') > strftime($reference, '%m%d'))::INT
                      >= $min_age
            )
            SELECT *, resident_id IN (
                SELECT resident_id FROM benefit_payments
                WHERE program = $program AND month = date_trunc('month', $reference)
                  AND resident_id IS NOT NULL
            ) AS enrolled
            FROM alive WHERE income < $max_income
        """, {"income_year": params.income_year, "reference": params.reference_date,
              "min_age": params.min_age, "program": params.program,
              "max_income": params.max_income})
        return {
            "eligible": self.sql("""SELECT resident_id, division_code, birth_date, income
                                    FROM eligible WHERE NOT enrolled"""),
            "coverage": self.sql("""
                SELECT division_code, count(*) AS eligible,
                       count(*) FILTER (enrolled) AS enrolled,
                       count(*) FILTER (enrolled) / count(*) AS coverage
                FROM eligible GROUP BY division_code"""),
        }

    def integrity(self, params) -> Outputs:
        reasons = {
            "invalid_id": "NOT valid",
            "orphan": "valid AND NOT registered",
            "after_death": "registered AND month > death_month",
            "duplicate": "registered AND payment_id <> first_payment",
            "dibao_high_income": "registered AND program = 'dibao' AND income > $max_income",
            "dibao_enterprise_rep": "registered AND program = 'dibao' AND enterprise_rep",
        }
        flagged = " UNION ALL ".join(
            f"SELECT payment_id, resident_id, program, month, amount, '{reason}' AS reason "
            f"FROM checked WHERE coalesce({reasons[reason]}, false)"
            for reason in INTEGRITY_REASONS
        )
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE flagged AS
            WITH death_months AS (
                SELECT resident_id, date_trunc('month', min(death_date)) AS death_month
                FROM deaths GROUP BY resident_id
            ),
            income AS (
                SELECT resident_id, year, sum(income) AS income
                FROM tax_returns GROUP BY resident_id, year
            ),
            reps AS (
                SELECT DISTINCT legal_rep_id FROM enterprises
                WHERE status = 'active' AND legal_rep_id IS NOT NULL
            ),
            checked AS (
                SELECT p.*, valid_id(p.resident_id) AS valid,
                       valid_id(p.resident_id)
                           AND p.resident_id IN (
                               SELECT resident_id FROM residents WHERE resident_id IS NOT NULL)
                           AS registered,
                       d.death_month, i.income,
                       min(p.payment_id) OVER (PARTITION BY p.resident_id, p.program, p.month)
                           AS first_payment,
                       p.resident_id IN (SELECT legal_rep_id FROM reps) AS enterprise_rep
                FROM benefit_payments p
                LEFT JOIN death_months d USING (resident_id)
                LEFT JOIN income i
                    ON i.resident_id = p.resident_id AND i.year = year(p.month) - 1
            )
            {flagged}
        """, {"max_income": params.dibao_max_income})
        by_province = self.sql("""
            SELECT CASE WHEN regexp_full_match(substr(resident_id, 1, 2), '[0-9]{2}')
                        THEN substr(resident_id, 1, 2)::INTEGER * 10000 END AS province_code,
                   reason, count(*) AS payments, sum(amount) AS amount
            FROM flagged GROUP BY ALL
        """)
        return {"flagged": self.sql("SELECT * FROM flagged"), "by_province": by_province}

    def rollup(self, params) -> Outputs:
        def levels(source: str, keys: str, values: str) -> str:
            return " UNION ALL ".join(
                f"SELECT '{level}' AS level, "
                + ("0" if divisor is None else f"division_code // {divisor} * {divisor}")
                + f" AS division_code, {keys}, {values} FROM {source} GROUP BY ALL"
                for level, divisor in LEVEL_DIVISORS.items()
            )

        self.con.execute("""
            CREATE OR REPLACE TEMP TABLE alive AS
            SELECT division_code, sex,
                   CASE WHEN age < 18 THEN '0-17' WHEN age < 35 THEN '18-34'
                        WHEN age < 60 THEN '35-59' WHEN age < 80 THEN '60-79'
                        ELSE '80+' END AS age_band
            FROM (
                SELECT *, date_diff('year', birth_date, $reference)
                          - (strftime(birth_date, '%m%d') > strftime($reference, '%m%d'))::INT
                          AS age
                FROM residents
                WHERE birth_date <= $reference AND resident_id NOT IN (
                    SELECT resident_id FROM deaths
                    WHERE death_date <= $reference AND resident_id IS NOT NULL)
            )
        """, {"reference": params.reference_date})
        return {
            "population": self.sql(levels("alive", "sex, age_band", "count(*) AS population")),
            "enterprises": self.sql(levels(
                "enterprises", "status",
                "count(*) AS enterprises, sum(registered_capital) AS registered_capital",
            )),
        }
