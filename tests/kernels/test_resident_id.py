"""Resident IDs against python-stdnum and a plain-Python reference of the codes."""

from __future__ import annotations

import datetime

import kernel_cases
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import make_ric, normalise_ric, ric_check, ric_code
from stdnum.cn import ric

from kernels import (
    pack_resident_id,
    resident_id,
    resident_id_fields,
    unpack_resident_id,
    validate_resident_id,
)
from kernels._buffers import arrow_buffers

# stdnum's is_valid also needs the county to exist in the birth year by its own list, so it
# is an oracle one way (valid there => valid here); its check digit and date agree always.
DIVISIONS = [110105, 310104, 440305, 650102, 510107, 710000, 820000, 830000]


def codes(values: list[str | None]) -> list[int]:
    return validate_resident_id(pa.array(values, type=pa.string())).to_pylist()


def test_every_code_on_the_cases() -> None:
    expected = [ric_code(value) for value in kernel_cases.RIC_CASES]
    assert codes(kernel_cases.RIC_CASES) == expected
    assert set(expected) == {0, 1, 2, 3, 4, 5, 6}


def test_check_character_agrees_with_stdnum() -> None:
    for value in map(normalise_ric, kernel_cases.RIC_CASES):
        if ric_code(value) in (0, 6):
            assert (ric.calc_check_digit(value) == value[17]) == (ric_code(value) == 0)


births = st.dates(datetime.date(1900, 1, 1), datetime.date(2030, 12, 31))
valid_ids = st.builds(make_ric, st.sampled_from(DIVISIONS), births, st.integers(0, 999))


@settings(max_examples=300, deadline=None)
@given(valid_ids)
def test_valid_ids_pass_stdnum_and_round_trip(value: str) -> None:
    assert ric.calc_check_digit(value) == value[17]
    assert codes([value]) == [0]
    key = pack_resident_id(pa.array([value]))
    assert key.to_pylist() == [int(value[:17])]
    assert unpack_resident_id(key).to_pylist() == [value]


# Arrow strings are UTF-8, so no lone surrogate ("\ud800") can reach a kernel
any_char = st.characters(codec="utf-8")


def _replace(value: str, data: st.DataObject) -> str:
    at = data.draw(st.integers(0, 17))
    char = data.draw(st.sampled_from("0123456789Xx A身１é\u3000\u00a0ｘＸ") | any_char)
    return value[:at] + char + value[at + 1 :]


def _transpose(value: str, data: st.DataObject) -> str:
    at = data.draw(st.integers(0, 16))
    return value[:at] + value[at + 1] + value[at] + value[at + 2 :]


def _truncate(value: str, data: st.DataObject) -> str:
    return value[: data.draw(st.integers(0, 17))]


@settings(max_examples=400, deadline=None)
@given(valid_ids, st.sampled_from([_replace, _transpose, _truncate]), st.data())
def test_corrupted_ids_get_the_reference_code(value: str, corrupt, data) -> None:
    corrupted = corrupt(value, data)
    normalised = normalise_ric(corrupted)
    code = ric_code(corrupted)
    assert codes([corrupted]) == [code]
    assert pack_resident_id(pa.array([corrupted])).to_pylist() == [
        int(normalised[:17]) if code == 0 else -1
    ]
    # stdnum reads any Unicode digit ("١") and strips str.isspace(); these kernels read ASCII
    # and full-width digits and strip White_Space.
    if normalised.isascii() and ric.is_valid(normalised):
        assert code == 0
    if code in (0, 6):
        assert (ric.calc_check_digit(normalised) == normalised[17]) == (code == 0)


def test_any_province_and_date_code_is_reported() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 10**17, 3000)
    values = unpack_resident_id(keys).to_pylist()
    assert codes(values) == [ric_code(value) for value in values]


def test_unpack_is_lossless_on_random_keys_and_nulls_invalid_ones() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 10**17, 5000)
    keys[::7] = -1
    keys[1] = 10**17
    out = unpack_resident_id(keys)
    assert isinstance(out, pa.Array)
    for key, value in zip(keys.tolist(), out.to_pylist(), strict=True):
        if 0 <= key < 10**17:
            assert value == f"{key:017d}" + ric_check(f"{key:017d}")
        else:
            assert value is None


def test_fields() -> None:
    values = pd.Series(
        ["11010519491231002X", make_ric(440305, datetime.date(2000, 2, 29), 1), None, "1"],
        index=[10, 11, 12, 13],
    )
    fields = resident_id_fields(values)
    assert list(fields.columns) == ["birth_date", "sex", "division_code"]
    assert list(fields.index) == [10, 11, 12, 13]
    assert fields["birth_date"].tolist()[:2] == [
        datetime.date(1949, 12, 31), datetime.date(2000, 2, 29)
    ]
    assert fields["sex"].tolist()[:2] == [2, 1]
    assert fields["division_code"].tolist()[:2] == [110105, 440305]
    assert fields.iloc[2:].isna().all().all()
    table = resident_id_fields(pa.array(values.tolist(), from_pandas=True))
    assert table.schema == pa.schema(
        [("birth_date", pa.date32()), ("sex", pa.int8()), ("division_code", pa.int32())]
    )


@settings(max_examples=200, deadline=None)
@given(valid_ids)
def test_fields_agree_with_stdnum(value: str) -> None:
    row = resident_id_fields(pa.array([value])).to_pylist()[0]
    assert row["birth_date"] == ric.get_birth_date(value)
    assert row["division_code"] == int(value[:6])
    assert row["sex"] == (1 if int(value[14:17]) % 2 else 2)


@pytest.mark.parametrize("key", [-5, 10**17, 2**62])
def test_out_of_range_keys_unpack_to_null(key: int) -> None:
    assert unpack_resident_id(np.array([key])).to_pylist() == [None]


def test_validate_alone_gives_the_codes_of_validate_and_pack() -> None:
    random_ids = unpack_resident_id(np.random.default_rng(5).integers(0, 10**17, 2000))
    values = [*kernel_cases.RIC_CASES, *random_ids.to_pylist()]
    buffers = arrow_buffers(pa.array(values, type=pa.string()))
    np.testing.assert_array_equal(
        resident_id.validate(buffers), resident_id.validate_and_pack(buffers)[0]
    )


def test_every_month_end_and_leap_day_around_the_centuries() -> None:
    values = [
        f"110105{year:04d}{month:02d}{day:02d}001{check}"
        for year in [*range(1890, 1910), *range(1990, 2110), 2300, 2400, 9999]
        for month in range(14)
        for day in (0, 1, 28, 29, 30, 31, 32)
        for check in (ric_check(f"110105{year:04d}{month:02d}{day:02d}001"),)
    ]
    assert codes(values) == [ric_code(value) for value in values]
