"""Small generated datasets and independent checks of identifiers, for the data tests."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric, uscc

from compute.generate import generate

SCALE = 0.005
SEED = 7
RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")


def resident_id_is_valid(value: str, counties: set[int]) -> bool:
    """GB 11643-1999 by hand and python-stdnum: structure, known county, date, check char."""
    if not RESIDENT_ID.match(value) or int(value[:6]) not in counties:
        return False
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return ric.calc_check_digit(value) == value[17]


def uscc_is_valid(value: str) -> bool:
    return uscc.is_valid(value)


def read(data: Path, table: str) -> pd.DataFrame:
    """A table read with pyarrow directly (not through the code under test)."""
    return pq.read_table(data / table).to_pandas()


def file_contents(data: Path) -> dict[str, bytes]:
    """Every Parquet data file's bytes, by path relative to ``data`` (the catalog and the
    Delta logs record the time they were written, so they differ from run to run)."""
    return {
        path.relative_to(data).as_posix(): path.read_bytes()
        for path in sorted(data.rglob("*.parquet"))
    }


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scale 0.005 (5,000 residents), generated in-process."""
    out = tmp_path_factory.mktemp("data") / "synthetic"
    generate(out, scale=SCALE, seed=SEED)
    return out


@pytest.fixture(scope="session")
def counties(data: Path) -> set[int]:
    divisions = read(data, "divisions")
    return set(divisions.loc[divisions["level"] == 3, "division_code"].tolist())
