"""Resident identity numbers (GB 11643-1999): validate, pack to int64, unpack, decode fields.

An ID is 6 digits of division code (GB/T 2260), 8 of birth date (YYYYMMDD), 3 of order
code (odd: male) and a check character: "10X98765432"[sum of digit x weight mod 11].
The packed key is the first 17 digits as an integer; the check character follows from it.

Every function reads an ID normalised first (:func:`kernels.normalise_resident_id` gives
the string): surrounding Unicode White_Space removed, full-width digits and X read as ASCII,
x as X, and a legacy 15-digit ID (GB 11643-1989: 6-digit division, yymmdd, 3-digit order
code) as its 18-digit form, "19" before the year and the check character appended. 18
plain characters, the usual case, are validated in place without that detour.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from kernels._buffers import StringBuffers
from kernels._convert import FixedStrings, Output, map_keys, map_strings
from kernels._registry import device, first_row, kernel, row_step, run
from kernels._strings import is_valid, load_words, scan, trim
from kernels._unpack import FixedCode, array_module, unpack

LENGTH = 18
LEGACY_LENGTH = 15  # GB 11643-1989: no century in the birth date, no check character
# The standard's weights: 2**(i - 1) mod 11 for the character i places from the right.
WEIGHTS = 2 ** np.arange(LENGTH - 1, 0, -1, dtype=np.int64) % 11
CHECK_CHARACTERS = "10X98765432"
# The check character (an ASCII byte) for each weighted sum mod 11.
CHECK_BYTES = np.array(list(CHECK_CHARACTERS.encode()), dtype=np.int64)
# Province codes of GB/T 2260, with Taiwan (71), Hong Kong (81), Macao (82) and 83.
PROVINCES = np.zeros(100, dtype=np.bool_)
for _low, _high in ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65)):
    PROVINCES[_low : _high + 1] = True
PROVINCES[[71, 81, 82, 83]] = True
# Days per month (February 28), for every two-digit month: 0 for 00 and 13-99.
MONTH_DAYS = np.zeros(100, dtype=np.int64)
MONTH_DAYS[1:13] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

# Digits are handled eight at a time as lanes of one uint64 ("SWAR"): plain integer
# arithmetic, so it compiles for the GPU as well. Every constant is a uint64, because numba
# types unsigned-with-signed arithmetic as float64 (and ``&`` as int64).
BYTES = np.uint64(0x0101010101010101)
LOW_NIBBLES = BYTES * np.uint64(0x0F)
HIGH_NIBBLES = BYTES * np.uint64(0xF0)
SIXES = BYTES * np.uint64(0x06)
ZEROS = BYTES * np.uint64(0x30)  # "00000000"
SIX_BYTES = np.uint64(0xFFFFFFFFFFFF)
NINETEEN = np.uint64(ord("1")) << np.uint64(48) | np.uint64(ord("9")) << np.uint64(56)
ZERO_AT_15 = np.uint64(ord("0")) << np.uint64(56)  # "0" as byte 15 of a two-word string
EVEN_BYTES = np.uint64(0x00FF00FF00FF00FF)
EVEN_HALVES = np.uint64(0x0000FFFF0000FFFF)
LANE = np.uint64(0xFFFF)
TWO = np.uint64(2)
TEN = np.uint64(10)

CODE = FixedCode(
    base=10,
    parts=(8, 9),
    alphabet=b"0123456789",
    weights=tuple(int(w) for w in WEIGHTS),
    modulus=11,
    check_table=CHECK_CHARACTERS.encode(),
)


@device
def digit_values(word):
    """(every byte of ``word`` is an ASCII digit, ``word`` with each byte's digit value).

    A byte is a digit when its high nibble is 3 and its low nibble plus 6 stays below 16;
    the low nibbles are masked first, so the sum cannot carry into the next byte.
    """
    values = word & LOW_NIBBLES
    above_nine = ((values + SIXES) & HIGH_NIBBLES) >> np.uint64(4)
    return ((word & HIGH_NIBBLES) | above_nine) == ZEROS, values


@device
def pairs(values, base):
    """16-bit lane m of the result: ``base * d[2m] + d[2m + 1]`` of the 8 digits ``values``."""
    return (values * base + (values >> np.uint64(8))) & EVEN_BYTES


@device
def eight_digit_number(digit_pairs, base):
    """The 8 digits whose :func:`pairs` are ``digit_pairs``, read as a number in ``base``.

    Pairs combine into fours, fours into eight; no lane overflows for a base up to 10.
    """
    fours = (digit_pairs * (base * base) + (digit_pairs >> np.uint64(16))) & EVEN_HALVES
    return (fours & np.uint64(0xFFFFFFFF)) * (base * base * base * base) + (fours >> np.uint64(32))


@device
def lane(digit_pairs, m):
    """The pair of digits 2m, 2m + 1 (as a two-digit number) from decimal :func:`pairs`."""
    return np.int64((digit_pairs >> np.uint64(16 * m)) & LANE)


@device
def is_birth_date(year, month, day):
    """A calendar date on or after 1900-01-01; ``month`` any two-digit number."""
    days = MONTH_DAYS[month]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        days = 29
    return year >= 1900 and 1 <= day <= days


@device
def days_since_epoch(year, month, day):
    """Days from 1970-01-01 to a valid date, proleptic Gregorian."""
    # Count years from March, so the leap day ends a year (H. Hinnant's days_from_civil).
    if month <= 2:
        year -= 1
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


@device
def check_byte(head, tail, seventeenth):
    """The check character (ASCII) of 17 digits: :func:`digit_values` ``head`` (digits 1-8)
    and ``tail`` (9-16), and the value of the seventeenth."""
    # The weight of digit k is 2**(17 - k) mod 11, so the weighted sum is, mod 11, twice
    # sum(digit k * 2**(16 - k)): the same pairwise combining as for the key, in base 2.
    binary = (
        eight_digit_number(pairs(head, TWO), TWO) * np.uint64(512)
        + eight_digit_number(pairs(tail, TWO), TWO) * TWO
        + np.uint64(seventeenth)
    )
    return CHECK_BYTES[binary * TWO % np.uint64(11)]


@device
def validate_words(w0, w1, w2):
    """(code, key) of the 18 ASCII characters in the words of :func:`kernels._strings.scan`.

    The code is 0 or 3-6 (see :func:`validate_resident_id`); the key -1 unless 0.
    """
    head_ok, head = digit_values(w0)  # characters 1-8
    tail_ok, tail = digit_values(w1)  # characters 9-16
    seventeenth = np.int64(w2 & np.uint64(0xFF)) - 48
    last = np.int64((w2 >> np.uint64(8)) & np.uint64(0xFF))
    if last == 120:  # x reads as X
        last = 88
    if not (head_ok and tail_ok and 0 <= seventeenth <= 9 and (last == 88 or 48 <= last <= 57)):
        return 3, -1
    # Decimal pairs: head (province, city, county, century), tail (year, month, day, order).
    head_pairs = pairs(head, TEN)
    tail_pairs = pairs(tail, TEN)
    if not PROVINCES[lane(head_pairs, 0)]:
        return 4, -1
    year = lane(head_pairs, 3) * 100 + lane(tail_pairs, 0)
    if not is_birth_date(year, lane(tail_pairs, 1), lane(tail_pairs, 2)):
        return 5, -1
    if check_byte(head, tail, seventeenth) != last:
        return 6, -1
    key = eight_digit_number(head_pairs, TEN) * np.uint64(10**9) + eight_digit_number(
        tail_pairs, TEN
    ) * TEN
    return 0, np.int64(key) + seventeenth


@device
def normalised_id(chars, start, end):
    """The normalised ID of ``chars[start:end]``: (start, end, code points, bytes, w0, w1, w2)
    with the trimmed range and :func:`kernels._strings.scan`'s results.

    Fifteen ASCII digits (a legacy ID) come back as the 18 characters of the current form:
    "19" before the year and the check character appended, in the words.
    """
    start, end = trim(chars, start, end)
    count, size, w0, w1, w2 = scan(chars, start, end, False)
    if count == LEGACY_LENGTH and size == LEGACY_LENGTH:
        # Byte 15 is zero: read it as "0" so all 16 bytes must be digits.
        head_ok, _ = digit_values(w0)
        tail_ok, _ = digit_values(w1 | ZERO_AT_15)
        if head_ok and tail_ok:
            # Digits 1-6 and "19"; digits 7-14; digit 15 and the check character.
            fifteenth = (w1 >> np.uint64(48)) & np.uint64(0xFF)
            w1 = (w0 >> np.uint64(48)) | (w1 << np.uint64(16))
            w0 = (w0 & SIX_BYTES) | NINETEEN
            _, head = digit_values(w0)
            _, tail = digit_values(w1)
            check = check_byte(head, tail, np.int64(fifteenth) - 48)
            w2 = fifteenth | (np.uint64(check) << np.uint64(8))
            count = LENGTH
            size = LENGTH
    return start, end, count, size, w0, w1, w2


@device
def validate_pack_row(offsets, chars, mask, mask_offset, i):
    """(code, key) of row ``i``: the validation code and the 17-digit key (-1 unless 0)."""
    if not is_valid(mask, mask_offset, i):
        return 1, -1
    start = offsets[i]
    end = offsets[i + 1]
    if end - start == LENGTH:
        # The usual case, 18 plain characters: validated in place, nothing to normalise.
        w0, w1, w2 = load_words(chars, start, LENGTH)
        code, key = validate_words(w0, w1, w2)
        if code != 3:
            return code, key
    _, _, count, size, w0, w1, w2 = normalised_id(chars, start, end)
    if count != LENGTH:
        return 2, -1
    if size != LENGTH:
        return 3, -1
    return validate_words(w0, w1, w2)


@kernel
def validate_pack_rows(offsets, chars, mask, mask_offset, codes, keys):
    for i in range(first_row(), codes.size, row_step()):
        code, key = validate_pack_row(offsets, chars, mask, mask_offset, i)
        codes[i] = code
        keys[i] = key


@kernel
def validate_rows(offsets, chars, mask, mask_offset, codes):
    # The key is dropped, so the compiler drops the arithmetic that makes it.
    for i in range(first_row(), codes.size, row_step()):
        code, _ = validate_pack_row(offsets, chars, mask, mask_offset, i)
        codes[i] = code


@kernel
def fields_rows(offsets, chars, mask, mask_offset, birth_days, sex, division, valid):
    for i in range(first_row(), valid.size, row_step()):
        code, key = validate_pack_row(offsets, chars, mask, mask_offset, i)
        valid[i] = code == 0
        birth_days[i] = 0
        sex[i] = 0
        division[i] = 0
        if code == 0:
            # The key's 17 digits: division (6), year (4), month, day, order code (3).
            birth = key // 1000
            year = birth // 10**4 % 10**4
            birth_days[i] = days_since_epoch(year, birth // 100 % 100, birth % 100)
            sex[i] = 1 if key % 2 == 1 else 2
            division[i] = key // 10**11


def validate_and_pack(buffers: StringBuffers) -> tuple[Any, Any]:
    """(codes int8, keys int64) of one chunk, in one pass; host or device arrays."""
    n = len(buffers)
    codes, keys = run(validate_pack_rows, buffers.args, [(n, np.int8), (n, np.int64)])
    return codes, keys


def validate(buffers: StringBuffers) -> Any:
    """The validation codes (int8) of one chunk, without writing keys; host or device array."""
    (codes,) = run(validate_rows, buffers.args, [(len(buffers), np.int8)])
    return codes


def fields(buffers: StringBuffers) -> tuple[Any, Any, Any, Any]:
    """(birth days since epoch int32, sex int8, division int32, valid bool) of one chunk."""
    n = len(buffers)
    outputs = [(n, np.int32), (n, np.int8), (n, np.int32), (n, np.bool_)]
    birth_days, sex, division, valid = run(fields_rows, buffers.args, outputs)
    return birth_days, sex, division, valid


def validate_resident_id(values: Any) -> Any:
    """Validation code per ID (int8) after normalising it, the first failure in this order:

    0 valid, 1 null, 2 length not 18, 3 a character other than a digit (X allowed last
    only), 4 not a province code, 5 birth date not a date or before 1900-01-01, 6 wrong check
    character. Same kind as ``values`` (pandas, pyarrow, cuDF, Dask), aligned with it.
    """
    return map_strings(lambda buffers: Output({"": validate(buffers)}), values)


def pack_resident_id(values: Any) -> Any:
    """The first 17 digits of each normalised ID as an int64 key; -1 where it is not valid.

    A padded, full-width or legacy 15-digit ID packs to the key of its 18-digit form.
    """
    return map_strings(lambda buffers: Output({"": validate_and_pack(buffers)[1]}), values)


def unpack_resident_id(keys: Any) -> Any:
    """The 18-character IDs of packed keys (check character recomputed, upper-case X).

    Null where a key is -1 (or outside 0 .. 10**17 - 1). Strings of the keys' kind: a pandas
    ``str`` Series, a pyarrow string array (also for numpy keys), a cuDF Series (cupy keys).
    """
    return map_keys(_unpack_chunk, keys)


def _unpack_chunk(keys: Any) -> Output:
    matrix, offsets, valid = unpack(CODE, [keys], array_module(keys))
    return Output({"": FixedStrings(matrix, offsets)}, valid=valid)


def resident_id_fields(values: Any) -> Any:
    """birth_date (date), sex (int8: 1 male, 2 female) and division_code (int32) per ID.

    Null where the normalised ID is not valid. A DataFrame for pandas (Arrow dtypes, same index), a
    pyarrow Table for pyarrow input, a cuDF DataFrame for cuDF.
    """
    return map_strings(_fields_chunk, values)


def _fields_chunk(buffers: StringBuffers) -> Output:
    birth_days, sex, division, valid = fields(buffers)
    return Output(
        {"birth_date": birth_days, "sex": sex, "division_code": division},
        valid=valid,
        arrow_types={"birth_date": pa.date32()},
        frame=True,
    )
