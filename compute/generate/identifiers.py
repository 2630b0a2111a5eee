"""Valid identifiers from their leading digits, through the ``kernels`` package.

The check characters are computed by ``kernels`` only (one implementation of the standards);
here the leading digits are assembled and the results turned into byte matrices, so planted
defects can change single characters with array operations.
"""

from __future__ import annotations

import numpy as np

import kernels
from compute.generate._arrays import string_bytes

ID_WIDTH = 18
USCC_ALPHABET = b"0123456789ABCDEFGHJKLMNPQRTUWXY"
CHECK_CHARS = b"0123456789X"  # the values a resident ID's check character can take
# kernels.unpack_uscc takes the 8 leading characters (authority, type, division) as one
# base-31 number and the 9 of the organisation code as another.
USCC_HIGH_DIGITS = 8


def resident_id_key(county: np.ndarray, year: np.ndarray, month: np.ndarray, day: np.ndarray,
                    order: np.ndarray) -> np.ndarray:
    """The 17 leading digits of resident IDs as int64: county, birth date, order code."""
    birth = (year * 10000 + month * 100 + day).astype(np.int64)
    return county.astype(np.int64) * 10**11 + birth * 1000 + order


def resident_ids(keys: np.ndarray) -> np.ndarray:
    """(rows, 18) uint8 matrix of the resident IDs of ``keys``, check character included."""
    return string_bytes(kernels.unpack_resident_id(keys), ID_WIDTH)


def usccs(digits: np.ndarray) -> np.ndarray:
    """(rows, 18) uint8 matrix of the USCCs whose 17 leading base-31 digits are ``digits``."""
    digits = digits.astype(np.int64)
    high = _base31(digits[:, :USCC_HIGH_DIGITS])
    low = _base31(digits[:, USCC_HIGH_DIGITS:])
    return string_bytes(kernels.unpack_uscc(high, low), ID_WIDTH)


def _base31(digits: np.ndarray) -> np.ndarray:
    value = np.zeros(len(digits), dtype=np.int64)
    for column in range(digits.shape[1]):
        value = value * 31 + digits[:, column]
    return value


def wrong_check(rng: np.random.Generator, check: np.ndarray) -> np.ndarray:
    """A check character different from each of ``check`` (bytes of valid resident IDs)."""
    value = np.full(256, -1, dtype=np.int64)
    value[np.frombuffer(CHECK_CHARS, dtype=np.uint8)] = np.arange(len(CHECK_CHARS))
    shifted = (value[check] + rng.integers(1, len(CHECK_CHARS), len(check))) % len(CHECK_CHARS)
    return np.frombuffer(CHECK_CHARS, dtype=np.uint8)[shifted]


# --- resident IDs in the other written forms the departments hold -----------------------------
# Each form normalises back to the valid 18-character ID: whitespace stripped, full-width
# characters read as ASCII, a lower-case x read as X, a 15-digit legacy ID converted.

WHITESPACE = np.array([0x20, 0x09, 0x3000, 0xA0], dtype=np.int32)  # space, tab, U+3000, U+00A0
MAX_PADDING = 3  # whitespace characters on a side
FULLWIDTH_SHIFT = 0xFF10 - ord("0")  # '0'..'9' -> U+FF10..U+FF19
FULLWIDTH_X = np.array([0xFF38, 0xFF58], dtype=np.int32)  # Ｘ, ｘ
LEGACY_WIDTH = 15


def padded(rng: np.random.Generator, id_bytes: np.ndarray, leading: bool = True) -> np.ndarray:
    """Code point matrix of the IDs with 1-3 whitespace characters on one or both sides.

    Without ``leading`` only trailing whitespace is added (the ID then sorts after its
    canonical form, which is a prefix of it).
    """
    n = len(id_bytes)
    side = rng.integers(0, 3 if leading else 1, n)  # 0 trailing, 1 leading, 2 both
    left = np.where(side >= 1, rng.integers(1, MAX_PADDING + 1, n), 0)
    right = np.where(side != 1, rng.integers(1, MAX_PADDING + 1, n), 0)
    width = ID_WIDTH + 2 * MAX_PADDING
    column = np.arange(width)[None, :]
    inside = (column >= left[:, None]) & (column < (left + ID_WIDTH)[:, None])
    blank = ~inside & (column < (left + ID_WIDTH + right)[:, None])
    source = np.clip(column - left[:, None], 0, ID_WIDTH - 1)
    chars = np.take_along_axis(id_bytes, source, axis=1).astype(np.int32)
    spaces = WHITESPACE[rng.integers(0, len(WHITESPACE), (n, width))]
    return np.where(inside, chars, np.where(blank, spaces, 0))


def fullwidth(rng: np.random.Generator, id_bytes: np.ndarray) -> np.ndarray:
    """Code point matrix of the IDs with all (half of them) or some characters full-width.

    Digits become U+FF10..U+FF19 and X becomes Ｘ or ｘ; at least one character changes.
    """
    n = len(id_bytes)
    chars = id_bytes.astype(np.int32)
    wide = (rng.random((n, ID_WIDTH)) < 0.5) | (rng.random(n) < 0.5)[:, None]
    wide[np.arange(n), rng.integers(0, ID_WIDTH, n)] = True
    is_x = chars == ord("X")
    converted = np.where(is_x, FULLWIDTH_X[rng.integers(0, 2, (n, ID_WIDTH))],
                         chars + FULLWIDTH_SHIFT)
    return np.where(wide, converted, chars)


def lowercase(id_bytes: np.ndarray) -> np.ndarray:
    """The IDs with their check character X written as x (every ID must end in X)."""
    if not np.all(id_bytes[:, -1] == ord("X")):
        raise ValueError("lowercase takes IDs whose check character is X")
    out = id_bytes.copy()
    out[:, -1] = ord("x")
    return out


def legacy(id_bytes: np.ndarray) -> np.ndarray:
    """(rows, 15) bytes: the 15-digit IDs of people born 1900-1999 (no century, no check)."""
    if not np.all((id_bytes[:, 6] == ord("1")) & (id_bytes[:, 7] == ord("9"))):
        raise ValueError("legacy takes IDs of people born 1900-1999")
    return np.concatenate([id_bytes[:, :6], id_bytes[:, 8:ID_WIDTH - 1]], axis=1)
