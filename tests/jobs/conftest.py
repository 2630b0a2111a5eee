"""A small generated dataset, a Session on the shared 2-process cluster, and the comparison."""

from __future__ import annotations

import datetime as dt

import dask
import numpy as np
import pandas as pd
import pytest

from compute.generate import generate
from compute.session import Session
from compute.tables import Catalog


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("jobs") / "data"
    generate(out, scale=0.01, seed=11)
    return out


@pytest.fixture(params=["planned", "shuffle"])
def session(request, dataset, local_cluster):
    """A Session on the shared cluster; not closed here, the cluster fixture owns it.

    "planned" lets the planner broadcast small sides (all of them, at this scale);
    "shuffle" sets the broadcast limit to 0 so every join hash-shuffles. Function-scoped, so
    the setting ends with the test (a session-scoped one stayed set for every later test).
    """
    limit = "256MiB" if request.param == "planned" else "0B"
    with dask.config.set({"govgrid.join.broadcast-limit": limit}):
        yield Session(Catalog.load(dataset), local_cluster)


@pytest.fixture(scope="session")
def same_rows():
    """The oracle comparison, as a fixture so test modules need not import conftest."""
    return assert_same_rows


def assert_same_rows(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal as multisets of rows: same columns, values equal (floats to 1e-9 relative)."""
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected)
    got, expected = (_normalised(frame) for frame in (got, expected))
    for column in got.columns:
        left, right = got[column].to_numpy(), expected[column].to_numpy()
        if np.issubdtype(left.dtype, np.floating) or np.issubdtype(right.dtype, np.floating):
            np.testing.assert_allclose(left.astype(float), right.astype(float), rtol=1e-9,
                                       equal_nan=True, err_msg=column)
        else:
            assert (left == right).all(), f"column {column} differs"


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Comparable values: dates as datetime64, integers as int64, nulls as NaN, rows sorted."""
    out = pd.DataFrame(index=range(len(frame)))
    for column in frame.columns:
        values = frame[column].reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(values) or _holds_dates(values):
            values = pd.to_datetime(values).astype("datetime64[s]")
        elif pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
            values = values.astype("float64") if values.isna().any() else values.astype("int64")
        elif pd.api.types.is_float_dtype(values):
            values = values.astype("float64")
        else:
            values = values.astype(object).where(values.notna(), None)
        out[column] = values
    # Sort on exact columns first; floats (computed differently by each side) only break ties.
    floats = [c for c in out.columns if pd.api.types.is_float_dtype(out[c])]
    keys = [c for c in out.columns if c not in floats] + floats
    return out.sort_values(keys, na_position="first").reset_index(drop=True)


def _holds_dates(values: pd.Series) -> bool:
    first = values.dropna().head(1)
    return len(first) == 1 and isinstance(first.iloc[0], dt.date)
