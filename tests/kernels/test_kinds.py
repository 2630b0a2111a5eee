"""Every input kind gives the matching output kind, aligned with the input."""

from __future__ import annotations

import dask.dataframe as dd
import kernel_cases
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from oracles import ric_code

import kernels
from compute.doctor import KERNEL_INPUTS, apply_kernel, kernel_difference
from kernels import (
    jaro_winkler,
    levenshtein,
    pack_resident_id,
    pack_uscc,
    resident_id_fields,
    unpack_resident_id,
    unpack_uscc,
    validate_resident_id,
    validate_uscc,
)

CASES = kernel_cases.RIC_CASES
EXPECTED = [ric_code(value) for value in CASES]
INDEX = pd.Index([f"r{i}" for i in range(len(CASES))], name="row")


@pytest.mark.parametrize("dtype", ["str", "string[pyarrow]", "object", "large_string[pyarrow]"])
def test_pandas_series_keeps_index_and_name(dtype: str) -> None:
    if dtype == "large_string[pyarrow]":
        dtype = pd.ArrowDtype(pa.large_string())
    values = pd.Series(CASES, index=INDEX, name="resident_id", dtype=dtype)
    result = validate_resident_id(values)
    assert isinstance(result, pd.Series)
    assert result.dtype == np.int8
    assert result.name == "resident_id"
    assert result.index.equals(INDEX)
    assert result.tolist() == EXPECTED


def test_pyarrow_array_slices_and_chunks() -> None:
    array = pa.array(["x", *CASES, "y"])
    sliced = array.slice(1, len(CASES))
    assert validate_resident_id(sliced).to_pylist() == EXPECTED
    chunked = pa.chunked_array([array.slice(1, 5), array.slice(6, len(CASES) - 5)])
    result = validate_resident_id(chunked)
    assert isinstance(result, pa.ChunkedArray)
    assert [len(chunk) for chunk in result.chunks] == [5, len(CASES) - 5]
    assert result.to_pylist() == EXPECTED
    large = pa.array(CASES, type=pa.large_string())
    assert validate_resident_id(large).to_pylist() == EXPECTED
    assert validate_resident_id(pa.array([], pa.string())).to_pylist() == []


def test_two_columns_chunked_differently() -> None:
    a = pa.chunked_array([["张伟", "王芳"], ["李", None]])
    b = pa.chunked_array([["张玮"], ["王芳", "李", "刘"]])
    assert levenshtein(a, b).to_pylist() == [1, 0, 0, -1]


def test_dask_series_is_mapped_lazily() -> None:
    values = pd.Series(CASES, index=range(10, 10 + len(CASES)), dtype="str")
    lazy = dd.from_pandas(values, npartitions=3)
    codes = validate_resident_id(lazy)
    assert isinstance(codes, dd.Series)
    assert codes.dtype == np.int8
    pd.testing.assert_series_equal(codes.compute(), validate_resident_id(values))
    fields = resident_id_fields(lazy)
    assert isinstance(fields, dd.DataFrame)
    pd.testing.assert_frame_equal(fields.compute(), resident_id_fields(values))
    keys = pack_resident_id(lazy)
    pd.testing.assert_series_equal(unpack_resident_id(keys).compute(),
                                   unpack_resident_id(pack_resident_id(values)))
    names = dd.from_pandas(pd.Series(["张伟", None, "abc"] * 3), npartitions=2)
    pd.testing.assert_series_equal(
        jaro_winkler(names, names).compute(), jaro_winkler(names.compute(), names.compute())
    )


def test_uscc_kinds() -> None:
    cases = kernel_cases.USCC_CASES
    values = pd.Series(cases, index=range(100, 100 + len(cases)))
    keys = pack_uscc(values)
    assert isinstance(keys, pd.DataFrame) and keys.index.equals(values.index)
    table = pack_uscc(pa.array(kernel_cases.USCC_CASES))
    assert isinstance(table, pa.Table) and table.column_names == ["high", "low"]
    text = unpack_uscc(table["high"], table["low"])
    assert isinstance(text, pa.ChunkedArray)
    assert validate_uscc(text).to_pylist() == [0 if v else 1 for v in text.to_pylist()]
    lazy = pack_uscc(dd.from_pandas(values, npartitions=2))
    pd.testing.assert_frame_equal(lazy.compute(), keys)


