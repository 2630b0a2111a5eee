"""Every identifier valid unless planted; the truth table lists exactly the planted defects.

The oracle recomputes each defect kind from the data with pandas and checks identifiers with
python-stdnum and a hand-written check of structure and birth date. IDs held in another
written form are normalised here in plain Python (``str.strip``, a translation table, the
15-digit conversion with python-stdnum's check character), independently of the generator.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
from stdnum.cn import ric

from compute.generate import DefectRates, generate, read_truth
from compute.tables import ROSTERS
from tests.data.conftest import SCALE, SEED, read, resident_id_is_valid, uscc_is_valid

FULLWIDTH = {chr(0xFF10 + digit): str(digit) for digit in range(10)} | {"Ｘ": "X", "ｘ": "X"}
TO_ASCII = str.maketrans(FULLWIDTH | {"x": "X"})
# The columns the jobs order a resident's rows by, keeping the first.
REGISTRY_ORDER = ["birth_date", "division_code", "sex", "resident_id", "name"]
OTHER_TABLES = ("contributions", "pensions", "tax_returns", "benefit_payments", "deaths")
# Ten times the default rates or more: every kind planted, even in a small chunk.
DENSE = DefectRates(**{field.name: 0.02 for field in fields(DefectRates)})


def normalise(value: str) -> str:
    """The ID the jobs read: whitespace stripped, full-width and lower-case x read as ASCII,
    a 15-digit legacy ID converted to 18 digits (century 19, GB 11643-1999 check)."""
    value = value.strip().translate(TO_ASCII)
    if len(value) == 15 and value.isascii() and value.isdigit():
        body = value[:6] + "19" + value[6:]
        value = body + ric.calc_check_digit(body + "0")
    return value


def written_form(value: str) -> str | None:
    """The planted kind a resident ID's written form shows, None for the canonical form."""
    if value != value.strip():
        return "padded_id"
    if any(char in FULLWIDTH for char in value):
        return "fullwidth_id"
    if value.endswith("x"):
        return "lowercase_id"
    if len(value) == 15:
        return "legacy_id"
    return None


