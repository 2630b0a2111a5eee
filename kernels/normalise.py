"""Identifiers as they should have been written: resident IDs and USCCs normalised.

Before they are validated and matched, identifiers are read as follows (the validating and
packing kernels do the same, row by row):

- surrounding whitespace removed: any Unicode White_Space, the ideographic space U+3000 and
  the no-break space included; whitespace inside stays (and makes the identifier invalid);
- full-width digits read as ASCII, and full-width letters: X and x for a resident ID, every
  letter for a USCC;
- lower case read as upper case: x for a resident ID, every letter for a USCC;
- a legacy 15-digit resident ID (15 ASCII digits after the steps before) becomes 18 digits:
  "19" before the two-digit year and the GB 11643-1999 check character appended.

The result has one row per input row, null for null; an identifier still invalid after
normalising comes back normalised all the same. Two passes per chunk: the normalised byte
lengths (so the offsets), then the bytes.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from kernels._buffers import StringBuffers
from kernels._convert import FixedStrings, Output, map_strings
from kernels._registry import device, first_row, kernel, row_step, run
from kernels._strings import is_valid, write_normalised
from kernels._unpack import array_module
from kernels.resident_id import normalised_id
from kernels.uscc import normalised_code


@device
def normalised_row(offsets, chars, i, resident):
    """:func:`kernels.resident_id.normalised_id` (``resident``) or
    :func:`kernels.uscc.normalised_code` of row ``i``."""
    if resident:
        return normalised_id(chars, offsets[i], offsets[i + 1])
    return normalised_code(chars, offsets[i], offsets[i + 1])


@kernel
def size_rows(offsets, chars, mask, mask_offset, resident, sizes, valid):
    for i in range(first_row(), valid.size, row_step()):
        valid[i] = is_valid(mask, mask_offset, i)
        sizes[i] = 0
        if valid[i]:
            _, _, _, size, _, _, _ = normalised_row(offsets, chars, i, resident)
            sizes[i] = size


@kernel
def write_rows(offsets, chars, mask, mask_offset, resident, out_offsets, out_chars):
    for i in range(first_row(), out_offsets.size - 1, row_step()):
        if is_valid(mask, mask_offset, i):
            start, end, count, size, w0, w1, w2 = normalised_row(offsets, chars, i, resident)
            write_normalised(
                chars, start, end, not resident, count, size, w0, w1, w2,
                out_chars, out_offsets[i],
            )


def byte_lengths(buffers: StringBuffers, resident: bool) -> tuple[Any, Any]:
    """(byte length int64, valid bool) of one chunk's normalised identifiers: resident IDs
    when ``resident``, else USCCs; host or device arrays."""
    n = len(buffers)
    lengths, valid = run(size_rows, (*buffers.args, resident), [(n, np.int64), (n, np.bool_)])
    return lengths, valid


def write_chars(buffers: StringBuffers, resident: bool, offsets: Any) -> Any:
    """The chars (uint8) of one chunk's normalised identifiers at ``offsets`` (n + 1, from
    :func:`byte_lengths`); host or device array."""
    total = int(offsets[-1])
    # On the GPU the launch is sized by the chars; the grid-stride loop covers every row.
    (chars,) = run(write_rows, (*buffers.args, resident, offsets), [(total, np.uint8)])
    return chars


def normalised(buffers: StringBuffers, resident: bool) -> tuple[Any, Any, Any]:
    """(chars uint8, offsets, valid bool) of one chunk's normalised identifiers: resident IDs
    when ``resident``, else USCCs; host or device arrays. The offsets are int32 unless the
    chars need int64."""
    lengths, valid = byte_lengths(buffers, resident)
    xp = array_module(lengths)
    # cupy reads a numba device array in place.
    ends = xp.cumsum(xp.asarray(lengths))
    offset_type = np.int32 if len(ends) == 0 or int(ends[-1]) < 2**31 else np.int64
    offsets = xp.concatenate((xp.zeros(1, offset_type), ends.astype(offset_type)))
    return write_chars(buffers, resident, offsets), offsets, valid


def _chunk(resident: bool, buffers: StringBuffers) -> Output:
    chars, offsets, valid = normalised(buffers, resident)
    # A string column: FixedStrings' byte buffer here is the flat chars the offsets index.
    return Output({"": FixedStrings(chars, offsets)}, valid=valid)


def normalise_resident_id(values: Any) -> Any:
    """The normalised resident ID of each row (see the module docstring); null for null.

    Strings of the kind of ``values`` (pandas ``str`` Series, pyarrow, cuDF, Dask), aligned
    with it. A valid ID comes back as its 18 characters, with an upper-case X.
    """
    return map_strings(partial(_chunk, True), values)


def normalise_uscc(values: Any) -> Any:
    """The normalised USCC of each row (see the module docstring); null for null.

    Strings of the kind of ``values`` (pandas ``str`` Series, pyarrow, cuDF, Dask), aligned
    with it.
    """
    return map_strings(partial(_chunk, False), values)
