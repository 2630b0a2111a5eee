"""Masks and row scopes over pandas partitions, as the workers apply a policy decision."""

from __future__ import annotations

from datetime import UTC, datetime

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from hub.masks import apply_decision, mask_column, scope_rows
from hub.policy import AccessDenied, Caller, ColumnInfo, Decision, TableInfo, parse_policy
from kernels import pack_resident_id, validate_resident_id
from kernels.pseudonym import purpose_key, unpseudonymise_keys

SECRET = b"hub secret: 32 random bytes here"
KEY = purpose_key(SECRET, "allowance")
NOW = datetime(2026, 11, 25, tzinfo=UTC)

IDS = [
    "11010519491231002X",
    "11010519491231002x",  # lower-case x is valid
    "310101200002290015",
    None,
    "11010519491231002",  # short
    "110105194912310021",  # wrong check character
    "1101051949123100AX",  # a letter
    "ab0105194912310021",
]
VALID = [True, True, True, False, False, False, False, False]


def ids(values: list[str | None] = IDS) -> pd.Series:
    return pd.Series(values, dtype="str", index=[f"r{i}" for i in range(len(values))],
                     name="resident_id")


def test_partial_keeps_division_and_last_four_and_hides_invalid_ids() -> None:
    masked = mask_column(ids(), "partial")
    assert masked.index.equals(ids().index) and masked.name == "resident_id"
    # The normalised ID's characters: lower-case x reads as X.
    assert masked.tolist()[:3] == ["110105********002X", "110105********002X",
                                   "310101********0015"]
    assert pd.isna(masked.iloc[3])
    assert masked.tolist()[4:] == ["*" * 18] * 4


def test_pseudonyms_are_valid_ids_that_join_and_invert() -> None:
    masked = mask_column(ids(), "pseudonym", KEY)
    assert masked.index.equals(ids().index)
    assert masked.notna().tolist() == VALID
    assert (validate_resident_id(masked[VALID]) == 0).all()
    assert not masked[VALID].isin(IDS).any()
    # Upper- and lower-case X are one ID, so one pseudonym; another table gets the same.
    assert masked.iloc[0] == masked.iloc[1]
    other_table = mask_column(ids(["310101200002290015"]), "pseudonym", KEY)
    assert other_table.iloc[0] == masked.iloc[2]
    # Another purpose's key gives other pseudonyms; the steward's inverse recovers the ID.
    assert mask_column(ids(), "pseudonym", purpose_key(SECRET, "x"))[VALID].ne(
        masked[VALID]).all()
    recovered = unpseudonymise_keys(pack_resident_id(masked[VALID]), KEY)
    assert recovered.tolist() == pack_resident_id(ids()[VALID]).tolist()


def test_a_pseudonym_needs_a_key() -> None:
    with pytest.raises(ValueError, match="pseudonym key"):
        mask_column(ids(), "pseudonym")


def test_null_birth_year_and_surname() -> None:
    sex = pd.Series([1, 2], dtype=np.int8)
    assert mask_column(sex, "null").isna().all()
    names = pd.Series(["张伟", "欧阳娜娜", None], dtype="str")
    assert mask_column(names, "null").isna().all()
    surnames = mask_column(names, "surname")
    assert surnames.tolist()[:2] == ["张", "欧"] and pd.isna(surnames.iloc[2])
    dates = pd.Series(pd.to_datetime(["1949-12-31", None, "2000-02-29", "1900-01-01"]),
                      dtype="datetime64[s]")
    years = mask_column(dates, "birth_year")
    assert years.dtype == dates.dtype
    assert years.tolist()[0] == pd.Timestamp("1949-01-01")
    assert pd.isna(years.iloc[1])
    assert years.tolist()[2:] == [pd.Timestamp("2000-01-01"), pd.Timestamp("1900-01-01")]
    assert mask_column(names, "none") is names
    with pytest.raises(ValueError, match="unknown mask"):
        mask_column(names, "hash")


def scoped(province: str | None, column: str, element: str) -> Decision:
    return Decision("t", True, "test", scope_province=province, scope_column=column,
                    scope_element=element)


