"""The reference implementation of the four jobs: DuckDB SQL, written from the jobs issue.

One implementation, shared by the job tests and the benchmarks' DuckDB engine. It runs over
the views of a DuckDB connection named after the generated tables (``residents``,
``insured_persons``, ``medical_insured``, ``deaths``, ``tax_returns``, ``enterprises``,
``benefit_payments``), so it works over any data directory (:func:`connect`) and over views a
test makes itself (:func:`install` the macros, then call a job)::

    con = connect(data_dir)                        # a view per table, and the macros
    outputs = run(con, "verify", VerifyParams())   # {output name: pandas DataFrame}

Identifiers (GB 11643-1999) are normalised before validation and matching by the macro
``normalise_id``: surrounding Unicode White_Space removed, full-width digits and Ｘ/ｘ read as
ASCII, x read as X, a 15-digit legacy ID made 18 digits ("19" before the year, the check
character appended). ``valid_normalised_id`` validates a normalised ID and ``valid_id`` a raw
one. An invalid ID matches nothing. The registry is first reduced to one row per valid
normalised ID (the smallest birth_date, name, division_code, resident_id, sex; nulls last).

Everything is SQL but Jaro-Winkler: DuckDB's ``jaro_winkler_similarity`` works on UTF-8 bytes,
so it scores Chinese names differently from a per-character Jaro-Winkler (王秀英/王秀兰: 0.867
against 0.822); ``jaro_winkler`` is an Arrow UDF over rapidfuzz, by code point, in float64
(rapidfuzz's ``cpdist`` gives float32 unless asked).

``IN (subquery)`` lists exclude nulls: one null in the list turns every miss into NULL.
"""

from __future__ import annotations

import contextlib
import os

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

from benchmarks.engines._common import (
    CHECK_CHARS,
    ID_WEIGHTS,
    INTEGRITY_REASONS,
    LEVEL_DIVISORS,
    PROVINCE_PREFIXES,
    VERIFY_KINDS,
    table_files,
    verify_sources,
)

Outputs = dict[str, pd.DataFrame]

# The tables the jobs read, by the names the generator gives them.
TABLES = ("residents", "insured_persons", "medical_insured", "deaths", "tax_returns",
          "enterprises", "benefit_payments")

# Unicode White_Space, as RE2 character-class ranges.
WHITE_SPACE = (r"\x{09}-\x{0D}\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}"
               r"\x{202F}\x{205F}\x{3000}")
FULL_WIDTH = "０１２３４５６７８９Ｘｘx"
ASCII = "0123456789XXX"

# The weighted digit sum of ``number``, the first 17 digits as a BIGINT (digit i is
# number // 10^(16 - i) % 10).
_CHECK_SUM = " + ".join(
    f"(number // {10 ** (16 - i)} % 10) * {w}" for i, w in enumerate(ID_WEIGHTS)
)
_PROVINCES = ", ".join(f"'{p}'" for p in PROVINCE_PREFIXES)

