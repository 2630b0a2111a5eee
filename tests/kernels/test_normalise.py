"""Normalised identifiers against the plain-Python references of oracles.py and stdnum."""

from __future__ import annotations

import datetime
import sys
import unicodedata

import dask.dataframe as dd
import kernel_cases
import numpy as np
import oracles
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import (
    DIGITS,
    USCC_ALPHABET,
    WHITE_SPACE,
    make_ric,
    normalise_ric,
    ric_code,
    uscc_code,
)
from stdnum.cn import ric

from kernels import (
    normalise_resident_id,
    normalise_uscc,
    pack_resident_id,
    pack_uscc,
    resident_id_fields,
    validate_resident_id,
    validate_uscc,
)

VALID = "11010519491231002X"
USCC = "91350100M000100Y43"
FULL_WIDTH = [chr(point) for point in range(0xFF01, 0xFF5F)]  # every full-width ASCII form
NOT_WHITE_SPACE = ["\x1c", "\x1d", "\x1e", "\x1f", "\u200b", "\ufeff", "\u180e", "_"]


def normalised(values: list[str | None]) -> list[str | None]:
    return normalise_resident_id(pa.array(values, type=pa.string())).to_pylist()


def check_ids(values: list[str | None]) -> None:
    """Normalised string, code, key and fields of every value, as the references say."""
    array = pa.array(values, type=pa.string())
    expected = [normalise_ric(value) for value in values]
    codes = [ric_code(value) for value in values]
    assert normalise_resident_id(array).to_pylist() == expected
    assert validate_resident_id(array).to_pylist() == codes
    assert pack_resident_id(array).to_pylist() == [
        int(value[:17]) if code == 0 else -1 for value, code in zip(expected, codes, strict=True)
    ]
    fields = resident_id_fields(array).to_pylist()
    for value, code, row in zip(expected, codes, fields, strict=True):
        if code == 0:
            assert row["birth_date"] == ric.get_birth_date(value)
            assert row["division_code"] == int(value[:6])
            assert row["sex"] == (1 if int(value[14:17]) % 2 else 2)
        else:
            assert row["birth_date"] is None


def check_usccs(values: list[str | None]) -> None:
    array = pa.array(values, type=pa.string())
    expected = [oracles.normalise_uscc(value) for value in values]
    codes = [uscc_code(value) for value in values]
    assert normalise_uscc(array).to_pylist() == expected
    assert validate_uscc(array).to_pylist() == codes
    keys = pack_uscc(array).to_pylist()
    for value, code, key in zip(expected, codes, keys, strict=True):
        digits = [USCC_ALPHABET.index(c) for c in value[:17]] if code == 0 else []
        assert key == {
            "high": sum(d * 31 ** (7 - k) for k, d in enumerate(digits[:8])) if digits else -1,
            "low": sum(d * 31 ** (8 - k) for k, d in enumerate(digits[8:])) if digits else -1,
        }


def test_the_white_space_reference_is_unicode_white_space() -> None:
    # str.isspace() is White_Space plus the four ASCII separators U+001C-001F.
    spaces = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert set(WHITE_SPACE) == spaces - set(NOT_WHITE_SPACE[:4])
    assert len(WHITE_SPACE) == 25


def test_the_cases() -> None:
    check_ids(kernel_cases.RIC_CASES)
    check_usccs(kernel_cases.USCC_CASES)


@pytest.mark.parametrize("space", list(WHITE_SPACE), ids=lambda c: f"U+{ord(c):04X}")
def test_every_white_space_is_removed_around_and_kept_inside(space: str) -> None:
    inside = VALID[:9] + space + VALID[9:]
    values = [space + VALID, VALID + space, space * 3 + VALID + space * 2, inside, space]
    assert normalised(values) == [VALID, VALID, VALID, inside, ""]
    assert validate_resident_id(pa.array(values)).to_pylist() == [0, 0, 0, 2, 2]
    check_ids(values)
    assert normalise_uscc(pa.array([space + USCC + space])).to_pylist() == [USCC]
    check_usccs([space + USCC + space, USCC[:5] + space + USCC[5:]])


@pytest.mark.parametrize("other", NOT_WHITE_SPACE, ids=lambda c: f"U+{ord(c):04X}")
def test_other_characters_are_not_removed(other: str) -> None:
    assert normalised([other + VALID, VALID + other]) == [other + VALID, VALID + other]
    check_ids([other + VALID, VALID[:17] + other])


def test_every_full_width_form() -> None:
    # Digits and X/x read as ASCII in a resident ID, every letter and digit in a USCC; the
    # other forms (punctuation, symbols) stay as they are.
    ascii_of = {c: unicodedata.normalize("NFKC", c) for c in FULL_WIDTH}
    assert normalised(FULL_WIDTH) == [
        ascii_of[c].upper() if ascii_of[c] in DIGITS + "Xx" else c for c in FULL_WIDTH
    ]
    assert normalise_uscc(pa.array(FULL_WIDTH)).to_pylist() == [
        ascii_of[c].upper() if ascii_of[c].isalnum() else c for c in FULL_WIDTH
    ]
    check_ids(FULL_WIDTH)
    check_usccs(FULL_WIDTH)
    wide = VALID.translate({ord(c): chr(ord(c) + 0xFEE0) for c in VALID})
    assert wide == "１１０１０５１９４９１２３１００２Ｘ"
    check_ids([wide, wide.lower(), wide[:17] + "x", VALID[:17] + "ｘ", VALID.lower()])


@pytest.mark.parametrize("values", [[None], [""], [None, "", " "], []])
def test_nulls_and_empty_strings(values: list[str | None]) -> None:
    assert normalised(values) == [None if v is None else "" for v in values]
    check_ids(values)
    check_usccs(values)


