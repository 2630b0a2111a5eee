"""Keyed pseudonyms: SipHash against its reference vectors, a bijection on valid IDs, per key."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from kernels import pack_resident_id, unpack_resident_id, validate_resident_id
from kernels import pseudonym as ps
from kernels._registry import CPU, compiled

KEY = ps.purpose_key(b"hub secret: 32 random bytes here", "elderly-allowance-2026")
OTHER_KEY = ps.purpose_key(b"hub secret: 32 random bytes here", "pension-integrity-2026")

# SipHash-2-4 of the messages 00, 00 01, ... (0 to 63 bytes) under the key 00 01 .. 0f:
# the reference implementation's vectors.h (github.com/veorq/SipHash).
VECTORS = [
    0x726FDB47DD0E0E31, 0x74F839C593DC67FD, 0x0D6C8009D9A94F5A, 0x85676696D7FB7E2D,
    0xCF2794E0277187B7, 0x18765564CD99A68D, 0xCBC9466E58FEE3CE, 0xAB0200F58B01D137,
    0x93F5F5799A932462, 0x9E0082DF0BA9E4B0, 0x7A5DBBC594DDB9F3, 0xF4B32F46226BADA7,
    0x751E8FBC860EE5FB, 0x14EA5627C0843D90, 0xF723CA908E7AF2EE, 0xA129CA6149BE45E5,
    0x3F2ACC7F57C29BDB, 0x699AE9F52CBE4794, 0x4BC1B3F0968DD39C, 0xBB6DC91DA77961BD,
    0xBED65CF21AA2EE98, 0xD0F2CBB02E3B67C7, 0x93536795E3A33E88, 0xA80C038CCD5CCEC8,
    0xB8AD50C6F649AF94, 0xBCE192DE8A85B8EA, 0x17D835B85BBB15F3, 0x2F2E6163076BCFAD,
    0xDE4DAAACA71DC9A5, 0xA6A2506687956571, 0xAD87A3535C49EF28, 0x32D892FAD841C342,
    0x7127512F72F27CCE, 0xA7F32346F95978E3, 0x12E0B01ABB051238, 0x15E034D40FA197AE,
    0x314DFFBE0815A3B4, 0x027990F029623981, 0xCADCD4E59EF40C4D, 0x9ABFD8766A33735C,
    0x0E3EA96B5304A7D0, 0xAD0C42D6FC585992, 0x187306C89BC215A9, 0xD4A60ABCF3792B95,
    0xF935451DE4F21DF2, 0xA9538F0419755787, 0xDB9ACDDFF56CA510, 0xD06C98CD5C0975EB,
    0xE612A3CB9ECBA951, 0xC766E62CFCADAF96, 0xEE64435A9752FE72, 0xA192D576B245165A,
    0x0A8787BF8ECB74B2, 0x81B3E73D20B49B6F, 0x7FA8220BA3B2ECEA, 0x245731C13CA42499,
    0xB78DBFAF3A8D83BD, 0xEA1AD565322A1A0B, 0x60E61C23A3795013, 0x6606D7E446282B93,
    0x6CA4ECB15C5F91E1, 0x9F626DA15C9625F3, 0xE51B38608EF25F57, 0x958A324CEB064572,
]
REFERENCE_KEY = bytes(range(16))
MASK = (1 << 64) - 1


def reference_siphash(key: bytes, message: bytes) -> int:
    """SipHash-2-4 in plain Python integers, written from the paper, for any length."""

    def rotl(x: int, b: int) -> int:
        return ((x << b) | (x >> (64 - b))) & MASK

    def rounds(v: list[int], count: int) -> None:
        for _ in range(count):
            v[0] = (v[0] + v[1]) & MASK
            v[1] = rotl(v[1], 13) ^ v[0]
            v[0] = rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & MASK
            v[3] = rotl(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & MASK
            v[3] = rotl(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & MASK
            v[1] = rotl(v[1], 17) ^ v[2]
            v[2] = rotl(v[2], 32)

    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    tail = len(message) % 8
    blocks = [message[i : i + 8] for i in range(0, len(message) - tail, 8)]
    blocks.append(message[len(message) - tail :] + bytes(7 - tail) + bytes([len(message) & 255]))
    for block in blocks:
        word = int.from_bytes(block, "little")
        v[3] ^= word
        rounds(v, 2)
        v[0] ^= word
    v[2] ^= 0xFF
    rounds(v, 4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def test_reference_siphash_matches_the_64_vectors() -> None:
    for length, expected in enumerate(VECTORS):
        assert reference_siphash(REFERENCE_KEY, bytes(range(length))) == expected, length


def test_kernel_siphash_matches_vector_8_and_the_reference() -> None:
    siphash = compiled(ps.siphash24, CPU)
    k0 = np.uint64(int.from_bytes(REFERENCE_KEY[:8], "little"))
    k1 = np.uint64(int.from_bytes(REFERENCE_KEY[8:], "little"))
    assert siphash(k0, k1, np.uint64(int.from_bytes(bytes(range(8)), "little"))) == VECTORS[8]
    rng = np.random.default_rng(7)
    for k0, k1, word in rng.integers(0, 2**64, size=(200, 3), dtype=np.uint64):
        key = int(k0).to_bytes(8, "little") + int(k1).to_bytes(8, "little")
        expected = reference_siphash(key, int(word).to_bytes(8, "little"))
        assert siphash(k0, k1, word) == expected


def valid_keys(count: int, seed: int = 0) -> np.ndarray:
    """``count`` distinct packed keys of valid IDs: random divisions, dates and order codes."""
    rng = np.random.default_rng(seed)
    provinces = rng.choice(ps.PROVINCE_CODES, count)
    division = provinces * 10**4 + rng.integers(0, 10**4, count)
    days = rng.integers(0, ps.DAYS, count) + ps.FIRST_DAY
    dates = np.datetime64("1970-01-01") + days.astype("timedelta64[D]")
    ymd = np.char.replace(np.datetime_as_string(dates, unit="D"), "-", "").astype(np.int64)
    keys = (division * 10**8 + ymd) * 1000 + rng.integers(0, 1000, count)
    return np.unique(keys)


def test_a_million_keys_map_to_distinct_valid_keys_and_back() -> None:
    keys = valid_keys(1_000_000)
    rounds = ps.round_keys(KEY)
    pseudonyms = ps.permute(keys, rounds)
    assert len(np.unique(pseudonyms)) == len(keys)
    assert ((pseudonyms >= 0) & (pseudonyms < 10**17)).all()
    np.testing.assert_array_equal(ps.permute(pseudonyms, rounds, inverse=True), keys)
    # Every pseudonym is a valid ID's key: it ranks, and its 18 characters validate.
    ranks = np.array([compiled(ps.rank, CPU)(k) for k in pseudonyms[:2000]])
    assert (ranks >= 0).all()
    ids = unpack_resident_id(pd.Series(pseudonyms[:2000]))
    assert (validate_resident_id(ids) == 0).all()
    assert (pack_resident_id(ids).to_numpy() == pseudonyms[:2000]).all()


def test_rank_and_unrank_are_inverse_at_the_edges() -> None:
    rank, unrank = compiled(ps.rank, CPU), compiled(ps.unrank, CPU)
    edges = [11_0000_19000101_000, 83_9999_99991231_999, 71_0000_20000229_001,
             11_0105_19491231_002, 65_4321_21001231_500]
    for key in edges:
        assert unrank(rank(key)) == key
    assert rank(edges[0]) == 0
    assert rank(edges[1]) == ps.DOMAIN - 1
    # Not valid: no such province, before 1900, 29 February 1900, month 13, out of range.
    for key in [99_0000_20000101_000, 11_0000_18991231_000, 11_0000_19000229_000,
                11_0000_20001301_000, -1, 10**17]:
        assert rank(key) == -1


def test_civil_date_matches_numpy_over_the_whole_range() -> None:
    civil_date = compiled(ps.civil_date, CPU)
    rng = np.random.default_rng(3)
    for days in [*rng.integers(0, ps.DAYS, 2000) + ps.FIRST_DAY, ps.FIRST_DAY,
                 ps.FIRST_DAY + ps.DAYS - 1]:
        expected = date(1970, 1, 1) + timedelta(days=int(days))
        assert civil_date(days) == (expected.year, expected.month, expected.day)


def test_the_feistel_inverse_holds_beyond_the_domain_too() -> None:
    # Cycle walking steps through values in [N, H * H); the network must invert there too.
    feistel = compiled(ps.feistel, CPU)
    rounds = ps.round_keys(KEY)
    for x in [0, ps.DOMAIN - 1, ps.DOMAIN, ps.HALF * ps.HALF - 1, 123_456_789_012]:
        y = feistel(x, rounds, False)
        assert 0 <= y < ps.HALF * ps.HALF
        assert feistel(y, rounds, True) == x


def test_invalid_keys_and_minus_one_stay_minus_one() -> None:
    keys = np.array([-1, 0, 99_0000_20000101_000, 10**17, 11_0105_19491231_002])
    out = ps.permute(keys, ps.round_keys(KEY))
    assert out[:4].tolist() == [-1, -1, -1, -1]
    assert out[4] >= 0


def test_purpose_keys_give_unrelated_permutations() -> None:
    keys = valid_keys(10_000, seed=1)
    mine = ps.permute(keys, ps.round_keys(KEY))
    theirs = ps.permute(keys, ps.round_keys(OTHER_KEY))
    assert (mine != theirs).all()
    assert not np.isin(mine, theirs).any()
    assert len(np.intersect1d(mine, keys)) == 0


def test_neighbouring_ids_get_scattered_pseudonyms() -> None:
    # 1000 IDs of one county and day, order codes 000-999: nothing of that shows through.
    keys = np.arange(1000, dtype=np.int64) + 11_0105_19491231_000
    pseudonyms = ps.permute(keys, ps.round_keys(KEY))
    assert len(np.unique(pseudonyms // 10**15)) > 25  # provinces (35 in all)
    assert len(np.unique(pseudonyms // 1000)) > 990  # (division, date) pairs
    assert np.abs(np.corrcoef(keys, pseudonyms)[0, 1]) < 0.1


def test_purpose_key_is_deterministic_and_checks_its_inputs() -> None:
    secret = b"hub secret: 32 random bytes here"
    assert ps.purpose_key(secret, "a") == ps.purpose_key(secret, "a")
    assert ps.purpose_key(secret, "a") != ps.purpose_key(secret, "b")
    assert ps.purpose_key(secret, "a") != ps.purpose_key(secret[::-1], "a")
    assert len(ps.purpose_key(secret, "a")) == ps.PURPOSE_KEY_BYTES
    with pytest.raises(ValueError, match="at least 16 bytes"):
        ps.purpose_key(b"short", "a")
    with pytest.raises(ValueError, match="purpose"):
        ps.purpose_key(secret, "")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        ps.pseudonymise_keys(np.array([1]), b"short")


def test_public_functions_keep_the_input_kind() -> None:
    keys = valid_keys(50, seed=2)
    index = pd.Index([f"r{i}" for i in range(len(keys))])
    series = pd.Series(keys, index=index, name="key")
    out = ps.pseudonymise_keys(series, KEY)
    assert isinstance(out, pd.Series)
    assert out.index.equals(index) and out.name == "key"
    np.testing.assert_array_equal(out.to_numpy(), ps.permute(keys, ps.round_keys(KEY)))
    back = ps.unpseudonymise_keys(out, KEY)
    np.testing.assert_array_equal(back.to_numpy(), keys)
    arrow = ps.pseudonymise_keys(pa.array([keys[0], None]), KEY)
    assert arrow.to_pylist() == [out.iloc[0], -1]


def test_dask_series_is_mapped_lazily() -> None:
    import dask.dataframe as dd

    keys = pd.Series(valid_keys(100, seed=4))
    lazy = ps.pseudonymise_keys(dd.from_pandas(keys, npartitions=3), KEY)
    pd.testing.assert_series_equal(lazy.compute(), ps.pseudonymise_keys(keys, KEY))


SIMULATED = """
import numpy as np
from numba import cuda
from kernels import pseudonym as ps
keys = np.array({keys})
rounds = cuda.to_device(ps.round_keys({key!r}))
out = ps.permute(cuda.to_device(keys), rounds).copy_to_host()
back = ps.permute(cuda.to_device(out), rounds, True).copy_to_host()
print(",".join(map(str, out)), ",".join(map(str, back)))
"""


def test_the_cuda_simulator_twin_matches_njit() -> None:
    keys = [*valid_keys(12, seed=5).tolist(), -1, 99_0000_20000101_000]
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    script = SIMULATED.format(keys=keys, key=KEY)
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", script], env=env, check=True,
                          capture_output=True, text=True, timeout=300)
    out, back = (list(map(int, part.split(","))) for part in done.stdout.split())
    expected = ps.permute(np.array(keys), ps.round_keys(KEY))
    assert out == expected.tolist()
    assert back == [*keys[:-1], -1]
