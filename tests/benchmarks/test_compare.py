"""Output comparison: differences of type and order are not differences; values are."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.compare import compare_frames, compare_outputs

EXPECTED = pd.DataFrame({
    "code": np.array([110000, 310000, 440000], dtype="int32"),
    "name": ["a", "b", None],
    "day": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]).astype("datetime64[s]"),
    "rate": [0.5, float("nan"), 1 / 3],
})


def test_types_and_row_order_do_not_matter():
    got = EXPECTED.iloc[::-1].astype({"code": "Int64", "name": "string[pyarrow]"})
    got = got.assign(day=got["day"].astype("datetime64[ms]"), rate=got["rate"] + 1e-12)
    got.index = [7, 7, 7]  # repeated labels, as concatenated Dask partitions give
    assert compare_frames("out", got, EXPECTED) is None


def test_a_changed_value_is_found():
    got = EXPECTED.assign(rate=[0.5, float("nan"), 0.34])
    difference = compare_frames("out", got, EXPECTED)
    assert difference is not None and "1 of 3 rows differ" in difference.message


def test_a_missing_row_and_a_wrong_column_are_found():
    difference = compare_frames("out", EXPECTED.iloc[:2], EXPECTED)
    assert difference is not None and "2 rows instead of 3" in difference.message
    renamed = EXPECTED.rename(columns={"rate": "ratio"})
    assert "columns" in compare_frames("out", renamed, EXPECTED).message
    assert compare_outputs({"a": EXPECTED}, {"b": EXPECTED})[0].output == "*"
