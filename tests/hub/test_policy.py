"""The policy: every rule, each attempted from the wrong side, and load errors by line."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hub.policy import (
    AccessDenied,
    Caller,
    ColumnInfo,
    PolicyError,
    TableInfo,
    aggregate_mask,
    decide,
    load_policy,
    parse_policy,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "policy.yaml"
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

RESIDENTS = TableInfo("residents", "public security", "conditional", (
    ColumnInfo("resident_id", "personal_id", "resident_id"),
    ColumnInfo("name", "personal", "person_name"),
    ColumnInfo("sex", "personal", "sex"),
    ColumnInfo("birth_date", "personal", "birth_date"),
    ColumnInfo("division_code", "public", "division_code"),
))
DEATHS = TableInfo("deaths", "civil affairs", "conditional", (
    ColumnInfo("resident_id", "personal_id", "resident_id"),
    ColumnInfo("death_date", "personal", "death_date"),
))
TAX_RETURNS = TableInfo("tax_returns", "taxation", "not_shared", (
    ColumnInfo("resident_id", "personal_id", "resident_id"),
    ColumnInfo("year", "internal", "tax_year"),
    ColumnInfo("income", "personal", "income"),
))
ENTERPRISES = TableInfo("enterprises", "market regulation", "unconditional", (
    ColumnInfo("uscc", "public", "uscc"),
    ColumnInfo("division_code", "public", "division_code"),
    ColumnInfo("legal_rep_id", "personal_id", "legal_rep_id"),
))
PROGRAMS = TableInfo("programs", "civil affairs", "conditional", (
    ColumnInfo("program", "internal", "benefit_program"),
))

POLICY = """\
version: 1
purposes:
  - name: allowance
    description: elderly allowance
  - name: integrity
grants:
  - name: allowance-residents
    departments: [civil affairs]
    tables: [residents, tax_returns]
    columns: [resident_id, name, sex, birth_date, division_code, no_such_column]
    purpose: allowance
    expires: 2027-06-30
    masks: {personal_id: pseudonym, personal: generalise}
  - name: integrity-provincial
    departments: [human resources and social security]
    tables: [residents, deaths, programs]
    columns: [resident_id, death_date, division_code, program]
    purpose: integrity
    expires: 2027-01-01T00:00:00+08:00
    scope: province
  - name: integrity-enterprises
    departments: [taxation]
    tables: [enterprises]
    columns: [uscc, legal_rep_id]
    purpose: integrity
    expires: 2027-06-30
    masks: {personal_id: pseudonym}
  - name: old-allowance
    departments: [medical insurance]
    tables: [residents]
    columns: [resident_id]
    purpose: allowance
    expires: 2025-12-31
  - name: later-allowance
    departments: [medical insurance]
    tables: [residents]
    columns: [resident_id, birth_date]
    purpose: allowance
    expires: 2027-12-31
