"""Keyed pseudonyms of resident IDs: a keyed permutation of the valid packed keys.

A pseudonym is the packed key (see :mod:`kernels.resident_id`) of another *valid* resident
ID, so a masked column still packs, validates and joins through the same kernels, and two
tables pseudonymised with one key join exactly as their raw IDs did; distinct IDs never
share a pseudonym (a permutation has no collisions). Most pseudonyms carry a birth year
after today (the permuted dates span 1900-9999), which marks them as not real people.

How, in the manner of FF1 (NIST SP 800-38G):

1. rank: a valid key is (province, 4 more division digits, birth date, order code); its
   rank numbers those in mixed radix, a bijection onto [0, N) with N = 35 provinces x 10**4
   x the days of 1900-01-01 .. 9999-12-31 x 10**3 (about 1.04 * 10**15);
2. a balanced Feistel network of :data:`ROUNDS` rounds over [0, H) x [0, H), H**2 >= N,
   with modular addition (as FF1's), whose round function is SipHash-2-4, a keyed PRF,
   under a 128-bit key per round; cycle walking (apply again while the result is >= N)
   keeps it a permutation of [0, N) (a walk happens for about 1 rank in 10**7);
3. unrank the result back to a valid key.

With a PRF per round, known (ID, pseudonym) pairs tell nothing about other IDs' pseudonyms
(Luby-Rackoff; FF1 uses the same 10 rounds). The reduction of a 64-bit SipHash output
mod H (H < 2**25) is biased by under 2**-39, which is negligible. The round keys are
derived from a purpose key with HKDF-SHA256 (:func:`purpose_key` derives that from the
hub's secret and the purpose name), so each purpose has its own, unrelated permutation.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kernels._convert import Output, map_keys
from kernels._registry import device, first_row, kernel, row_step, run
from kernels._unpack import array_module
from kernels.resident_id import PROVINCES, days_since_epoch, is_birth_date

ROUNDS = 10
MIN_SECRET_BYTES = 16
PURPOSE_KEY_BYTES = 32

# Province code -> its index among the real province codes, -1 for any other two digits.
PROVINCE_CODES = np.flatnonzero(PROVINCES).astype(np.int64)
PROVINCE_INDEX = np.full(100, -1, dtype=np.int64)
PROVINCE_INDEX[PROVINCE_CODES] = np.arange(len(PROVINCE_CODES))
FIRST_DAY = days_since_epoch(1900, 1, 1)  # the earliest valid birth date, in days since 1970
DAYS = days_since_epoch(10000, 1, 1) - FIRST_DAY  # 1900-01-01 .. 9999-12-31
DOMAIN = len(PROVINCE_CODES) * 10**4 * DAYS * 10**3  # N: the number of valid keys
HALF = math.isqrt(DOMAIN - 1) + 1  # H: the smallest H with H * H >= N
HALF_U = np.uint64(HALF)

# SipHash's initialisation constants ("somepseudorandomlygeneratedbytes").
SIP0 = np.uint64(0x736F6D6570736575)
SIP1 = np.uint64(0x646F72616E646F6D)
SIP2 = np.uint64(0x6C7967656E657261)
SIP3 = np.uint64(0x7465646279746573)
# The last block of an 8-byte message: its length (8) in the top byte.
EIGHT_BYTES = np.uint64(8 << 56)
FINAL = np.uint64(0xFF)
# Every shift count is a uint64: numba types unsigned-with-signed arithmetic as float64.
R13, R16, R17, R21, R32 = (np.uint64(b) for b in (13, 16, 17, 21, 32))
BITS = np.uint64(64)


@device
def rotl(x, b):
    """``x`` rotated left by ``b`` bits (0 < b < 64)."""
    return (x << b) | (x >> (BITS - b))


@device
def sipround(v0, v1, v2, v3):
    """One SipRound (the SipHash paper, section 2)."""
    v0 += v1
    v1 = rotl(v1, R13) ^ v0
    v0 = rotl(v0, R32)
    v2 += v3
    v3 = rotl(v3, R16) ^ v2
    v0 += v3
    v3 = rotl(v3, R21) ^ v0
    v2 += v1
    v1 = rotl(v1, R17) ^ v2
    v2 = rotl(v2, R32)
    return v0, v1, v2, v3


@device
def compress(v0, v1, v2, v3, block):
    """Absorb one 8-byte ``block`` with two SipRounds (SipHash-2-4's "2")."""
    v3 ^= block
    for _ in range(2):
        v0, v1, v2, v3 = sipround(v0, v1, v2, v3)
    return v0 ^ block, v1, v2, v3


@device
def siphash24(k0, k1, message):
    """SipHash-2-4 under the key (k0, k1) of the 8-byte little-endian ``message`` (uint64s)."""
    v0 = k0 ^ SIP0
    v1 = k1 ^ SIP1
    v2 = k0 ^ SIP2
    v3 = k1 ^ SIP3
    v0, v1, v2, v3 = compress(v0, v1, v2, v3, message)
    v0, v1, v2, v3 = compress(v0, v1, v2, v3, EIGHT_BYTES)
    v2 ^= FINAL
    for _ in range(4):
        v0, v1, v2, v3 = sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


@device
def round_value(round_keys, r, half):
    """Round ``r``'s PRF of one half, reduced to [0, H)."""
    return np.int64(siphash24(round_keys[r, 0], round_keys[r, 1], np.uint64(half)) % HALF_U)


@device
def feistel(x, round_keys, inverse):
    """The Feistel permutation of [0, H * H) (or its inverse) at ``x``."""
    left = x // HALF
    right = x % HALF
    if inverse:
        for r in range(ROUNDS - 1, -1, -1):
            left, right = (right - round_value(round_keys, r, left)) % HALF, left
    else:
        for r in range(ROUNDS):
            left, right = right, (left + round_value(round_keys, r, right)) % HALF
    return left * HALF + right


@device
def civil_date(days):
    """(year, month, day) of a day count since 1970-01-01 (H. Hinnant's civil_from_days)."""
    z = days + 719468
    era = z // 146097
    day_of_era = z - era * 146097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153  # from March
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    year = year_of_era + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


@device
def rank(key):
    """The rank in [0, N) of a packed key, or -1 when it is not a valid ID's key."""
    if key < 0 or key >= 10**17:
        return -1
    division = key // 10**11
    province = PROVINCE_INDEX[division // 10**4]
    date = key // 1000 % 10**8
    year = date // 10**4
    month = date // 100 % 100
    day = date % 100
    if province < 0 or not is_birth_date(year, month, day):
        return -1
    place = province * 10**4 + division % 10**4
    return (place * DAYS + days_since_epoch(year, month, day) - FIRST_DAY) * 1000 + key % 1000


@device
def unrank(value):
    """The packed key of rank ``value`` in [0, N)."""
    order = value % 1000
    value //= 1000
    year, month, day = civil_date(value % DAYS + FIRST_DAY)
    place = value // DAYS
    division = PROVINCE_CODES[place // 10**4] * 10**4 + place % 10**4
    return ((division * 10**4 + year) * 10**4 + month * 100 + day) * 1000 + order


@device
def pseudonym_row(key, round_keys, inverse):
    """The pseudonym of one packed key (its preimage when ``inverse``); -1 stays -1."""
    value = rank(key)
    if value < 0:
        return -1
    # Cycle walking: the permutation of [0, H * H) restricted to [0, N) by stepping on.
    value = feistel(value, round_keys, inverse)
    while value >= DOMAIN:
        value = feistel(value, round_keys, inverse)
    return unrank(value)


@kernel
def pseudonym_rows(keys, round_keys, inverse, out):
    for i in range(first_row(), out.size, row_step()):
        out[i] = pseudonym_row(keys[i], round_keys, inverse)


def purpose_key(secret: bytes, purpose: str) -> bytes:
    """The 32-byte pseudonym key of ``purpose``, derived from the hub's ``secret`` (HKDF).

    One key per purpose: pseudonyms join across the tables of one purpose and not across
    purposes. ``secret`` must hold at least 16 random bytes.
    """
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the hub secret must be at least {MIN_SECRET_BYTES} bytes")
    if not purpose:
        raise ValueError("a pseudonym key needs a purpose")
    info = b"govgrid pseudonym purpose v1:" + purpose.encode()
    return _hkdf(secret, info, PURPOSE_KEY_BYTES)


@functools.lru_cache(maxsize=64)
def round_keys(key: bytes) -> np.ndarray:
    """The (ROUNDS, 2) uint64 SipHash keys of the Feistel rounds under a purpose ``key``."""
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a pseudonym key must be at least {MIN_SECRET_BYTES} bytes")
    # The domain is in the label, so a change of domain cannot reuse round keys.
    info = f"govgrid feistel v1 rounds={ROUNDS} domain={DOMAIN}".encode()
    material = _hkdf(key, info, 16 * ROUNDS)
    keys = np.frombuffer(material, dtype="<u8").reshape(ROUNDS, 2).astype(np.uint64)
    keys.flags.writeable = False
    return keys


def _hkdf(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def permute(keys: Any, rounds: Any, inverse: bool = False) -> Any:
    """Pseudonyms (or, ``inverse``, preimages) of one chunk of int64 keys; host or device.

    ``rounds`` is :func:`round_keys`' array, on the device when ``keys`` are.
    """
    (out,) = run(pseudonym_rows, (keys, rounds, inverse), [(len(keys), np.int64)])
    return out


def pseudonymise_keys(keys: Any, key: bytes) -> Any:
    """The pseudonym of each packed resident-ID key under the purpose ``key``.

    A pseudonym is the packed key of another valid ID (unpack it with
    ``unpack_resident_id`` for an 18-character pseudonymous ID); -1 (or null), and any
    key that is not a valid ID's, gives -1. Same kind as ``keys`` (pandas, pyarrow, cuDF,
    Dask; numpy gives pyarrow, cupy gives cuDF), aligned with it.
    """
    return map_keys(functools.partial(_chunk, round_keys(key), False), keys)


def unpseudonymise_keys(pseudonyms: Any, key: bytes) -> Any:
    """The packed keys whose pseudonyms under ``key`` are ``pseudonyms`` (for stewards)."""
    return map_keys(functools.partial(_chunk, round_keys(key), True), pseudonyms)


def _chunk(rounds: np.ndarray, inverse: bool, keys: Any) -> Output:
    return Output({"": permute(keys, array_module(keys).asarray(rounds), inverse)})
