"""USCCs against python-stdnum and a plain-Python reference of the codes."""

from __future__ import annotations

import kernel_cases
import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import USCC_ALPHABET, normalise_uscc, uscc_check, uscc_code
from stdnum.cn import uscc

from kernels import pack_uscc, unpack_uscc, validate_uscc


def codes(values: list[str | None]) -> list[int]:
    return validate_uscc(pa.array(values, type=pa.string())).to_pylist()


def test_every_code_on_the_cases() -> None:
    expected = [uscc_code(value) for value in kernel_cases.USCC_CASES]
    assert codes(kernel_cases.USCC_CASES) == expected
    assert set(expected) == {0, 1, 2, 3, 4, 5}


symbols = st.sampled_from(USCC_ALPHABET)
valid_codes = st.builds(
    lambda head, division, body: (lambda first: first + uscc_check(first))(
        "".join(head) + division + "".join(body)
    ),
    st.lists(symbols, min_size=2, max_size=2) | st.just(["9", "1"]),
    st.integers(0, 999_999).map("{:06d}".format),
    st.lists(symbols, min_size=9, max_size=9),
)


@settings(max_examples=300, deadline=None)
@given(valid_codes)
def test_valid_codes_pass_stdnum_and_round_trip(value: str) -> None:
    assert uscc.calc_check_digit(value) == value[17]
    # stdnum also wants characters 1-2 as digits; the standard allows letters there.
    assert uscc.is_valid(value) == value[:2].isdigit()
    assert codes([value]) == [0]
    keys = pack_uscc(pa.array([value]))
    assert unpack_uscc(keys["high"], keys["low"]).to_pylist() == [value]


@settings(max_examples=400, deadline=None)
@given(
    valid_codes,
    st.integers(0, 17),
    st.sampled_from("0A IOZa身１ａＡ\u3000\u00a0") | st.characters(codec="utf-8"),
    st.data(),
)
def test_corrupted_codes_get_the_reference_code(value: str, at: int, char: str, data) -> None:
    how = data.draw(st.sampled_from(["replace", "transpose", "truncate"]))
    if how == "replace":
        corrupted = value[:at] + char + value[at + 1 :]
    elif how == "transpose":
        at = min(at, 16)
        corrupted = value[:at] + value[at + 1] + value[at] + value[at + 2 :]
    else:
        corrupted = value[:at]
    code = uscc_code(corrupted)
    assert codes([corrupted]) == [code]
    # stdnum reads any Unicode digit, strips str.isspace() and wants characters 1-2 as digits
    # too; agree on the normalised code where it is ASCII.
    normalised = normalise_uscc(corrupted)
    if normalised.isascii() and normalised[:2].isdigit():
        assert (code == 0) == uscc.is_valid(normalised)


def test_pack_is_two_int64_columns_aligned_with_the_input() -> None:
    values = pd.Series(["91110000600037341L", None, "bad"], index=[7, 8, 9])
    keys = pack_uscc(values)
    assert list(keys.columns) == ["high", "low"]
    assert list(keys.index) == [7, 8, 9]
    assert keys.dtypes.tolist() == [np.dtype(np.int64)] * 2
    assert keys.iloc[1:].eq(-1).all().all()
    assert unpack_uscc(keys["high"], keys["low"]).tolist()[0] == "91110000600037341L"


def test_unpack_random_keys_are_valid_or_null() -> None:
    rng = np.random.default_rng(5)
    high = rng.integers(0, 31**8, 2000)
    low = rng.integers(0, 31**9, 2000)
    high[::9] = -1
    low[1] = 31**9
    out = unpack_uscc(high, low).to_pylist()
    for h, lo, value in zip(high.tolist(), low.tolist(), out, strict=True):
        if h < 0 or lo >= 31**9:
            assert value is None
        else:
            assert uscc_code(value) in (0, 4)  # random keys need not put digits in 3-8
            assert value[17] == uscc_check(value[:17])