"""
CIVIL = Caller("civil affairs", purpose="allowance")
HRSS = Caller("human resources and social security", "31", "integrity")


@pytest.fixture(scope="module")
def policy():
    return parse_policy(POLICY, "test.yaml", now=NOW)


def test_the_owner_reads_every_column_raw(policy) -> None:
    for table in (RESIDENTS, TAX_RETURNS):
        decision = decide(policy, Caller(table.owner), table, NOW)
        assert decision.allowed
        assert decision.columns == tuple(column.name for column in table.columns)
        assert set(decision.masks.values()) == {"none"}
        assert decision.scope_province is None and decision.grant is None


def test_not_shared_is_closed_to_other_departments_even_with_a_grant(policy) -> None:
    decision = decide(policy, CIVIL, TAX_RETURNS, NOW)
    assert not decision.allowed
    assert "'tax_returns' is not_shared" in decision.reason
    assert "'taxation'" in decision.reason
    with pytest.raises(AccessDenied, match="not_shared"):
        decision.require()


def test_unconditional_is_open_to_every_department_with_default_masks(policy) -> None:
    for caller in (Caller("civil affairs"), Caller("nobody in particular", "11", "other")):
        decision = decide(policy, caller, ENTERPRISES, NOW)
        assert decision.allowed and decision.grant is None
        assert decision.masks == {"uscc": "none", "division_code": "none",
                                  "legal_rep_id": "partial"}


def test_a_grant_may_say_how_an_unconditional_table_is_masked(policy) -> None:
    decision = decide(policy, Caller("taxation", purpose="integrity"), ENTERPRISES, NOW)
    assert decision.grant.name == "integrity-enterprises"
    assert decision.columns == ("uscc", "legal_rep_id")
    assert decision.masks["legal_rep_id"] == "pseudonym"


def test_conditional_without_a_rule_is_denied(policy) -> None:
    decision = decide(policy, Caller("taxation", purpose="integrity"), RESIDENTS, NOW)
    assert not decision.allowed
    assert "no grant lets 'taxation' read conditional table 'residents'" in decision.reason
    assert "names none" in decision.reason
    assert decision.columns == () and decision.grant is None


def test_a_table_no_rule_names_is_denied(policy) -> None:
    stranger = TableInfo("pensions", "human resources and social security", "conditional",
                         (ColumnInfo("resident_id", "personal_id", "resident_id"),))
    assert not decide(policy, CIVIL, stranger, NOW).allowed


def test_a_grant_gives_its_columns_and_masks(policy) -> None:
    decision = decide(policy, CIVIL, RESIDENTS, NOW)
    assert decision.allowed
    assert decision.grant.name == "allowance-residents" and decision.grant.line == 7
    assert decision.purpose == "allowance"
    assert "'allowance-residents' (line 7)" in decision.reason
    assert "no_such_column" in decision.reason
    assert decision.columns == ("resident_id", "name", "sex", "birth_date", "division_code")
    assert decision.masks == {
        "resident_id": "pseudonym", "name": "surname", "sex": "null",
        "birth_date": "birth_year", "division_code": "none",
    }
    assert decision.scope_province is None


def test_columns_outside_the_grant_are_not_readable(policy) -> None:
    decision = decide(policy, HRSS, RESIDENTS, NOW)
    assert decision.columns == ("resident_id", "division_code")
    decision.require(["resident_id"])
    with pytest.raises(AccessDenied, match=r"\['name', 'birth_date'\] are not readable"):
        decision.require(["resident_id", "name", "birth_date"])


def test_a_conditional_table_needs_the_purpose_stated(policy) -> None:
    decision = decide(policy, Caller("civil affairs"), RESIDENTS, NOW)
    assert not decision.allowed
    assert "'allowance-residents' (line 7) is for purpose 'allowance'" in decision.reason
    assert "states no purpose" in decision.reason


def test_the_wrong_purpose_is_denied(policy) -> None:
    decision = decide(policy, Caller("civil affairs", purpose="integrity"), RESIDENTS, NOW)
    assert not decision.allowed
    assert "for purpose 'allowance', not 'integrity'" in decision.reason


def test_a_grant_for_another_department_is_denied(policy) -> None:
    decision = decide(policy, Caller("taxation", "31", "integrity"), DEATHS, NOW)
    assert not decision.allowed
    assert "names none" in decision.reason


def test_an_expired_grant_is_denied_and_rechecked_at_fetch_time(policy) -> None:
    # A date expiry runs through that day, China Standard Time.
    last_moment = datetime(2027, 6, 30, 23, 59, 59, tzinfo=CST)
    assert decide(policy, CIVIL, RESIDENTS, last_moment).allowed
    decision = decide(policy, CIVIL, RESIDENTS, last_moment + timedelta(seconds=1))
    assert not decision.allowed
    assert "expired at 2027-07-01T00:00:00+08:00" in decision.reason
    # A request begun before a datetime expiry and fetched after it.
    began, fetched = datetime(2026, 12, 31, 15, 59, tzinfo=UTC), datetime(2026, 12, 31, 16, 0,
                                                                           tzinfo=UTC)
    assert decide(policy, HRSS, DEATHS, began).allowed
    assert not decide(policy, HRSS, DEATHS, fetched).allowed


def test_first_match_wins_and_expired_grants_fall_through(policy) -> None:
    decision = decide(policy, Caller("medical insurance", purpose="allowance"), RESIDENTS, NOW)
    assert decision.grant.name == "later-allowance"
    assert decision.columns == ("resident_id", "birth_date")
    assert decide(policy, Caller("medical insurance", purpose="allowance"), RESIDENTS,
                  datetime(2025, 6, 1, tzinfo=UTC)).grant.name == "old-allowance"


def test_row_scope_by_division_code_else_resident_id(policy) -> None:
    decision = decide(policy, HRSS, RESIDENTS, NOW)
    assert (decision.scope_province, decision.scope_column, decision.scope_element) == (
        "31", "division_code", "division_code")
    decision = decide(policy, HRSS, DEATHS, NOW)
    assert (decision.scope_province, decision.scope_column, decision.scope_element) == (
        "31", "resident_id", "resident_id")
    assert decision.masks == {"resident_id": "partial", "death_date": "null"}


def test_a_scoped_grant_needs_a_province_and_a_column_to_scope_by(policy) -> None:
    no_province = Caller("human resources and social security", None, "integrity")
    decision = decide(policy, no_province, RESIDENTS, NOW)
    assert not decision.allowed
    assert "scopes rows by province and the caller has none" in decision.reason
    decision = decide(policy, HRSS, PROGRAMS, NOW)
    assert not decision.allowed
    assert "no division_code or resident_id column" in decision.reason


def test_an_id_column_that_is_not_a_resident_id_is_nulled(policy) -> None:
    table = TableInfo("odd", "x", "unconditional", (ColumnInfo("passport", "personal_id"),))
    assert decide(policy, CIVIL, table, NOW).masks == {"passport": "null"}


def test_now_must_be_timezone_aware(policy) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(policy, CIVIL, RESIDENTS, datetime(2026, 1, 1))


def test_decide_all_and_the_example_file() -> None:
    example = load_policy(EXAMPLE, now=NOW)
    decisions = example.decide_all(Caller("civil affairs", purpose="elderly-allowance-2026"),
                                   [RESIDENTS, TAX_RETURNS], NOW)
    assert decisions["residents"].allowed and not decisions["tax_returns"].allowed
    assert decisions["residents"].masks["birth_date"] == "birth_year"
    grant = example.grants[1]
    assert grant.masks == {"personal_id": "partial", "personal": "null"}


def test_an_expired_grant_loads_with_a_note(policy) -> None:
    assert policy.notes == (
        "test.yaml line 28: grant 'old-allowance' (line 28) expired at "
        "2026-01-01T00:00:00+08:00 and grants nothing",
    )


def grant(**changes: str) -> str:
    """A policy of one grant, each key's YAML text replaced or (None) dropped."""
    keys = {
        "departments": "[civil affairs]",
        "tables": "[residents]",
        "columns": "[resident_id]",
        "purpose": "allowance",
        "expires": "2027-06-30",
        **changes,
    }
    body = "".join(f"    {key}: {value}\n" for key, value in keys.items() if value is not None)
    return "version: 1\npurposes:\n  - name: allowance\ngrants:\n  - name: g\n" + body


