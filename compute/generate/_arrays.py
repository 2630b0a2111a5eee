"""Vectorised building blocks: strings from character matrices, dates as day numbers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

DAY = np.timedelta64(1, "D")


def codepoints(text: str) -> np.ndarray:
    """The code points of ``text`` as int32."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.int32).copy()


def strings_from_codepoints(matrix: np.ndarray) -> pa.StringArray:
    """One string per row of a code point matrix; 0 marks no character.

    Every character must lie in the Basic Multilingual Plane (U+0001..U+FFFF, surrogates
    excluded: 1 to 3 bytes in UTF-8), so the UTF-8 bytes are built by array arithmetic and
    handed to Arrow as buffers.
    """
    matrix = np.asarray(matrix, dtype=np.int32)
    present = matrix != 0
    chars = matrix[present]
    if chars.size and (chars.min() < 0 or chars.max() > 0xFFFF
                       or np.any((chars >= 0xD800) & (chars < 0xE000))):
        raise ValueError("strings_from_codepoints handles characters U+0001..U+FFFF only")
    offsets = np.zeros(len(matrix) + 1, dtype=np.int32)
    if not chars.size or chars.min() >= 0x800:  # names: 3 bytes each, the common case
        data = np.empty((chars.size, 3), dtype=np.uint8)
        data[:, 0] = 0xE0 | (chars >> 12)
        data[:, 1] = 0x80 | ((chars >> 6) & 0x3F)
        data[:, 2] = 0x80 | (chars & 0x3F)
        np.cumsum(present.sum(axis=1) * 3, out=offsets[1:])
        return pa.StringArray.from_buffers(
            len(matrix), pa.py_buffer(offsets), pa.py_buffer(data.reshape(-1))
        )
    size = 1 + (chars >= 0x80).astype(np.int64) + (chars >= 0x800)
    start = np.cumsum(size) - size
    data = np.empty(int(size.sum()), dtype=np.uint8)
    data[start] = np.select([size == 1, size == 2], [chars, 0xC0 | (chars >> 6)],
                            0xE0 | (chars >> 12))
    two, three = size == 2, size == 3
    data[start[two] + 1] = 0x80 | (chars[two] & 0x3F)
    data[start[three] + 1] = 0x80 | ((chars[three] >> 6) & 0x3F)
    data[start[three] + 2] = 0x80 | (chars[three] & 0x3F)
    row_bytes = np.zeros(matrix.shape, dtype=np.int64)
    row_bytes[present] = size
    np.cumsum(row_bytes.sum(axis=1), out=offsets[1:])
    return pa.StringArray.from_buffers(len(matrix), pa.py_buffer(offsets), pa.py_buffer(data))


def strings_from_bytes(matrix: np.ndarray) -> pa.StringArray:
    """One ASCII string per row of a (rows, width) uint8 matrix."""
    rows, width = matrix.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(
        rows, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix).reshape(-1))
    )


def string_bytes(array: pa.Array | pa.ChunkedArray, width: int) -> np.ndarray:
    """The (rows, width) uint8 matrix of an array of ASCII strings all ``width`` long."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = array.cast(pa.string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset:][: len(array) + 1]
    if not np.all(np.diff(offsets) == width):
        raise ValueError(f"expected strings of {width} characters")
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    return data[offsets[0]: offsets[-1]].reshape(len(array), width).copy()


def with_rows(array: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """``array`` with its elements at the distinct positions ``rows`` replaced by ``values``."""
    index = np.arange(len(array), dtype=np.int64)
    index[rows] = len(array) + np.arange(len(rows))
    return pa.concat_arrays([array, values.cast(array.type)]).take(pa.array(index))


def date_parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month (1-12) and day (1-31) of datetime64[D] values."""
    months = days.astype("datetime64[M]")
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    return years, months.astype(np.int64) % 12 + 1, (days - months).astype(np.int64) + 1


def month_index(days: np.ndarray, year: int) -> np.ndarray:
    """Months since January of ``year`` (0 = January) of datetime64[D] values."""
    return days.astype("datetime64[M]").astype(np.int64) - (year - 1970) * 12


def dates(values: np.ndarray) -> pa.Array:
    """A date32 Arrow array from datetime64[D] values."""
    return pa.array(values.astype("datetime64[D]"), type=pa.date32())