def test_unpack_takes_every_key_kind() -> None:
    keys = [11010519491231002, -1]
    expected = ["11010519491231002X", None]
    assert unpack_resident_id(np.array(keys)).to_pylist() == expected
    assert unpack_resident_id(pa.array([keys[0], None])).to_pylist() == expected
    result = unpack_resident_id(pd.Series([keys[0], None], dtype="Int64", index=[3, 4]))
    assert result.dtype == "str" and result.index.tolist() == [3, 4]
    assert result.iloc[0] == expected[0] and pd.isna(result.iloc[1])


def test_a_foreign_input_is_refused() -> None:
    with pytest.raises(TypeError, match="expected a pandas, pyarrow, cuDF or Dask"):
        validate_resident_id(["11010519491231002X"])


@pytest.mark.gpu
def test_cudf_series_matches_pandas() -> None:
    cudf = pytest.importorskip("cudf")
    values = pd.Series(CASES, index=INDEX, dtype="str")
    on_device = cudf.from_pandas(values)
    codes = validate_resident_id(on_device)
    assert isinstance(codes, cudf.Series)
    assert codes.to_numpy().tolist() == EXPECTED
    keys = pack_resident_id(on_device)
    assert unpack_resident_id(keys).to_pandas().tolist()[:2] == [
        "11010519491231002X", "11010519491231002X"
    ]
    names = cudf.Series(["张伟", None, "abc"])
    assert levenshtein(names, names).to_numpy().tolist() == [0, -1, 0]


def _index_inputs() -> dict[str, pd.Series]:
    """The columns the kernels take (see compute.doctor.KERNEL_INPUTS), equally long, on one
    shuffled index with a repeated label."""
    rows = len(CASES)
    index = pd.Index([7, 7, *range(3 * (rows - 2), 0, -3)], name="row")

    def column(values: list, name: str) -> pd.Series:
        return pd.Series([values[i % len(values)] for i in range(rows)], index=index,
                         name=name, dtype="str")

    ids = column(CASES, "resident_id")
    usccs = column(kernel_cases.USCC_CASES, "uscc")
    high_low = pack_uscc(usccs)
    return {
        "ids": ids,
        "keys": pack_resident_id(ids),
        "usccs": usccs,
        "high": high_low["high"],
        "low": high_low["low"],
        "a": column([a for a, _ in kernel_cases.NAME_PAIRS], "name"),
        "b": column([b for _, b in kernel_cases.NAME_PAIRS], "registry_name"),
    }


def test_index_cases_cover_every_public_kernel() -> None:
    assert sorted(KERNEL_INPUTS) == sorted(kernels.__all__)


@pytest.mark.parametrize("name", sorted(KERNEL_INPUTS))
def test_every_kernel_keeps_the_pandas_index(name: str) -> None:
    inputs = _index_inputs()
    result = apply_kernel(name, inputs)
    assert result.index.equals(inputs["ids"].index) and result.index.name == "row"
    if isinstance(result, pd.Series):  # named after its first input, as pandas names it
        assert result.name == inputs[KERNEL_INPUTS[name][0]].name


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(KERNEL_INPUTS))
def test_every_kernel_keeps_the_cudf_index_and_matches_pandas(name: str) -> None:
    cudf = pytest.importorskip("cudf")
    inputs = _index_inputs()
    expected = apply_kernel(name, inputs)
    result = apply_kernel(name, {key: cudf.from_pandas(s) for key, s in inputs.items()})
    assert isinstance(result, (cudf.Series, cudf.DataFrame))
    assert result.index.name == "row"
    assert kernel_difference(expected, result) is None  # the same index, values bit for bit


def test_a_kernel_compiles_once_per_offset_width() -> None:
    # numba compiles a kernel once per argument type, and an array's being writable is part
    # of it: columns over writable buffers and over read-only bytes (as a column received
    # from another worker is), with and without nulls, reach the same compile; only
    # string's int32 and large_string's int64 offsets differ
    from kernels._registry import CPU, compiled
    from kernels.resident_id import validate_rows

    def over_bytes(array: pa.Array) -> pa.Array:
        buffers = [None if b is None else pa.py_buffer(b.to_pybytes()) for b in array.buffers()]
        return pa.Array.from_buffers(array.type, len(array), buffers, array.null_count)

    present = [value for value in CASES if value is not None]
    for kind in (pa.string(), pa.large_string()):
        for values in ([None, *present], present):
            built = pa.array(values, kind)
            assert validate_resident_id(over_bytes(built)) == validate_resident_id(built)
    assert len(compiled(validate_rows, CPU).signatures) == 2