@pytest.mark.parametrize(("text", "line", "message"), [
    (grant(expiry="2027-06-30"), 11, "unknown key 'expiry' in a grant"),
    (grant(departments="civil affairs"), 6, "departments must be a non-empty list"),
    (grant(departments="[yes]"), 6, "each of departments must be a non-empty string"),
    (grant(columns="[]"), 8, "columns must be a non-empty list"),
    (grant(columns="[a, a]"), 8, "columns lists 'a' twice"),
    (grant(expires="2027-02-30"), 10, "expires '2027-02-30' is not a date"),
    (grant(expires="2027-06-30T12:00:00"), 10, "needs a UTC offset"),
    (grant(expires="[2027]"), 10, "expires must be a date"),
    (grant(masks="{personal_id: hash}"), 11, "must be one of pseudonym, partial, not 'hash'"),
    (grant(masks="{personal: surname}"), 11, "must be one of null, generalise"),
    (grant(masks="{public: null}"), 11, "unknown key 'public' in masks"),
    (grant(scope="county"), 11, "scope must be one of province"),
    (grant(purpose="fishing"), 9, "purpose 'fishing' is not an approved purpose"),
    (grant(purpose=None), 5, "a grant lacks 'purpose'"),
    (grant(expires=None), 5, "a grant lacks 'expires'"),
    (grant().replace("version: 1", "version: 2"), 1, "version must be 1, not 2"),
    (grant().replace("version: 1", "version: one"), 1, "version must be an integer"),
    (grant() + "owners: []\n", 11, "unknown key 'owners' in the policy"),
    (grant() + grant()[grant().index("  - name: g"):], 11, "grant name 'g' is used twice"),
    (grant().replace("  - name: allowance\n", "  - name: allowance\n  - name: allowance\n"),
     4, "purpose 'allowance' is already defined on line 3"),
    (grant().replace("    tables: [residents]\n", "    tables: [residents]\n    tables: [x]\n"),
     8, "duplicate key 'tables' in a grant"),
    (grant().replace("grants:\n", "grants:\n  - just a string\n"), 5, "a grant must be a mapping"),
    ("version: 1\ngrants: {a: 1}\n", 2, "grants must be a list"),
    ("version: 1\ngrants:\n  - [unclosed\n", 4, "not valid YAML"),
    ("", 1, "the policy is empty"),
    ("- 1\n", 1, "the policy must be a mapping"),
])
def test_load_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml", now=NOW)
    assert any(found == line and message in text_ for found, text_ in caught.value.problems), (
        caught.value.problems
    )
    assert f"p.yaml line {line}: " in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    text = grant(expires="2027-13-01", masks="{personal_id: hash}", scope="county")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml", now=NOW)
    assert [line for line, _ in caught.value.problems] == [10, 11, 12]