MACROS = f"""
-- The GB 11643-1999 check character of 17 digits, given as a BIGINT.
CREATE OR REPLACE MACRO id_check_char(number) AS
    substr('{CHECK_CHARS}', ({_CHECK_SUM}) % 11 + 1, 1);
-- Surrounding white space removed, full-width digits and X read as ASCII, x as X.
CREATE OR REPLACE MACRO id_cleaned(id) AS translate(
    regexp_replace(id, '^[{WHITE_SPACE}]+|[{WHITE_SPACE}]+$', '', 'g'),
    '{FULL_WIDTH}', '{ASCII}');
-- A 15-digit legacy ID as 18: "19" before the year and the check character appended.
CREATE OR REPLACE MACRO id_widened(id) AS CASE
    WHEN regexp_full_match(id, '[0-9]{{15}}')
    THEN list_transform([substr(id, 1, 6) || '19' || substr(id, 7, 9)],
                        lambda body: body || id_check_char(body::BIGINT))[1]
    ELSE id END;
-- The ID as the jobs match it; null stays null. Plain 18-character IDs skip the regexes.
-- (A one-element list_transform binds an expression to a name: macros repeat arguments.)
CREATE OR REPLACE MACRO normalise_id(id) AS CASE
    WHEN regexp_full_match(id, '[0-9]{{17}}[0-9X]') THEN id
    ELSE list_transform([id_cleaned(id)], lambda cleaned: id_widened(cleaned))[1] END;
-- A normalised ID: structure, province (GB/T 2260), a real birth date >= 1900, check char.
-- (Once the pattern holds, the date is 8 ASCII digits and the body 17: what strptime and
-- the cast to BIGINT read strictly. Where it fails, their results do not matter.)
CREATE OR REPLACE MACRO valid_normalised_id(id) AS coalesce(
    regexp_full_match(id, '[0-9]{{17}}[0-9X]')
    AND substr(id, 1, 2) IN ({_PROVINCES})
    AND try_strptime(substr(id, 7, 8), '%Y%m%d') >= DATE '1900-01-01'
    AND substr(id, 18, 1) = id_check_char(TRY_CAST(substr(id, 1, 17) AS BIGINT)),
    false);
CREATE OR REPLACE MACRO valid_id(id) AS
    list_transform([normalise_id(id)], lambda normalised: valid_normalised_id(normalised))[1];
-- Completed years at ``ref``: the year difference, less one before the birthday.
CREATE OR REPLACE MACRO age_at(birth, ref) AS
    year(ref) - year(birth)
    - CASE WHEN month(birth) > month(ref) OR (month(birth) = month(ref) AND day(birth) > day(ref))
           THEN 1 ELSE 0 END;
"""

# The registry reduced to one row per valid normalised ID.
REGISTRY_SQL = """
CREATE OR REPLACE TEMP TABLE ref_registry AS
SELECT * FROM (SELECT *, normalise_id(resident_id) AS normalised_id FROM residents)
WHERE valid_normalised_id(normalised_id)
QUALIFY row_number() OVER (
    PARTITION BY normalised_id
    ORDER BY birth_date ASC NULLS LAST, division_code ASC NULLS LAST, sex ASC NULLS LAST,
             resident_id ASC NULLS LAST, name ASC NULLS LAST) = 1
"""


def _jaro_winkler_udf(left: pa.Array, right: pa.Array) -> pa.Array:
    """Jaro-Winkler by code point; null when either name is null."""
    pairs = list(zip(left.to_pylist(), right.to_pylist(), strict=True))
    known = [i for i, (a, b) in enumerate(pairs) if a is not None and b is not None]
    scores: list[float | None] = [None] * len(pairs)
    if known:
        values = cpdist([pairs[i][0] for i in known], [pairs[i][1] for i in known],
                        scorer=JaroWinkler.normalized_similarity, dtype=np.float64, workers=-1)
        for i, value in zip(known, values, strict=True):
            scores[i] = float(value)
    return pa.array(scores, pa.float64())


