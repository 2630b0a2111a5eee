"""Unified Social Credit Codes (GB 32100-2015): validate, pack to two int64, unpack.

18 characters over ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (31 symbols, I O S V Z left out);
characters 3-8 are the division code, in digits; the last is the check character:
alphabet[(31 - sum of value x 3^i mod 31) mod 31]. The 17 leading characters pack in base 31,
the first 8 into ``high`` and the last 9 into ``low``, so an employer join is an integer join.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels._buffers import StringBuffers
from kernels._convert import FixedStrings, Output, map_keys, map_strings
from kernels._registry import device, first_row, kernel, row_step, run
from kernels._strings import misplaced_code, shape_code
from kernels._unpack import FixedCode, array_module, unpack

LENGTH = 18
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
BASE = len(ALPHABET)
WEIGHTS = np.array([3**i % BASE for i in range(LENGTH - 1)], dtype=np.int64)
HIGH_DIGITS = 8
# The value of each byte in the alphabet, -1 for every other byte.
VALUES = np.full(256, -1, dtype=np.int64)
VALUES[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(BASE)
# Base-31 place value of each character within its part (high: 8, low: 9 characters).
PLACES = np.array(
    [BASE ** (HIGH_DIGITS - 1 - k) for k in range(HIGH_DIGITS)]
    + [BASE ** (LENGTH - 2 - k) for k in range(HIGH_DIGITS, LENGTH - 1)],
    dtype=np.int64,
)

CODE = FixedCode(
    base=BASE,
    parts=(HIGH_DIGITS, LENGTH - 1 - HIGH_DIGITS),
    alphabet=ALPHABET.encode(),
    weights=tuple(int(w) for w in WEIGHTS),
    modulus=BASE,
    check_table="".join(ALPHABET[(BASE - r) % BASE] for r in range(BASE)).encode(),
)


@device
def validate_pack_row(offsets, chars, mask, mask_offset, i):
    """(code, high, low) of row ``i``: the validation code and the two keys (-1 unless 0)."""
    code = shape_code(offsets, chars, mask, mask_offset, i, LENGTH)
    if code != 0:
        return code, -1, -1
    start = offsets[i]
    high = 0
    low = 0
    total = 0
    bad = False
    for k in range(LENGTH - 1):
        value = VALUES[chars[start + k]]
        bad |= value < 0
        if k < HIGH_DIGITS:
            high += value * PLACES[k]
        else:
            low += value * PLACES[k]
        total += value * WEIGHTS[k]
    check = VALUES[chars[start + LENGTH - 1]]
    if bad or check < 0:
        return misplaced_code(chars, start, start + LENGTH), -1, -1
    for k in range(start + 2, start + 8):
        if chars[k] < 48 or chars[k] > 57:
            return 4, -1, -1
    if (BASE - total % BASE) % BASE != check:
        return 5, -1, -1
    return 0, high, low


@kernel
def validate_pack_rows(offsets, chars, mask, mask_offset, codes, highs, lows):
    for i in range(first_row(), codes.size, row_step()):
        code, high, low = validate_pack_row(offsets, chars, mask, mask_offset, i)
        codes[i] = code
        highs[i] = high
        lows[i] = low


def validate_and_pack(buffers: StringBuffers) -> tuple[Any, Any, Any]:
    """(codes int8, high int64, low int64) of one chunk, in one pass; host or device arrays."""
    n = len(buffers)
    outputs = [(n, np.int8), (n, np.int64), (n, np.int64)]
    codes, highs, lows = run(validate_pack_rows, buffers.args, outputs)
    return codes, highs, lows


def validate_uscc(values: Any) -> Any:
    """Validation code per USCC (int8), the first failure in this order:

    0 valid, 1 null, 2 length not 18, 3 a character outside the alphabet (lower case too),
    4 characters 3-8 (the division code) not six digits, 5 wrong check character.
    Same kind as ``values`` (pandas, pyarrow, cuDF, Dask), aligned with it.
    """
    return map_strings(lambda buffers: Output({"": validate_and_pack(buffers)[0]}), values)


def pack_uscc(values: Any) -> Any:
    """Two int64 keys per USCC, ``high`` (characters 1-8) and ``low`` (9-17), -1 if invalid.

    A DataFrame (pandas, same index), a pyarrow Table, a cuDF DataFrame; Dask alike.
    """
    return map_strings(_pack_chunk, values)


def _pack_chunk(buffers: StringBuffers) -> Output:
    _, highs, lows = validate_and_pack(buffers)
    return Output({"high": highs, "low": lows}, frame=True)


def unpack_uscc(high: Any, low: Any) -> Any:
    """The 18-character USCCs of packed keys, check character recomputed.

    Null where a key is -1 (or out of range). Strings of the keys' kind, as
    :func:`kernels.unpack_resident_id`.
    """
    return map_keys(_unpack_chunk, high, low)


def _unpack_chunk(high: Any, low: Any) -> Output:
    matrix, offsets, valid = unpack(CODE, [high, low], array_module(high))
    return Output({"": FixedStrings(matrix, offsets)}, valid=valid)