def test_a_plain_yaml_null_names_the_null_mask() -> None:
    policy = parse_policy(grant(masks="{personal: null}"), now=NOW)
    assert policy.grants[0].masks["personal"] == "null"
    with pytest.raises(PolicyError, match="must be one of null, generalise"):
        parse_policy(grant(masks="{personal: ~}"), now=NOW)


def test_a_file_is_loaded_by_path(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(grant(columns="3"), encoding="utf-8")
    with pytest.raises(PolicyError, match=re.escape(f"{path} line 8: columns must be")):
        load_policy(path, now=NOW)


def test_near_miss_names_and_purposes_do_not_match(policy) -> None:
    for caller in (Caller("Civil Affairs", purpose="allowance"),
                   Caller("civil affairs ", purpose="allowance"),
                   Caller("civil affairs", purpose="Allowance")):
        assert not decide(policy, caller, RESIDENTS, NOW).allowed


@pytest.mark.parametrize(("yaml_text", "message"), [
    # Nothing is ever constructed from the file: a Python tag is just a wrong type.
    ("[!!python/object/apply:os.system [echo pwned]]", "must be a non-empty string"),
    ("[!!binary Y2l2aWwgYWZmYWlycw==]", "must be a non-empty string"),
    ("['']", "must be a non-empty string"),
    ("[[civil affairs]]", "must be a non-empty string"),
])
def test_hostile_values_are_refused_not_run(yaml_text: str, message: str, capfd) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(grant(departments=yaml_text), now=NOW)
    assert "pwned" not in capfd.readouterr().out


def test_merge_keys_and_aliases_cannot_smuggle_keys() -> None:
    text = grant().replace("  - name: g\n", "  - name: g\n    <<: {scope: province}\n")
    with pytest.raises(PolicyError, match="unknown key '<<' in a grant"):
        parse_policy(text, now=NOW)
    aliased = grant(departments="&d [civil affairs]", tables="*d")
    assert parse_policy(aliased, now=NOW).grants[0].tables == ("civil affairs",)


# --- aggregate grants: a built-in job that publishes counts, nothing else ---------------------

AGGREGATE = """\
version: 1
purposes:
  - name: census
  - name: allowance
grants:
  - name: census-rollup
    departments: [statistics bureau]
    tables: [residents, deaths, enterprises, tax_returns]
    columns: [resident_id, name, sex, birth_date, division_code, death_date, uscc,
              legal_rep_id]
    purpose: census
    expires: 2027-06-30
    scope: province
    jobs: [rollup]
    min_cell: 10
  - name: census-masked
    departments: [statistics bureau]
    tables: [residents]
    columns: [resident_id, division_code]
    purpose: census
    expires: 2027-06-30
    masks: {personal_id: partial}
"""
STATS = Caller("statistics bureau", "44", "census")


@pytest.fixture(scope="module")
def aggregate():
    return parse_policy(AGGREGATE, "aggregate.yaml", now=NOW)


def test_an_aggregate_grant_loads_its_jobs_and_min_cell(aggregate) -> None:
    grant = aggregate.grants[0]
    assert grant.aggregate and grant.jobs == ("rollup",) and grant.min_cell == 10
    assert not aggregate.grants[1].aggregate and aggregate.grants[1].min_cell is None


def test_an_aggregate_grant_opens_personal_columns_to_its_job_only(aggregate) -> None:
    decision = decide(aggregate, STATS, RESIDENTS, NOW, job="rollup")
    assert decision.allowed and decision.aggregate
    assert decision.grant.name == "census-rollup"
    assert (decision.job, decision.min_cell) == ("rollup", 10)
    # Inside the job: personal columns raw, resident IDs as pseudonyms (they still join).
    assert decision.masks == {"resident_id": "pseudonym", "name": "none", "sex": "none",
                              "birth_date": "none", "division_code": "none"}
    assert decision.scope_province == "44"
    assert "aggregate job 'rollup' only, cells under 10 suppressed" in decision.reason
    # A legal representative's ID is a resident ID: a pseudonym too; an identifier of another
    # kind is never opened, even inside the job.
    assert decide(aggregate, STATS, ENTERPRISES, NOW, job="rollup").masks == {
        "uscc": "none", "division_code": "none", "legal_rep_id": "pseudonym"}
    assert aggregate_mask(ColumnInfo("passport", "personal_id")) == "null"
    assert aggregate_mask(ColumnInfo("income", "personal", "income")) == "none"


@pytest.mark.parametrize("job", [None, "verify", "eligibility", "integrity", "Rollup"])
def test_an_aggregate_grant_never_matches_sql_or_another_job(aggregate, job) -> None:
    # SQL (job None) and every job but rollup fall through to the next grant: masked.
    decision = decide(aggregate, STATS, RESIDENTS, NOW, job=job)
    assert decision.allowed and not decision.aggregate
    assert decision.grant.name == "census-masked"
    assert decision.columns == ("resident_id", "division_code")
    assert decision.masks == {"resident_id": "partial", "division_code": "none"}
    # Where nothing else applies, denied, and the reason says why the aggregate grant missed.
    decision = decide(aggregate, STATS, DEATHS, NOW, job=job)
    assert not decision.allowed and decision.columns == ()
    expected = "SQL or a direct read" if job is None else f"job {job!r}"
    assert f"only to the aggregate jobs ['rollup'], not to {expected}" in decision.reason


def test_an_aggregate_grant_keeps_every_other_rule(aggregate) -> None:
    # not_shared stays closed; purpose, expiry and the province all still apply.
    assert not decide(aggregate, STATS, TAX_RETURNS, NOW, job="rollup").allowed
    for caller, now in ((Caller("statistics bureau", "44"), NOW),
                        (Caller("statistics bureau", "44", "allowance"), NOW),
                        (Caller("statistics bureau", None, "census"), NOW),
                        (STATS, datetime(2027, 7, 1, tzinfo=CST))):
        assert not decide(aggregate, caller, DEATHS, now, job="rollup").allowed
    # A department the grant does not name gets nothing from it.
    assert not decide(aggregate, Caller("medical insurance", "44", "census"), DEATHS, NOW,
                      job="rollup").allowed
    # The owner reads its own table as before, whatever the job.
    owner = decide(aggregate, Caller("civil affairs"), DEATHS, NOW, job="rollup")
    assert owner.allowed and not owner.aggregate and owner.grant is None


@pytest.mark.parametrize(("changes", "line", "message"), [
    ({"jobs": "[verify]"}, 11, "jobs may list only built-in jobs whose outputs are counts "
                               "(rollup), not 'verify'"),
    ({"jobs": "[rollup, eligibility]"}, 11, "not 'eligibility'"),
    ({"jobs": "[]"}, 11, "jobs must be a non-empty list"),
    ({"jobs": "rollup"}, 11, "jobs must be a non-empty list"),
    ({"jobs": "[rollup, rollup]"}, 11, "jobs lists 'rollup' twice"),
    ({"jobs": "[rollup]", "min_cell": None}, 5, "an aggregate grant (jobs) lacks 'min_cell'"),
    ({"jobs": None}, 11, "min_cell applies only to an aggregate grant"),
    ({"min_cell": "2"}, 12, "min_cell must be at least 3, not 2"),
    ({"min_cell": "-10"}, 12, "min_cell must be at least 3"),
    ({"min_cell": "ten"}, 12, "min_cell must be an integer"),
    ({"min_cell": "10.5"}, 12, "min_cell must be an integer"),
    ({"min_cell": "true"}, 12, "min_cell must be an integer"),
    ({"masks": "{personal: generalise}"}, 13, "an aggregate grant (jobs) takes no masks"),
])
def test_aggregate_load_errors_name_the_line(changes: dict, line: int, message: str) -> None:
    text = grant(**{"jobs": "[rollup]", "min_cell": "10", **changes})
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml", now=NOW)
    assert any(found == line and message in text_ for found, text_ in caught.value.problems), (
        caught.value.problems
    )


def test_the_example_file_has_an_aggregate_grant_for_statistics() -> None:
    example = load_policy(EXAMPLE, now=NOW)
    stats = [grant for grant in example.grants if grant.aggregate]
    assert [(g.jobs, g.min_cell >= 3) for g in stats] == [(("rollup",), True)]
    caller = Caller(stats[0].departments[0], "44", stats[0].purpose)
    assert decide(example, caller, RESIDENTS, NOW, job="rollup").aggregate
    assert not decide(example, caller, RESIDENTS, NOW).allowed  # SQL: denied
