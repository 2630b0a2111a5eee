"""The raw buffers of string columns, on the host (Arrow) and on the device (cuDF).

Kernels read strings as Arrow lays them out: ``offsets`` (n + 1 int32 or int64), ``chars``
(UTF-8 bytes) and an LSB-first validity bitmap. Nothing here copies string data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

_NO_MASK = np.empty(0, dtype=np.uint8)
_STRING_TYPES = (pa.string(), pa.large_string())


@dataclass(frozen=True)
class StringBuffers:
    """One string column's buffers, host or device arrays alike.

    ``offsets`` are sliced to the column's rows (n + 1 entries into ``chars``); ``mask`` is
    empty when no row is null, else the validity bitmap with row 0 at bit ``mask_offset``.
    """

    offsets: Any
    chars: Any
    mask: Any
    mask_offset: int

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def args(self) -> tuple[Any, Any, Any, int]:
        """The kernel arguments, in the order row functions take them."""
        return self.offsets, self.chars, self.mask, self.mask_offset


def arrow_buffers(array: pa.Array) -> StringBuffers:
    """The buffers of a pyarrow string or large_string array (any slice of one)."""
    if array.type not in _STRING_TYPES:
        array = array.cast(pa.large_string())
    validity, offsets, data = array.buffers()
    n = len(array)
    offset_type = np.int64 if array.type == pa.large_string() else np.int32
    # An empty array may have no offsets buffer at all.
    offsets = (
        np.frombuffer(offsets, dtype=offset_type)[array.offset : array.offset + n + 1]
        if offsets is not None and n
        else np.zeros(1, dtype=offset_type)
    )
    chars = np.frombuffer(data, dtype=np.uint8) if data is not None else _NO_MASK
    mask = np.frombuffer(validity, dtype=np.uint8) if array.null_count else _NO_MASK
    return StringBuffers(offsets, chars, mask, array.offset)


def arrow_strings(matrix: np.ndarray, offsets: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A pyarrow string array over a rows x width byte ``matrix``, null where not ``valid``."""
    n = len(valid)
    kind = pa.string() if offsets.dtype == np.int32 else pa.large_string()
    null_count = n - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if null_count else None
    return pa.Array.from_buffers(
        kind, n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(matrix)], null_count
    )


def cudf_buffers(series: Any) -> StringBuffers:
    """The device buffers of a cuDF string Series, zero-copy (cuDF 26.x).

    ``Series.to_pylibcudf()`` gives the column: ``data()`` is the chars, ``child(0)`` the
    offsets (INT32, or INT64 for large strings), ``null_mask()`` the validity bitmap (32-bit
    words, LSB first, so it reads the same as bytes), and ``offset()`` the first row of a
    sliced column in both offsets and mask.
    """
    import cupy
    import pylibcudf as plc

    column, _ = series.to_pylibcudf()
    offsets_column = column.child(0)
    offset_type = np.int64 if offsets_column.type().id() == plc.TypeId.INT64 else np.int32
    first = column.offset()
    offsets = _device_array(offsets_column.data(), offset_type)[first : first + column.size() + 1]
    data = column.data()
    chars = _device_array(data, np.uint8) if data is not None else cupy.empty(0, np.uint8)
    mask = _device_array(column.null_mask(), np.uint8) if column.null_count() else cupy.empty(
        0, np.uint8
    )
    return StringBuffers(offsets, chars, mask, first)


def _device_array(view: Any, dtype: type) -> Any:
    """A cupy array over a pylibcudf ``gpumemoryview``; ``view`` keeps the memory alive."""
    import cupy

    pointer = view.__cuda_array_interface__["data"][0]
    memory = cupy.cuda.UnownedMemory(pointer, view.nbytes, owner=view)
    size = view.nbytes // np.dtype(dtype).itemsize
    return cupy.ndarray(size, dtype, cupy.cuda.MemoryPointer(memory, 0))


def cudf_strings(matrix: Any, offsets: Any, valid: Any) -> Any:
    """A cuDF string Series over a device rows x width byte ``matrix``, null where not valid."""
    import cudf
    import pylibcudf as plc

    n = len(valid)
    offset_id = plc.TypeId.INT32 if offsets.dtype == np.int32 else plc.TypeId.INT64
    offsets_column = plc.Column(
        plc.DataType(offset_id), n + 1, plc.gpumemoryview(offsets), None, 0, 0, []
    )
    column = plc.Column(
        plc.DataType(plc.TypeId.STRING), n, plc.gpumemoryview(matrix.ravel()), None, 0, 0,
        [offsets_column],
    )
    # mask() writes a fresh column, so the null rows' leftover bytes do not travel on.
    return cudf.Series.from_pylibcudf(column).mask(cudf.Series(~valid))