births_1900s = st.dates(datetime.date(1900, 1, 1), datetime.date(1999, 12, 31))
divisions = st.sampled_from([110105, 310104, 440305, 650102, 510107, 710000, 820000])
current_ids = st.builds(make_ric, divisions, births_1900s, st.integers(0, 999))


@settings(max_examples=200, deadline=None)
@given(current_ids)
def test_a_legacy_id_becomes_its_18_digit_form(value: str) -> None:
    legacy = value[:6] + value[8:17]
    assert ric.calc_check_digit(value) == value[17]
    assert normalised([legacy, " " + legacy + "\u3000"]) == [value, value]
    assert pack_resident_id(pa.array([legacy])).to_pylist() == [int(value[:17])]
    assert validate_resident_id(pa.array([legacy])).to_pylist() == [0]
    assert resident_id_fields(pa.array([legacy])).to_pylist() == resident_id_fields(
        pa.array([value])
    ).to_pylist()


@settings(max_examples=300, deadline=None)
@given(st.text(DIGITS, min_size=15, max_size=15))
def test_any_15_digits_are_converted_dates_or_not(value: str) -> None:
    converted = normalise_ric(value)
    assert len(converted) == 18 and converted[6:8] == "19"
    assert normalised([value]) == [converted]
    check_ids([value])


def test_15_digits_that_are_not_dates_stay_invalid() -> None:
    values = ["110105491331002", "110105490230002", "110105000000002", "110105990431002"]
    assert validate_resident_id(pa.array(values)).to_pylist() == [5] * 4
    assert normalised(values) == [normalise_ric(value) for value in values]
    assert all(v[6:8] == "19" and len(v) == 18 for v in normalised(values))


pieces = st.sampled_from(
    [*DIGITS, "X", "x", "Ｘ", "ｘ", "１", "９", "Ａ", "a", "身", "é", "𠀀", *WHITE_SPACE, "\x1c"]
)
id_like = st.lists(pieces, max_size=22).map("".join) | st.builds(
    lambda left, value, right: left + value + right,
    st.text(WHITE_SPACE, max_size=3),
    current_ids | current_ids.map(lambda v: v[:6] + v[8:17]),
    st.text(WHITE_SPACE, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(id_like | st.none(), max_size=8))
def test_resident_ids_agree_with_the_reference(values: list[str | None]) -> None:
    check_ids(values)


@settings(max_examples=200, deadline=None)
@given(st.lists(id_like, max_size=8))
def test_normalising_twice_changes_nothing_and_grows_only_legacy_ids(values: list[str]) -> None:
    once = normalised(values)
    assert normalised(once) == once
    for value, result in zip(values, once, strict=True):
        if len(result.encode()) > len(value.encode()):
            assert len(result) == 18 and len(value.strip(WHITE_SPACE)) == 15


uscc_pieces = st.sampled_from(
    [*USCC_ALPHABET, "a", "m", "y", "i", "Ｍ", "ｍ", "９", "＃", "身", *WHITE_SPACE]
)
uscc_like = st.lists(uscc_pieces, max_size=22).map("".join) | st.builds(
    lambda left, value, right: left + value + right,
    st.text(WHITE_SPACE, max_size=3),
    st.sampled_from(
        [USCC, USCC.lower(), "91110000600037341l", "９１１１００００６０００３７３４１Ｌ"]
    ),
    st.text(WHITE_SPACE, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(uscc_like | st.none(), max_size=8))
def test_usccs_agree_with_the_reference(values: list[str | None]) -> None:
    check_usccs(values)


def test_pandas_keeps_index_and_name() -> None:
    values = pd.Series(
        [" " + VALID, None, "110105491231002", "bad"], index=["a", "b", "c", "d"],
        name="resident_id", dtype="str",
    )
    result = normalise_resident_id(values)
    assert isinstance(result, pd.Series) and result.dtype == "str"
    assert result.name == "resident_id" and result.index.equals(values.index)
    assert result.tolist()[::2] == [VALID, VALID] and pd.isna(result["b"])
    assert result["d"] == "bad"
    codes = pd.Series(["ｍ" + USCC[1:]], index=[42])
    assert normalise_uscc(codes).to_dict() == {42: "M" + USCC[1:]}


def test_pyarrow_kinds_slices_and_dask() -> None:
    cases = kernel_cases.RIC_CASES
    expected = [normalise_ric(value) for value in cases]
    array = pa.array(["x", *cases], type=pa.large_string()).slice(1)
    assert normalise_resident_id(array).to_pylist() == expected
    chunked = pa.chunked_array([array.slice(0, 7), array.slice(7)])
    result = normalise_resident_id(chunked)
    assert isinstance(result, pa.ChunkedArray) and result.to_pylist() == expected
    series = pd.Series(cases, index=range(100, 100 + len(cases)), dtype="str")
    lazy = normalise_resident_id(dd.from_pandas(series, npartitions=3))
    assert isinstance(lazy, dd.Series)
    pd.testing.assert_series_equal(lazy.compute(), normalise_resident_id(series))
    codes = dd.from_pandas(pd.Series(kernel_cases.USCC_CASES), npartitions=2)
    pd.testing.assert_series_equal(
        normalise_uscc(codes).compute(),
        pd.Series([oracles.normalise_uscc(v) for v in kernel_cases.USCC_CASES], dtype="str"),
    )


def test_offsets_and_buffers_of_the_result() -> None:
    result = normalise_resident_id(pa.array([" 身份 ", None, "110105491231002"]))
    assert result.type == pa.string()
    assert result.null_count == 1
    offsets = np.frombuffer(result.buffers()[1], dtype=np.int32)[: len(result) + 1]
    assert offsets.tolist() == [0, 6, 6, 24]
