"""Unified Social Credit Codes (GB 32100-2015): validate, pack to two int64, unpack.

18 characters over ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (31 symbols, I O S V Z left out);
characters 3-8 are the division code, in digits; the last is the check character:
alphabet[(31 - sum of value x 3^i mod 31) mod 31]. The 17 leading characters pack in base 31,
the first 8 into ``high`` and the last 9 into ``low``, so an employer join is an integer join.

Every function reads a code normalised first (:func:`kernels.normalise_uscc` gives the
string): surrounding Unicode White_Space removed, full-width digits and letters read as
ASCII, lower case as upper case.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels._buffers import StringBuffers
from kernels._convert import FixedStrings, Output, map_keys, map_strings
from kernels._registry import device, first_row, kernel, row_step, run
from kernels._strings import is_valid, load_words, scan, trim, word_byte
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
def validate_words(w0, w1, w2):
    """(code, high, low) of the 18 ASCII characters in the words of
    :func:`kernels._strings.scan`: code 0 or 3-5 (see :func:`validate_uscc`), keys -1 unless 0.
    """
    high = 0
    low = 0
    total = 0
    bad = False
    for k in range(LENGTH - 1):
        value = VALUES[word_byte(w0, w1, w2, k)]
        bad |= value < 0
        if k < HIGH_DIGITS:
            high += value * PLACES[k]
        else:
            low += value * PLACES[k]
        total += value * WEIGHTS[k]
    check = VALUES[word_byte(w0, w1, w2, LENGTH - 1)]
    if bad or check < 0:
        return 3, -1, -1
    for k in range(2, 8):
        if not 48 <= word_byte(w0, w1, w2, k) <= 57:
            return 4, -1, -1
    if (BASE - total % BASE) % BASE != check:
        return 5, -1, -1
    return 0, high, low


@device
def normalised_code(chars, start, end):
    """The normalised USCC of ``chars[start:end]``: (start, end, code points, bytes, w0, w1,
    w2) with the trimmed range and :func:`kernels._strings.scan`'s results."""
    start, end = trim(chars, start, end)
    count, size, w0, w1, w2 = scan(chars, start, end, True)
    return start, end, count, size, w0, w1, w2


@device
def validate_pack_row(offsets, chars, mask, mask_offset, i):
    """(code, high, low) of row ``i``: the validation code and the two keys (-1 unless 0)."""
    if not is_valid(mask, mask_offset, i):
        return 1, -1, -1
    start = offsets[i]
    end = offsets[i + 1]
    if end - start == LENGTH:
        # 18 bytes in the alphabet: validated in place, nothing to normalise.
        w0, w1, w2 = load_words(chars, start, LENGTH)
        code, high, low = validate_words(w0, w1, w2)
        if code != 3:
            return code, high, low
    _, _, count, size, w0, w1, w2 = normalised_code(chars, start, end)
    if count != LENGTH:
        return 2, -1, -1
    if size != LENGTH:
        return 3, -1, -1
    return validate_words(w0, w1, w2)


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
    """Validation code per USCC (int8) after normalising it, the first failure in this order:

    0 valid, 1 null, 2 length not 18, 3 a character outside the alphabet,
    4 characters 3-8 (the division code) not six digits, 5 wrong check character.
    Same kind as ``values`` (pandas, pyarrow, cuDF, Dask), aligned with it.
    """
    return map_strings(lambda buffers: Output({"": validate_and_pack(buffers)[0]}), values)


def pack_uscc(values: Any) -> Any:
    """Two int64 keys per normalised USCC, ``high`` (characters 1-8) and ``low`` (9-17), -1
    if invalid.

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
