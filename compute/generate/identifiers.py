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
