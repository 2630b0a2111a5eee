"""String similarity row by row over two string columns: Jaro-Winkler and Levenshtein.

By Unicode code point, like rapidfuzz's ``JaroWinkler.similarity`` and
``Levenshtein.distance``: each pair is decoded from UTF-8 inside the kernel into a fixed
scratch row per thread. A pair with a string of more than :data:`MAX_CODE_POINTS` code
points (names are 2-4 characters) does not fit it and gets the null result, as a pair with
a null does; the other rows go on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernels._buffers import StringBuffers
from kernels._convert import Output, map_strings
from kernels._registry import Scratch, device, first_row, kernel, row_step, run
from kernels._strings import decode, is_valid

MAX_CODE_POINTS = 128
PREFIX_WEIGHT = 0.1
MAX_PREFIX = 4
# Jaro-Winkler boosts only pairs already this similar (Winkler's threshold, as rapidfuzz).
BOOST_THRESHOLD = 0.7
# Scratch per thread: both strings' code points, then match flags (Jaro) or a row (Levenshtein).
SCRATCH = Scratch(width=4 * MAX_CODE_POINTS + 1, dtype=np.int32)
JARO_WINKLER = 0
LEVENSHTEIN = 1


@device
def decode_pair(
    offsets_a, chars_a, mask_a, mask_offset_a,
    offsets_b, chars_b, mask_b, mask_offset_b,
    i, first, second,
):
    """Decode row ``i`` of two columns into ``first``/``second``: (decoded, length, length).

    Not decoded when a side is null or longer than its buffer.
    """
    if not is_valid(mask_a, mask_offset_a, i) or not is_valid(mask_b, mask_offset_b, i):
        return False, 0, 0
    length_a = decode(chars_a, offsets_a[i], offsets_a[i + 1], first)
    length_b = decode(chars_b, offsets_b[i], offsets_b[i + 1], second)
    return length_a <= first.size and length_b <= second.size, length_a, length_b


@device
def jaro_winkler_pair(a, length_a, b, length_b, flags_a, flags_b):
    """Jaro-Winkler similarity of code points ``a[:length_a]`` and ``b[:length_b]``."""
    if length_a == 0 and length_b == 0:
        return 1.0
    if length_a == 0 or length_b == 0:
        return 0.0
    window = max(length_a, length_b) // 2 - 1
    if window < 0:
        window = 0
    for k in range(length_a):
        flags_a[k] = 0
    for k in range(length_b):
        flags_b[k] = 0
    matches = 0
    for i in range(length_a):
        for j in range(max(0, i - window), min(length_b, i + window + 1)):
            if flags_b[j] == 0 and a[i] == b[j]:
                flags_a[i] = 1
                flags_b[j] = 1
                matches += 1
                break
    if matches == 0:
        return 0.0
    half_transpositions = 0
    j = 0
    for i in range(length_a):
        if flags_a[i] == 1:
            while flags_b[j] == 0:
                j += 1
            if a[i] != b[j]:
                half_transpositions += 1
            j += 1
    transpositions = half_transpositions // 2
    jaro = (
        matches / length_a + matches / length_b + (matches - transpositions) / matches
    ) / 3.0
    if jaro <= BOOST_THRESHOLD:
        return jaro
    prefix = 0
    while prefix < min(MAX_PREFIX, length_a, length_b) and a[prefix] == b[prefix]:
        prefix += 1
    return jaro + prefix * PREFIX_WEIGHT * (1.0 - jaro)


@device
def levenshtein_pair(a, length_a, b, length_b, row):
    """Levenshtein distance of code points ``a[:length_a]`` and ``b[:length_b]``."""
    for j in range(length_b + 1):
        row[j] = j
    for i in range(1, length_a + 1):
        diagonal = row[0]
        row[0] = i
        for j in range(1, length_b + 1):
            above = row[j]
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(above + 1, row[j - 1] + 1, diagonal + cost)
            diagonal = above
    return row[length_b]


@kernel
def pair_rows(
    offsets_a, chars_a, mask_a, mask_offset_a,
    offsets_b, chars_b, mask_b, mask_offset_b,
    metric, null, out, scratch,
):
    """``metric`` of every pair into ``out``; ``null`` where it has none."""
    work = scratch[first_row()]
    first = work[:MAX_CODE_POINTS]
    second = work[MAX_CODE_POINTS : 2 * MAX_CODE_POINTS]
    rest = work[2 * MAX_CODE_POINTS :]
    for i in range(first_row(), out.size, row_step()):
        decoded, length_a, length_b = decode_pair(
            offsets_a, chars_a, mask_a, mask_offset_a,
            offsets_b, chars_b, mask_b, mask_offset_b, i, first, second,
        )
        if not decoded:
            out[i] = null
        elif metric == JARO_WINKLER:
            flags_a = rest[:MAX_CODE_POINTS]
            flags_b = rest[MAX_CODE_POINTS : 2 * MAX_CODE_POINTS]
            out[i] = jaro_winkler_pair(first, length_a, second, length_b, flags_a, flags_b)
        else:
            out[i] = levenshtein_pair(first, length_a, second, length_b, rest)


def similarities(a: StringBuffers, b: StringBuffers) -> Any:
    """Jaro-Winkler similarity (float64, NaN where a side is null or too long) of one chunk's
    pairs."""
    return _pairs(a, b, JARO_WINKLER, np.nan, np.float64)


def distances(a: StringBuffers, b: StringBuffers) -> Any:
    """Levenshtein distance (int32, -1 where a side is null or too long) of one chunk's
    pairs."""
    return _pairs(a, b, LEVENSHTEIN, -1, np.int32)


def _pairs(a: StringBuffers, b: StringBuffers, metric: int, null: float, dtype: type) -> Any:
    (out,) = run(pair_rows, (*a.args, *b.args, metric, null), [(len(a), dtype)], SCRATCH)
    return out


def jaro_winkler(a: Any, b: Any) -> Any:
    """Jaro-Winkler similarity (float64; prefix scale 0.1, up to 4) of ``a`` and ``b`` row by
    row, by code point; NaN where either is null or longer than :data:`MAX_CODE_POINTS`.
    Same kind as ``a``, aligned with it."""
    return map_strings(lambda x, y: Output({"": similarities(x, y)}), a, b)


def levenshtein(a: Any, b: Any) -> Any:
    """Levenshtein distance (int32) of ``a`` and ``b`` row by row, by code point; -1 (the
    null of this integer column) where either is null or longer than
    :data:`MAX_CODE_POINTS`. Same kind as ``a``, aligned with it."""
    return map_strings(lambda x, y: Output({"": distances(x, y)}), a, b)
