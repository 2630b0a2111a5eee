"""Every identifier valid unless planted; the truth table lists exactly the planted defects.

The oracle recomputes each defect kind from the data with pandas and checks identifiers with
python-stdnum and a hand-written check of structure and birth date.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from compute.generate import read_truth
from compute.tables import ROSTERS
from tests.data.conftest import read, resident_id_is_valid, uscc_is_valid


@pytest.fixture(scope="module")
def truth(data: Path) -> pd.DataFrame:
    return read_truth(data)


@pytest.fixture(scope="module")
def residents(data: Path) -> pd.DataFrame:
    return read(data, "residents").set_index("resident_id")


def planted(truth: pd.DataFrame, table: str, kind: str) -> set[str]:
    return set(truth.loc[(truth["table"] == table) & (truth["kind"] == kind), "key"])


def test_residents_ids_are_valid_and_carry_birth_date_and_sex(
    residents: pd.DataFrame, counties: set[int]
) -> None:
    ids = residents.index.to_series()
    assert ids.map(lambda value: resident_id_is_valid(value, counties)).all()
    assert (ids.str[6:14] == residents["birth_date"].map(lambda d: d.strftime("%Y%m%d"))).all()
    assert ((ids.str[16].astype(int) % 2 == 1) == (residents["sex"] == 1)).all()
    assert residents["sex"].isin([1, 2]).all()
    assert residents["division_code"].isin(counties).all()


@pytest.mark.parametrize("table,column", [
    ("contributions", "resident_id"), ("pensions", "resident_id"),
    ("tax_returns", "resident_id"), ("benefit_payments", "resident_id"),
    ("deaths", "resident_id"), ("enterprises", "legal_rep_id"),
])
def test_other_tables_refer_to_residents(
    data: Path, residents: pd.DataFrame, table: str, column: str
) -> None:
    assert read(data, table)[column].isin(residents.index).all()


def test_usccs_are_valid_and_unique(data: Path) -> None:
    enterprises = read(data, "enterprises")
    assert enterprises["uscc"].map(uscc_is_valid).all()
    assert enterprises["uscc"].is_unique
    employers = read(data, "contributions")["employer_uscc"]
    assert employers.isin(enterprises.loc[enterprises["status"] == "active", "uscc"]).all()


@pytest.mark.parametrize("table", ROSTERS)
def test_roster_defects_are_exactly_the_planted_ones(
    data: Path, truth: pd.DataFrame, residents: pd.DataFrame, counties: set[int], table: str
) -> None:
    roster = read(data, table)
    assert roster["resident_id"].is_unique
    valid = roster["resident_id"].map(lambda value: resident_id_is_valid(value, counties))
    known = roster["resident_id"].isin(residents.index)
    matched = roster[known].join(residents, on="resident_id", rsuffix="_registry")
    found = {
        "invalid_id": set(roster.loc[~valid, "resident_id"]),
        "orphan": set(roster.loc[valid & ~known, "resident_id"]),
        "name_mismatch": set(matched.loc[matched["name"] != matched["name_registry"],
                                         "resident_id"]),
        "birth_mismatch": set(matched.loc[matched["birth_date"] != matched["birth_date_registry"],
                                          "resident_id"]),
    }
    for kind, keys in found.items():
        assert keys == planted(truth, table, kind), kind
        assert keys, f"nothing planted of {kind}"
    # An invalid ID is a resident's with only the check character wrong.
    prefixes = set(residents.index.str[:17])
    assert all(key[:17] in prefixes for key in found["invalid_id"])


def test_payment_defects_are_exactly_the_planted_ones(data: Path, truth: pd.DataFrame) -> None:
    payments = read(data, "benefit_payments")
    assert payments["payment_id"].is_unique
    ordered = payments.sort_values("payment_id")
    repeated = ordered.duplicated(["resident_id", "program", "month"], keep="first")
    deaths = read(data, "deaths").set_index("resident_id")["death_date"]
    death_month = payments["resident_id"].map(deaths).map(
        lambda d: d.replace(day=1), na_action="ignore"
    )
    after = payments["month"] > death_month
    found = {
        "duplicate": set(ordered.loc[repeated, "payment_id"].astype(str)),
        "after_death": set(payments.loc[after.fillna(False).astype(bool), "payment_id"]
                           .astype(str)),
    }
    for kind, keys in found.items():
        assert keys == planted(truth, "benefit_payments", kind), kind
        assert keys, f"nothing planted of {kind}"


def test_truth_lists_each_record_once(truth: pd.DataFrame) -> None:
    assert not truth.duplicated(["table", "key"]).any()
    assert list(truth.columns) == ["table", "key", "kind"]
