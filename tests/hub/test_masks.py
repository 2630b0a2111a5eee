"""Masks and row scopes over pandas partitions, as the workers apply a policy decision."""

from __future__ import annotations

from datetime import UTC, datetime

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from hub.masks import apply_decision, mask_column, scope_rows, suppress_small_cells
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


# --- small-cell suppression of an aggregate grant's roll-up ------------------------------------

def rolled(counties: list[tuple[int, int, str, int]]) -> pd.DataFrame:
    """Rollup's population output from county cells (division, sex, age band, people)."""
    from compute.jobs.rollup import roll_up_levels

    frame = pd.DataFrame(counties, columns=["division_code", "sex", "age_band", "population"])
    return roll_up_levels(frame.astype({"division_code": "int32", "sex": "int8"}),
                          ["sex", "age_band"]).reset_index(drop=True)


def cells(frame: pd.DataFrame) -> dict[tuple, int]:
    return {(level, int(code), int(sex), band): int(people) for level, code, sex, band, people
            in frame[["level", "division_code", "sex", "age_band", "population"]].itertuples(
                index=False)}


def test_a_small_county_is_left_out_with_every_cell_that_would_give_it_away() -> None:
    frame = rolled([(110101, 1, "0-17", 12), (110102, 1, "0-17", 1),
                    (110201, 1, "0-17", 15), (110202, 1, "0-17", 20)])
    published = suppress_small_cells(frame, "population", ["sex", "age_band"], 10)
    assert cells(published) == {
        ("nation", 0, 1, "0-17"): 48, ("province", 110000, 1, "0-17"): 48,
        ("prefecture", 110100, 1, "0-17"): 13, ("prefecture", 110200, 1, "0-17"): 35,
        ("county", 110201, 1, "0-17"): 15, ("county", 110202, 1, "0-17"): 20,
    }
    # Primary suppression alone would publish county 110101 (12) beside its prefecture (13):
    # 13 - 12 = 1 person in county 110102. Its sibling is left out with it.
    assert ("county", 110101, 1, "0-17") not in cells(published)
    assert list(published.columns) == list(frame.columns)
    assert (published.dtypes == frame.dtypes).all()


def test_a_small_total_takes_everything_under_it_and_nothing_else() -> None:
    frame = rolled([(110101, 1, "80+", 2), (110101, 2, "80+", 30), (120101, 1, "80+", 11)])
    published = cells(suppress_small_cells(frame, "population", ["sex", "age_band"], 3))
    # sex 1: nation 13, two provinces of 2 and 11: the provinces go together, and below them.
    assert published == {("nation", 0, 1, "80+"): 13, ("nation", 0, 2, "80+"): 30,
                         ("province", 110000, 2, "80+"): 30,
                         ("prefecture", 110100, 2, "80+"): 30,
                         ("county", 110101, 2, "80+"): 30}
    # Below min_cell at the top: nothing at all.
    assert suppress_small_cells(frame, "population", ["sex", "age_band"], 50).empty


@pytest.mark.parametrize("seed", range(6))
def test_no_published_cell_is_small_and_none_is_derivable(seed: int) -> None:
    rng = np.random.default_rng(seed)
    counties = [(province * 10_000 + prefecture * 100 + county, sex, band, people)
                for province in (11, 44, 51) for prefecture in range(1, 4)
                for county in range(1, 1 + int(rng.integers(1, 4)))
                for sex in (1, 2) for band in ("0-17", "80+")
                for people in [int(rng.geometric(0.08))]]
    frame = rolled(counties)
    min_cell = int(rng.choice([3, 5, 10]))
    published = suppress_small_cells(frame, "population", ["sex", "age_band"], min_cell)
    every, kept = cells(frame), cells(published)
    assert 0 < len(kept) < len(every)
    assert set(kept) <= set(every) and all(kept[c] == every[c] for c in kept)
    assert all(people >= min_cell for people in kept.values())
    parent_level = {"county": "prefecture", "prefecture": "province", "province": "nation"}
    codes = {"prefecture": lambda c: c // 100 * 100, "province": lambda c: c // 10_000 * 10_000,
             "nation": lambda c: 0}

    def parent(cell):
        level, code, sex, band = cell
        up = parent_level[level]
        return (up, codes[up](code), sex, band)

    children: dict[tuple, list[tuple]] = {}
    for cell in every:
        if cell[0] != "nation":
            children.setdefault(parent(cell), []).append(cell)
    for cell in kept:
        if cell[0] != "nation":
            assert parent(cell) in kept  # nothing under a suppressed cell
    for cell, below in children.items():
        shown = [c for c in below if c in kept]
        # A published total's children: all published (they add up to it) or none.
        assert shown in ([], below), cell
        if cell in kept and not shown:
            assert len(below) >= 2 and min(every[c] for c in below) < min_cell
        # And no more is left out than that rule needs.
        if cell in kept and min(every[c] for c in below) >= min_cell:
            assert shown == below