def test_scope_by_division_code() -> None:
    frame = pd.DataFrame({"division_code": pd.array([110105, 310101, None, 119999], "Int32")})
    kept = scope_rows(frame, scoped("11", "division_code", "division_code"))
    assert kept["division_code"].tolist() == [110105, 119999]
    numpy_codes = pd.DataFrame({"division_code": np.array([110105, 310101], np.int32)})
    assert len(scope_rows(numpy_codes, scoped("31", "division_code", "division_code"))) == 1


def test_scope_by_resident_id_uses_its_first_two_digits_only() -> None:
    frame = pd.DataFrame({"resident_id": ids()})
    kept = scope_rows(frame, scoped("11", "resident_id", "resident_id"))
    # Invalid IDs starting with "11" are in scope; null and non-digit starts are not.
    assert kept.index.tolist() == ["r0", "r1", "r4", "r5", "r6"]
    assert scope_rows(frame, scoped(None, "resident_id", "resident_id")) is frame
    with pytest.raises(ValueError, match="two-digit"):
        scope_rows(frame, scoped("1", "resident_id", "resident_id"))
    with pytest.raises(ValueError, match="two-digit"):
        scope_rows(frame, scoped("１１", "resident_id", "resident_id"))


POLICY = parse_policy("""\
version: 1
purposes: [{name: allowance}]
grants:
  - departments: [civil affairs]
    tables: [residents]
    columns: [resident_id, name, birth_date, division_code]
    purpose: allowance
    expires: 2027-06-30
    scope: province
    masks: {personal_id: pseudonym, personal: generalise}
""", now=NOW)
RESIDENTS = TableInfo("residents", "public security", "conditional", (
    ColumnInfo("resident_id", "personal_id", "resident_id"),
    ColumnInfo("name", "personal", "person_name"),
    ColumnInfo("sex", "personal", "sex"),
    ColumnInfo("birth_date", "personal", "birth_date"),
    ColumnInfo("division_code", "public", "division_code"),
))


def residents() -> pd.DataFrame:
    return pd.DataFrame({
        "resident_id": pd.Series(["11010519491231002X", "310101200002290015",
                                  "110105194912310021"], dtype="str"),
        "name": pd.Series(["张伟", "王芳", "李娜"], dtype="str"),
        "sex": np.array([1, 2, 2], dtype=np.int8),
        "birth_date": pd.Series(pd.to_datetime(["1949-12-31", "2000-02-29", "1949-12-31"]),
                                dtype="datetime64[s]"),
        "division_code": np.array([110105, 310101, 110105], dtype=np.int32),
    })


def test_apply_decision_scopes_projects_and_masks() -> None:
    decision = POLICY.decide(Caller("civil affairs", "11", "allowance"), RESIDENTS, NOW)
    out = apply_decision(residents(), decision, KEY)
    assert list(out.columns) == ["resident_id", "name", "birth_date", "division_code"]
    assert out.index.tolist() == [0, 2]
    assert out["name"].tolist() == ["张", "李"]
    assert out["birth_date"].tolist() == [pd.Timestamp("1949-01-01")] * 2
    assert out["division_code"].tolist() == [110105, 110105]
    assert validate_resident_id(out["resident_id"]).tolist() == [0, 1]
    assert out["resident_id"].iloc[0] != "11010519491231002X"


def test_the_owner_gets_the_frame_unchanged_and_a_denial_raises() -> None:
    frame = residents()
    owner = POLICY.decide(Caller("public security"), RESIDENTS, NOW)
    pd.testing.assert_frame_equal(apply_decision(frame, owner), frame)
    denied = POLICY.decide(Caller("civil affairs", "11"), RESIDENTS, NOW)
    with pytest.raises(AccessDenied, match="states no purpose"):
        apply_decision(frame, denied)


def test_apply_decision_maps_over_dask_partitions() -> None:
    decision = POLICY.decide(Caller("civil affairs", "11", "allowance"), RESIDENTS, NOW)
    frame = dd.from_pandas(residents(), npartitions=2)
    lazy = frame.map_partitions(apply_decision, decision, KEY)
    pd.testing.assert_frame_equal(lazy.compute(), apply_decision(frame.compute(), decision, KEY))
