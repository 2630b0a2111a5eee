"""Packed keys back to fixed-length codes, vectorised over numpy or cupy arrays.

A code of ``n + 1`` characters is ``n`` digits in some base (packed into one or more
integer parts) plus a check character computed from weighted digit sums. Unpacking
writes a rows x (n + 1) byte matrix, one column per character, with whole-column array
operations (no per-row Python), so its memory is the Arrow chars buffer as it stands.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels._registry import on_device


@dataclass(frozen=True)
class FixedCode:
    """How a code is packed: ``parts`` digit counts (most significant part first)."""

    base: int
    parts: tuple[int, ...]
    alphabet: bytes  # character of each digit value
    weights: tuple[int, ...]  # one per digit
    modulus: int
    check_table: bytes  # check character of each (weighted sum mod modulus)

    @property
    def width(self) -> int:
        return sum(self.parts) + 1

    def part_limit(self, index: int) -> int:
        return self.base ** self.parts[index]


def array_module(array: Any) -> Any:
    """numpy for host arrays, cupy for device arrays."""
    if on_device(array):
        import cupy

        return cupy
    return np


def unpack(code: FixedCode, keys: Sequence[Any], xp: Any) -> tuple[Any, Any, Any]:
    """Return (chars matrix rows x width uint8, offsets int32/int64, valid bool) for ``keys``.

    ``keys`` holds one integer array per part, or a single array of the whole number (split
    here). A row whose parts are not all in range (-1 marks an invalid code) is null; its
    bytes are left as they fall, which Arrow allows under a null.
    """
    n = len(keys[0])
    valid = xp.empty(n, dtype=bool)
    matrix = xp.empty((n, code.width), dtype=np.uint8)
    # On the host, blocks of rows keep the temporaries in cache (fresh large arrays cost a
    # page fault per 4 KiB); on the device one block is fastest.
    block = n if xp is not np else HOST_BLOCK
    for first in range(0, n, block):
        rows = slice(first, first + block)
        parts = _split(code, [key[rows] for key in keys])
        valid[rows] = True
        for index, part in enumerate(parts):
            valid[rows] &= (part >= 0) & (part < code.part_limit(index))
        _unpack_block(code, parts, valid[rows], matrix[rows], xp)
    width = code.width
    offset_type = np.int32 if n * width < 2**31 else np.int64
    offsets = xp.arange(0, (n + 1) * width, width, dtype=offset_type)
    return matrix, offsets, valid


def _split(code: FixedCode, keys: list[Any]) -> list[Any]:
    """One array per part: ``keys`` as given, or the single whole number divided up."""
    if len(keys) == len(code.parts):
        return keys
    # Unsigned: a negative key becomes huge, so out of range like any other invalid key.
    whole = keys[0].astype(np.uint64)
    lower = []
    for count in reversed(code.parts[1:]):
        divisor = np.uint64(code.base**count)
        high = whole // divisor
        lower.append(whole - high * divisor)
        whole = high
    return [whole, *reversed(lower)]


HOST_BLOCK = 1 << 16


def _groups(code: FixedCode) -> list[tuple[int, int, int]]:
    """(part, first column, digits) of each step, least significant first per part.

    Two digits at a time wherever the pair starts at an even column, so it is one uint16
    of the matrix: half the array operations of one digit at a time.
    """
    groups = []
    begin = 0
    for index, count in enumerate(code.parts):
        end = begin + count
        while end > begin:
            size = 2 if end - begin >= 2 and (end - 2) % 2 == 0 else 1
            groups.append((index, end - size, size))
            end -= size
        begin += count
    return groups


@functools.cache
def _tables(code: FixedCode, first: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Characters (uint8, or uint16 little-endian pairs) and weighted sums of each value."""
    values = np.arange(code.base**size)
    digits = [values // code.base ** (size - 1 - k) % code.base for k in range(size)]
    alphabet = np.frombuffer(code.alphabet, dtype=np.uint8)
    chars = sum(alphabet[d].astype(np.uint16) << (8 * k) for k, d in enumerate(digits))
    sums = sum(d * code.weights[first + k] for k, d in enumerate(digits))
    return chars.astype(np.uint8 if size == 1 else np.uint16), sums.astype(np.uint32)


def _unpack_block(code: FixedCode, keys: Sequence[Any], valid: Any, matrix: Any, xp: Any) -> None:
    pairs = matrix.view(np.uint16)
    n = len(valid)
    total = xp.zeros(n, dtype=np.uint32)
    rests = []
    for index, part in enumerate(keys):
        dtype = np.uint32 if code.part_limit(index) <= 2**32 else np.uint64
        rests.append(xp.where(valid, part, 0).astype(dtype))
    for index, first, size in _groups(code):
        rest = rests[index]
        divisor = rest.dtype.type(code.base**size)
        # Unsigned floor division by a scalar is several times faster than divmod in numpy.
        quotient = rest // divisor
        value = rest - quotient * divisor
        rests[index] = quotient
        chars, sums = (xp.asarray(table) for table in _tables(code, first, size))
        if size == 1:
            matrix[:, first] = chars[value]
        else:
            pairs[:, first // 2] = chars[value]
        total += sums[value]
    check_table = xp.asarray(np.frombuffer(code.check_table, dtype=np.uint8))
    matrix[:, -1] = check_table[total % code.modulus]