def install(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Create the macros and the ``jaro_winkler`` function on ``con`` (again is harmless)."""
    con.execute(MACROS)
    with contextlib.suppress(duckdb.NotImplementedException):  # already there
        con.create_function("jaro_winkler", _jaro_winkler_udf, ["VARCHAR", "VARCHAR"], "DOUBLE",
                            type="arrow", null_handling="special")
    return con


def attach(con: duckdb.DuckDBPyConnection, data: str | os.PathLike[str],
           tables: tuple[str, ...] | None = None) -> None:
    """A view on ``con`` per table of data directory ``data`` (its latest version's files).

    ``tables`` defaults to every table of the data directory's catalog.
    """
    if tables is None:
        from compute.tables import Catalog

        tables = tuple(Catalog.load(data).tables)
    for table in tables:
        files = ", ".join(f"'{f}'" for f in table_files(data, table))
        con.execute(f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM read_parquet([{files}])')


def connect(data: str | os.PathLike[str] | None = None,
            threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory connection with the macros, and the views of ``data`` when given."""
    con = duckdb.connect(config={"threads": threads} if threads else {})
    install(con)
    if data is not None:
        attach(con, data)
    return con


def _keyed(table: str, column: str = "resident_id") -> str:
    """The rows of ``table`` with ``column`` normalised as ``normalised_id``.

    Deaths, tax returns, enterprises and payments only ever meet the reduced registry (or
    registered payments) on ``normalised_id``, and those hold valid IDs alone: a row whose
    normalised ID is invalid is never equal to one, so it is ignored without a filter.
    """
    return f"(SELECT *, normalise_id({column}) AS normalised_id FROM {table})"


def _df(con: duckdb.DuckDBPyConnection, query: str, params: dict | None = None) -> pd.DataFrame:
    return con.execute(query, params or {}).df()


def verify(con: duckdb.DuckDBPyConnection, params) -> Outputs:
    """``conflicts``, ``summary`` and ``registry_issues`` of the sources (``params.sources``,
    else insured_persons and medical_insured)."""
    con.execute(REGISTRY_SQL)
    sources = " UNION ALL ".join(
        f"SELECT '{s}' AS source, resident_id, name, birth_date, division_code FROM \"{s}\""
        for s in verify_sources(params)
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE ref_checked AS
        WITH records AS (
            SELECT *, normalise_id(resident_id) AS normalised_id FROM ({sources})
        ), joined AS (
            -- The registry holds valid IDs only: a record found there is valid.
            SELECT s.*, r.normalised_id IS NOT NULL AS found,
                   CASE WHEN r.normalised_id IS NOT NULL THEN true
                        ELSE valid_normalised_id(s.normalised_id) END AS valid,
                   r.name AS registry_name, r.birth_date AS registry_birth_date,
                   r.division_code AS registry_division_code
            FROM records s LEFT JOIN ref_registry r ON s.normalised_id = r.normalised_id
        )
        SELECT source, resident_id, normalised_id, name, registry_name,
               division_code // 10000 * 10000 AS province_code,
               NOT valid AS invalid_id,
               valid AND NOT found AS orphan,
               found AND name IS DISTINCT FROM registry_name AS name_mismatch,
               found AND birth_date IS DISTINCT FROM registry_birth_date AS birth_mismatch,
               found AND division_code IS DISTINCT FROM registry_division_code
                   AS division_code_mismatch
        FROM joined
    """)
    conflicts = " UNION ALL ".join(
        f"SELECT source, resident_id, normalised_id, '{kind}' AS kind, "
        + ("jaro_winkler(name, registry_name)" if kind == "name_mismatch" else "NULL::DOUBLE")
        + f" AS similarity FROM ref_checked WHERE {kind}"
        for kind in VERIFY_KINDS
    )
    counts = ", ".join(f"count(*) FILTER ({kind}) AS {kind}" for kind in VERIFY_KINDS)
    agreeing = " OR ".join(VERIFY_KINDS)
    summary = f"""
        SELECT source, province_code, count(*) AS records, {counts},
               count(*) FILTER (NOT ({agreeing})) / count(*) AS agreement_rate
        FROM ref_checked GROUP BY source, province_code
    """
    # A normalised ID is valid exactly when the reduced registry holds it.
    registry_issues = """
        WITH held AS (
            SELECT resident_id, normalise_id(resident_id) AS normalised_id FROM residents
        ), counted AS (
            SELECT c.normalised_id, c."rows", r.normalised_id IS NOT NULL AS valid
            FROM (SELECT normalised_id, count(*) AS "rows" FROM held GROUP BY normalised_id) c
            LEFT JOIN ref_registry r ON c.normalised_id = r.normalised_id
            WHERE c."rows" > 1 OR r.normalised_id IS NULL
        )
        SELECT DISTINCT h.resident_id, h.normalised_id,
               CASE WHEN c.valid THEN 'duplicate' ELSE 'invalid_id' END AS issue, c."rows"
        FROM held h JOIN counted c ON h.normalised_id IS NOT DISTINCT FROM c.normalised_id
    """
    return {"conflicts": _df(con, conflicts), "summary": _df(con, summary),
            "registry_issues": _df(con, registry_issues)}


def eligibility(con: duckdb.DuckDBPyConnection, params) -> Outputs:
    """``eligible`` (not enrolled) and ``coverage`` per division_code."""
    con.execute(REGISTRY_SQL)
    deaths, tax_returns = _keyed("deaths"), _keyed("tax_returns")
    benefit_payments = _keyed("benefit_payments")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE ref_eligible AS
        WITH dead AS (
            SELECT DISTINCT normalised_id FROM {deaths}
            WHERE death_date <= $reference AND normalised_id IS NOT NULL
        ), income AS (
            SELECT normalised_id, sum(income) AS income
            FROM {tax_returns} WHERE year = $income_year GROUP BY normalised_id
        ), enrolled AS (
            SELECT DISTINCT normalised_id FROM {benefit_payments}
            WHERE program = $program
              AND date_trunc('month', month) = date_trunc('month', $reference)
        )
        SELECT r.resident_id, r.normalised_id, r.division_code, r.birth_date,
               coalesce(i.income, 0)::DOUBLE AS income, e.normalised_id IS NOT NULL AS enrolled
        FROM ref_registry r
        LEFT JOIN income i USING (normalised_id)
        LEFT JOIN enrolled e USING (normalised_id)
        WHERE r.normalised_id NOT IN (SELECT normalised_id FROM dead)
          AND age_at(r.birth_date, $reference) >= $min_age
          AND coalesce(i.income, 0) < $max_income
    """, {"income_year": params.income_year, "reference": params.reference_date,
          "min_age": params.min_age, "program": params.program,
          "max_income": params.max_income})
    return {
        "eligible": _df(con, """
            SELECT resident_id, normalised_id, division_code, birth_date, income
            FROM ref_eligible WHERE NOT enrolled"""),
        "coverage": _df(con, """
            SELECT division_code, count(*) AS eligible, count(*) FILTER (enrolled) AS enrolled,
                   count(*) FILTER (enrolled) / count(*) AS coverage
            FROM ref_eligible GROUP BY division_code"""),
    }


INTEGRITY_CONDITIONS = {
    "invalid_id": "NOT valid",
    "orphan": "valid AND NOT registered",
    "after_death": "registered AND date_trunc('month', month) > death_month",
    "duplicate": "registered AND payment_id > first_payment",
    "dibao_high_income": "registered AND program = 'dibao' AND income > $max_income",
    "dibao_enterprise_rep": "registered AND program = 'dibao' AND enterprise_rep",
}


def integrity(con: duckdb.DuckDBPyConnection, params) -> Outputs:
    """``flagged`` payments, once per reason, and ``by_province`` counts and amounts."""
    con.execute(REGISTRY_SQL)
    flagged = " UNION ALL ".join(
        f"SELECT payment_id, resident_id, normalised_id, program, month, amount, "
        f"'{reason}' AS reason FROM checked "
        f"WHERE coalesce({INTEGRITY_CONDITIONS[reason]}, false)"
        for reason in INTEGRITY_REASONS
    )
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ref_flagged AS
        WITH death_months AS (
            SELECT normalised_id, date_trunc('month', min(death_date)) AS death_month
            FROM {deaths} GROUP BY normalised_id
        ), income AS (
            SELECT normalised_id, year, sum(income) AS income
            FROM {tax_returns} GROUP BY normalised_id, year
        ), reps AS (
            SELECT DISTINCT normalised_id FROM {reps}
            WHERE status = 'active' AND normalised_id IS NOT NULL
        ), payments AS (
            SELECT *, normalise_id(resident_id) AS normalised_id FROM benefit_payments
        ), registered AS (
            -- The registry holds valid IDs only: a registered payment's ID is valid.
            SELECT *, coalesce(normalised_id IN (SELECT normalised_id FROM ref_registry), false)
                AS registered
            FROM payments
        ), marked AS (
            SELECT *, CASE WHEN registered THEN true
                           ELSE valid_normalised_id(normalised_id) END AS valid
            FROM registered
        ), checked AS (
            SELECT p.*, d.death_month, i.income,
                   min(p.payment_id) OVER (PARTITION BY p.normalised_id, p.program, p.month)
                       AS first_payment,
                   p.normalised_id IN (SELECT normalised_id FROM reps) AS enterprise_rep
            FROM marked p
            LEFT JOIN death_months d
                ON p.registered AND d.normalised_id = p.normalised_id
            LEFT JOIN income i
                ON p.registered AND i.normalised_id = p.normalised_id
                AND i.year = year(p.month) - 1
        )
        {flagged}
    """.format(deaths=_keyed("deaths"), tax_returns=_keyed("tax_returns"),
               reps=_keyed("enterprises", "legal_rep_id"), flagged=flagged),
        {"max_income": params.dibao_max_income})
    by_province = _df(con, """
        SELECT CASE WHEN regexp_full_match(substr(normalised_id, 1, 2), '[0-9]{2}')
                    THEN substr(normalised_id, 1, 2)::INTEGER * 10000 END AS province_code,
               reason, count(*) AS payments, sum(amount) AS amount
        FROM ref_flagged GROUP BY ALL
    """)
    return {"flagged": _df(con, "SELECT * FROM ref_flagged"), "by_province": by_province}


def rollup(con: duckdb.DuckDBPyConnection, params) -> Outputs:
    """``population`` by level x division x sex x age band; ``enterprises`` by level x status."""
    con.execute(REGISTRY_SQL)

    def levels(source: str, keys: str, values: str) -> str:
        return " UNION ALL ".join(
            f"SELECT '{level}' AS level, "
            + ("0" if divisor is None else f"division_code // {divisor} * {divisor}")
            + f" AS division_code, {keys}, {values} FROM {source} GROUP BY ALL"
            for level, divisor in LEVEL_DIVISORS.items()
        )

    deaths = _keyed("deaths")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE ref_alive AS
        SELECT division_code, sex,
               CASE WHEN age < 18 THEN '0-17' WHEN age < 35 THEN '18-34'
                    WHEN age < 60 THEN '35-59' WHEN age < 80 THEN '60-79'
                    ELSE '80+' END AS age_band
        FROM (
            SELECT *, age_at(birth_date, $reference) AS age FROM ref_registry
            WHERE birth_date <= $reference AND normalised_id NOT IN (
                SELECT normalised_id FROM {deaths}
                WHERE death_date <= $reference AND normalised_id IS NOT NULL)
        )
    """, {"reference": params.reference_date})
    return {
        "population": _df(con, levels("ref_alive", "sex, age_band",
                                      "count(*) AS population")),
        "enterprises": _df(con, levels(
            "enterprises", "status",
            "count(*) AS enterprises, sum(registered_capital) AS registered_capital",
        )),
    }


JOBS = {"verify": verify, "eligibility": eligibility, "integrity": integrity, "rollup": rollup}


def run(con: duckdb.DuckDBPyConnection, job: str, params) -> Outputs:
    """The outputs of ``job`` (a name of :data:`JOBS`) with ``params`` over ``con``'s views."""
    return JOBS[job](con, params)


def normalise(con: duckdb.DuckDBPyConnection, ids: list[str | None]) -> list[tuple]:
    """(normalised ID, valid) of each of ``ids`` by the macros, in order (for tests)."""
    return con.execute(
        "SELECT normalise_id(id), valid_id(id) FROM unnest($ids) WITH ORDINALITY t(id, n) "
        "ORDER BY n", {"ids": ids}
    ).fetchall()


__all__ = ["JOBS", "MACROS", "TABLES", "attach", "connect", "eligibility", "install", "integrity",
           "normalise", "rollup", "run", "verify"]
