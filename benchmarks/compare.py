"""Are two engines' outputs the same? Normalise (types, row order) and compare.

Engines differ in dtypes (Int64 vs int32, Arrow vs numpy strings, date vs datetime64) and row
order; none of that is a difference. Floats compare within a tolerance (sums in a different
order, similarities from a different library).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RTOL = 1e-9
ATOL = 1e-6
EXAMPLES = 5


@dataclass(frozen=True)
class Difference:
    """How one output of an engine differs from the reference's."""

    output: str
    message: str

    def __str__(self) -> str:
        return f"{self.output}: {self.message}"


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns sorted by name, plain dtypes (float64, object str, datetime64[s]), rows sorted.

    Numbers and booleans become float64 with NaN for null; dates datetime64[s]; anything
    else str with None for null. Rows are sorted on every column, floats last and rounded,
    so float noise cannot reorder them.
    """
    frame = frame.reset_index(drop=True)  # engines may return repeated index labels
    columns = {}
    for name in sorted(frame.columns):
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            columns[name] = column.astype("datetime64[s]")
        elif pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(
            column.dtype
        ):
            columns[name] = column.astype("float64")
        else:
            columns[name] = column.astype(object).where(column.notna(), None).map(
                lambda value: None if value is None else str(value)
            )
    plain = pd.DataFrame(columns)
    floats = [c for c in plain.columns if plain[c].dtype == "float64"]
    order = [c for c in plain.columns if c not in floats] + floats
    keys = plain[order].assign(**{c: plain[c].round(6) for c in floats})
    keys = keys.assign(**{c: keys[c].fillna("\x00") for c in order if c not in floats})
    positions = keys.sort_values(order, na_position="first", kind="stable").index
    return plain.loc[positions].reset_index(drop=True)


def compare_frames(output: str, got: pd.DataFrame, expected: pd.DataFrame) -> Difference | None:
    """``None`` when ``got`` equals ``expected`` after :func:`normalise`, else what differs."""
    if set(got.columns) != set(expected.columns):
        return Difference(
            output,
            f"columns {sorted(got.columns)} instead of {sorted(expected.columns)}",
        )
    left, right = normalise(got), normalise(expected)
    if len(left) != len(right):
        return Difference(
            output, f"{len(left)} rows instead of {len(right)}; " + _row_examples(left, right)
        )
    bad = np.zeros(len(left), dtype=bool)
    for name in left.columns:
        a, b = left[name], right[name]
        if a.dtype == "float64" and b.dtype == "float64":
            same = np.isclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
        else:
            same = (a == b).to_numpy() | (a.isna() & b.isna()).to_numpy()
        bad |= ~same
    if not bad.any():
        return None
    where = np.flatnonzero(bad)[:EXAMPLES]
    return Difference(
        output,
        f"{int(bad.sum())} of {len(left)} rows differ, e.g. got\n"
        f"{left.iloc[where].to_string()}\nexpected\n{right.iloc[where].to_string()}",
    )


def compare_outputs(
    got: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]
) -> list[Difference]:
    """Every difference between one engine's outputs of a job and the reference's."""
    if set(got) != set(expected):
        return [Difference("*", f"outputs {sorted(got)} instead of {sorted(expected)}")]
    return [
        difference
        for output in expected
        if (difference := compare_frames(output, got[output], expected[output])) is not None
    ]


def _row_examples(left: pd.DataFrame, right: pd.DataFrame) -> str:
    """Rows one side has more often than the other (on the columns that are not floats)."""
    keys = [c for c in left.columns if left[c].dtype != "float64"] or list(left.columns)
    surplus = left[keys].value_counts(dropna=False).sub(
        right[keys].value_counts(dropna=False), fill_value=0
    )
    extra, missing = surplus[surplus > 0].head(EXAMPLES), surplus[surplus < 0].head(EXAMPLES)
    return f"extra rows, e.g.\n{extra.to_string()}\nmissing rows, e.g.\n{missing.to_string()}"