@pytest.fixture(scope="module", params=["default", "dense"])
def dataset(request: pytest.FixtureRequest, data: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared data (default rates) and data of the same scale and seed at ``DENSE``."""
    if request.param == "default":
        return data
    out = tmp_path_factory.mktemp("dense") / "synthetic"
    generate(out, scale=SCALE, seed=SEED, rates=DENSE)
    return out


@pytest.fixture(scope="module")
def dense(dataset: Path, data: Path) -> bool:
    """Whether every kind must have been planted (at default rates some may not be)."""
    return dataset != data


@pytest.fixture(scope="module")
def truth(dataset: Path) -> pd.DataFrame:
    return read_truth(dataset)


@pytest.fixture(scope="module")
def residents(dataset: Path, counties: set[int]) -> pd.DataFrame:
    """Every residents row, with its normalised ID and whether that is valid."""
    rows = read(dataset, "residents")
    rows["normal"] = rows["resident_id"].map(normalise)
    rows["valid"] = rows["normal"].map(lambda value: resident_id_is_valid(value, counties))
    return rows


@pytest.fixture(scope="module")
def registry(residents: pd.DataFrame) -> pd.DataFrame:
    """One row per valid normalised ID, the one the jobs keep, indexed by that ID."""
    valid = residents[residents["valid"]].sort_values(REGISTRY_ORDER)
    return valid.drop_duplicates("normal").set_index("normal")


def planted(truth: pd.DataFrame, table: str, kind: str) -> set[str]:
    return set(truth.loc[(truth["table"] == table) & (truth["kind"] == kind), "key"])


def test_residents_ids_are_valid_and_carry_birth_date_and_sex(
    residents: pd.DataFrame, truth: pd.DataFrame, counties: set[int]
) -> None:
    clean = residents[~residents["resident_id"].isin(truth.loc[truth["table"] == "residents",
                                                                 "key"])]
    ids = clean["resident_id"]
    assert ids.is_unique
    assert ids.map(lambda value: resident_id_is_valid(value, counties)).all()
    assert (ids.str[6:14] == clean["birth_date"].map(lambda d: d.strftime("%Y%m%d"))).all()
    assert ((ids.str[16].astype(int) % 2 == 1) == (clean["sex"] == 1)).all()
    assert residents["sex"].isin([1, 2]).all()
    assert residents["division_code"].isin(counties).all()


def test_registry_defects_are_exactly_the_planted_ones(
    dataset: Path, residents: pd.DataFrame, registry: pd.DataFrame, truth: pd.DataFrame,
    dense: bool,
) -> None:
    assert residents["resident_id"].is_unique
    invalid = residents[~residents["valid"]]
    repeated = residents["valid"] & ~residents["resident_id"].isin(registry["resident_id"])
    found = {
        "registry_invalid": set(invalid["resident_id"]),
        "registry_duplicate": set(residents.loc[repeated, "resident_id"]),
    }
    for kind, keys in found.items():
        assert keys == planted(truth, "residents", kind), kind
        assert keys or not dense, f"nothing planted of {kind}"

    # The row the jobs keep is the canonical one; a duplicate is the same person (a birth
    # date at most 30 days later) in another written form, and there is one at most.
    assert (registry["resident_id"] == registry.index).all()
    duplicates = residents[repeated].join(registry, on="normal", rsuffix="_kept")
    assert duplicates["normal"].is_unique
    assert duplicates["resident_id"].map(written_form).isin(["padded_id", "fullwidth_id"]).all()
    for column in ("name", "sex", "division_code"):
        assert (duplicates[column] == duplicates[f"{column}_kept"]).all(), column
    late = duplicates["birth_date"] - duplicates["birth_date_kept"]
    assert late.between(pd.Timedelta(0), pd.Timedelta(days=30)).all()

    # An invalid registry ID is well formed, with a wrong check character, for a person in
    # no other table.
    assert (invalid["resident_id"] == invalid["normal"]).all()
    check = invalid["resident_id"].map(ric.calc_check_digit)
    assert (check != invalid["resident_id"].str[17]).all()
    prefixes = set(invalid["resident_id"].str[:17])
    for table, column in [*((table, "resident_id") for table in ROSTERS + OTHER_TABLES),
                          ("enterprises", "legal_rep_id")]:
        held = read(dataset, table)[column].map(normalise).str[:17]
        assert not held.isin(prefixes).any(), table


@pytest.mark.parametrize("table,column", [
    ("contributions", "resident_id"), ("pensions", "resident_id"),
    ("tax_returns", "resident_id"), ("benefit_payments", "resident_id"),
    ("deaths", "resident_id"), ("enterprises", "legal_rep_id"),
])
def test_other_tables_refer_to_residents_unless_planted_invalid(
    dataset: Path, registry: pd.DataFrame, truth: pd.DataFrame, counties: set[int], table: str,
    column: str, dense: bool,
) -> None:
    rows = read(dataset, table)
    unknown = rows[~rows[column].isin(registry.index)]
    key = "payment_id" if table == "benefit_payments" else column
    assert set(unknown[key].astype(str)) == planted(truth, table, "invalid_id")
    # An invalid ID is a resident's with only the check character wrong.
    assert not unknown[column].map(lambda value: resident_id_is_valid(value, counties)).any()
    assert unknown[column].str[:17].isin(registry.index.str[:17]).all()
    if table in ("deaths", "tax_returns", "benefit_payments"):
        assert len(unknown) or not dense, f"nothing planted of invalid_id in {table}"


def test_usccs_are_valid_and_unique(dataset: Path) -> None:
    enterprises = read(dataset, "enterprises")
    assert enterprises["uscc"].map(uscc_is_valid).all()
    assert enterprises["uscc"].is_unique
    employers = read(dataset, "contributions")["employer_uscc"]
    assert employers.isin(enterprises.loc[enterprises["status"] == "active", "uscc"]).all()


@pytest.mark.parametrize("table", ROSTERS)
def test_roster_defects_are_exactly_the_planted_ones(
    dataset: Path, truth: pd.DataFrame, registry: pd.DataFrame, counties: set[int], table: str,
    dense: bool,
) -> None:
    roster = read(dataset, table)
    assert roster["resident_id"].is_unique
    roster["normal"] = roster["resident_id"].map(normalise)
    assert roster["normal"].is_unique
    form = roster["resident_id"].map(written_form)
    valid = roster["normal"].map(lambda value: resident_id_is_valid(value, counties))
    known = roster["normal"].isin(registry.index)
    matched = roster[known].join(registry, on="normal", rsuffix="_registry")
    found = {
        "invalid_id": set(roster.loc[~valid, "resident_id"]),
        "orphan": set(roster.loc[valid & ~known, "resident_id"]),
        "name_mismatch": set(matched.loc[matched["name"] != matched["name_registry"],
                                         "resident_id"]),
        "birth_mismatch": set(matched.loc[matched["birth_date"] != matched["birth_date_registry"],
                                          "resident_id"]),
    }
    for kind in ("padded_id", "lowercase_id", "fullwidth_id", "legacy_id"):
        found[kind] = set(roster.loc[form == kind, "resident_id"])
    for kind, keys in found.items():
        assert keys == planted(truth, table, kind), kind
        assert keys or not dense, f"nothing planted of {kind}"
    # An invalid ID is a resident's with only the check character wrong.
    assert all(key[:17] in set(registry.index.str[:17]) for key in found["invalid_id"])
    # An ID in another written form, once normalised, is a registered resident's whose name
    # and birth date the record carries (so it is none of the conflicts above).
    dirty = matched[matched["resident_id"].map(written_form).notna()]
    assert len(dirty) == (form.notna()).sum()
    assert (dirty["name"] == dirty["name_registry"]).all()
    assert (dirty["birth_date"] == dirty["birth_date_registry"]).all()
    for key in found["legacy_id"]:
        assert key.isascii() and key.isdigit()
        body = key[:6] + "19" + key[6:]
        assert body + ric.calc_check_digit(body + "0") in registry.index
    assert all(key.endswith("x") and key[:-1].isdigit() for key in found["lowercase_id"])


def test_payment_defects_are_exactly_the_planted_ones(
    dataset: Path, truth: pd.DataFrame, registry: pd.DataFrame, dense: bool
) -> None:
    payments = read(dataset, "benefit_payments")
    assert payments["payment_id"].is_unique
    ordered = payments.sort_values("payment_id")
    repeated = ordered.duplicated(["resident_id", "program", "month"], keep="first")
    deaths = read(dataset, "deaths")
    deaths = deaths[deaths["resident_id"].isin(registry.index)].set_index("resident_id")
    death_month = payments["resident_id"].map(deaths["death_date"]).map(
        lambda d: d.replace(day=1), na_action="ignore"
    )
    after = payments["month"] > death_month
    found = {
        "duplicate": set(ordered.loc[repeated, "payment_id"].astype(str)),
        "after_death": set(payments.loc[after.fillna(False).astype(bool), "payment_id"]
                           .astype(str)),
        "invalid_id": set(payments.loc[~payments["resident_id"].isin(registry.index),
                                       "payment_id"].astype(str)),
    }
    for kind, keys in found.items():
        assert keys == planted(truth, "benefit_payments", kind), kind
        assert keys or not dense, f"nothing planted of {kind}"


def test_truth_lists_each_record_once(truth: pd.DataFrame) -> None:
    assert not truth.duplicated(["table", "key"]).any()
    assert list(truth.columns) == ["table", "key", "kind"]
