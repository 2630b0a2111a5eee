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

    Every character must lie in U+0800..U+FFFF (CJK, 3 bytes in UTF-8), so the UTF-8 bytes
    are built by array arithmetic and handed to Arrow as buffers.
    """
    matrix = np.asarray(matrix, dtype=np.int32)
    present = matrix != 0
    chars = matrix[present]
    if chars.size and (chars.min() < 0x800 or chars.max() > 0xFFFF):
        raise ValueError("strings_from_codepoints handles 3-byte UTF-8 characters only")
    data = np.empty((chars.size, 3), dtype=np.uint8)
    data[:, 0] = 0xE0 | (chars >> 12)
    data[:, 1] = 0x80 | ((chars >> 6) & 0x3F)
    data[:, 2] = 0x80 | (chars & 0x3F)
    offsets = np.zeros(len(matrix) + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1) * 3, out=offsets[1:])
    return pa.StringArray.from_buffers(
        len(matrix), pa.py_buffer(offsets), pa.py_buffer(data.reshape(-1))
    )


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
