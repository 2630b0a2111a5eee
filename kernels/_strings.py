"""Row helpers over Arrow-layout strings: validity bits, UTF-8 code points, normalisation.

Identifiers are normalised before they are validated: surrounding Unicode ``White_Space``
removed, full-width digits and letters (U+FF10-FF19, U+FF21-FF3A, U+FF41-FF5A) read as
ASCII, lower-case letters read as upper case. :func:`scan` reads a normalised string
without writing it; :func:`write_normalised` writes it.
"""

from __future__ import annotations

import numpy as np

from kernels._registry import device

# Full-width forms sit at a fixed distance from their ASCII characters (U+FF10 is "0").
FULL_WIDTH_SHIFT = 0xFEE0
# The normalised bytes :func:`scan` keeps, as three little-endian uint64 words.
WORD_BYTES = 24


@device
def is_valid(mask, mask_offset, i):
    """Row ``i`` is not null: its bit in the LSB-first validity bitmap (no bitmap: all valid)."""
    if mask.size == 0:
        return True
    bit = mask_offset + i
    return (mask[bit >> 3] >> (bit & 7)) & 1 == 1


@device
def decode_one(chars, k):
    """(code point, byte width) of the UTF-8 character at ``chars[k]`` (valid UTF-8)."""
    lead = chars[k]
    if lead < 0x80:
        return np.int64(lead), 1
    if lead < 0xE0:
        point = np.int64(lead & 0x1F)
        width = 2
    elif lead < 0xF0:
        point = np.int64(lead & 0x0F)
        width = 3
    else:
        point = np.int64(lead & 0x07)
        width = 4
    for j in range(1, width):
        point = (point << 6) | (chars[k + j] & 0x3F)
    return point, width


@device
def decode(chars, start, end, out):
    """Decode UTF-8 ``chars[start:end]`` into code points in ``out``; return their number.

    Writes at most ``out.size`` code points but counts them all, so a caller sees that a
    string did not fit. The input is valid UTF-8 (Arrow and cuDF guarantee it).
    """
    count = 0
    k = start
    while k < end:
        point, width = decode_one(chars, k)
        if count < out.size:
            out[count] = point
        count += 1
        k += width
    return count


@device
def is_white_space(point):
    """``point`` has the Unicode White_Space property (PropList.txt, 25 code points)."""
    if point <= 0x20:
        return point == 0x20 or 0x09 <= point <= 0x0D
    if point < 0x85:
        return False
    return (
        point == 0x85
        or point == 0xA0
        or point == 0x1680
        or 0x2000 <= point <= 0x200A
        or point == 0x2028
        or point == 0x2029
        or point == 0x202F
        or point == 0x205F
        or point == 0x3000
    )


@device
def trim(chars, start, end):
    """(start, end) of ``chars[start:end]`` without surrounding White_Space."""
    while start < end:
        point, width = decode_one(chars, start)
        if not is_white_space(point):
            break
        start += width
    while end > start:
        lead = end - 1
        while lead > start and chars[lead] & 0xC0 == 0x80:  # back over continuation bytes
            lead -= 1
        point, _ = decode_one(chars, lead)
        if not is_white_space(point):
            break
        end = lead
    return start, end


@device
def normalised_char(chars, k, letters):
    """(normalised code point, input byte width) of the character at ``chars[k]``.

    Full-width digits read as ASCII digits; with ``letters`` every full-width or ASCII
    letter reads as ASCII upper case, without it only X and x (a resident ID's check).
    """
    point, width = decode_one(chars, k)
    if 0xFF10 <= point <= 0xFF5A:
        ascii_point = point - FULL_WIDTH_SHIFT
        upper = ascii_point & ~0x20
        if 0x30 <= ascii_point <= 0x39 or (
            0x41 <= upper <= 0x5A and (letters or upper == 0x58)
        ):
            point = ascii_point
    if 0x61 <= point <= 0x7A and (letters or point == 0x78):
        point -= 0x20
    return point, width


@device
def scan(chars, start, end, letters):
    """(code points, UTF-8 bytes, w0, w1, w2) of ``chars[start:end]`` normalised.

    ``w0``-``w2`` hold its first :data:`WORD_BYTES` bytes, byte j at bits 8j of word j // 8
    (little-endian, zero past the end); they are only meaningful when it is all ASCII
    (code points == bytes).
    """
    count = 0
    size = 0
    w0 = np.uint64(0)
    w1 = np.uint64(0)
    w2 = np.uint64(0)
    k = start
    while k < end:
        point, width = normalised_char(chars, k, letters)
        if point < 0x80:
            byte = np.uint64(point) << np.uint64(8 * (size & 7))
            if size < 8:
                w0 |= byte
            elif size < 16:
                w1 |= byte
            elif size < WORD_BYTES:
                w2 |= byte
            size += 1
        else:
            size += width
        count += 1
        k += width
    return count, size, w0, w1, w2


@device
def load_word(chars, at, count):
    """The ``count`` (up to 8) bytes at ``chars[at]`` as a little-endian uint64 (``chars[at]``
    lowest), zero above.

    ``at`` is unsigned: then indexing needs no negative-index fix-up, and LLVM merges the
    loads into one on the CPU.
    """
    word = np.uint64(0)
    for j in range(count):
        word |= np.uint64(chars[at + np.uint64(j)]) << np.uint64(8 * j)
    return word


@device
def load_words(chars, start, size):
    """The ``size`` (16-24) bytes at ``chars[start]`` as the three words of :func:`scan`."""
    at = np.uint64(start)
    return (
        load_word(chars, at, 8),
        load_word(chars, at + np.uint64(8), 8),
        load_word(chars, at + np.uint64(16), size - 16),
    )


@device
def word_byte(w0, w1, w2, j):
    """Byte ``j`` (0-23) of the little-endian words ``w0``, ``w1``, ``w2``."""
    word = w0 if j < 8 else (w1 if j < 16 else w2)
    return np.int64((word >> np.uint64(8 * (j & 7))) & np.uint64(0xFF))


@device
def write_normalised(chars, start, end, letters, count, size, w0, w1, w2, out, at):
    """Write the normalised string of :func:`scan`'s results to ``out[at : at + size]``.

    An all-ASCII string of up to :data:`WORD_BYTES` bytes comes from the words (which may
    hold more than ``chars`` does, as a converted legacy ID); any other is normalised again
    character by character, non-ASCII characters copied as they are.
    """
    if count == size and size <= WORD_BYTES:
        for j in range(size):
            out[at + j] = word_byte(w0, w1, w2, j)
        return
    k = start
    while k < end:
        point, width = normalised_char(chars, k, letters)
        if point < 0x80:
            out[at] = point
            at += 1
        else:
            for j in range(width):
                out[at + j] = chars[k + j]
            at += width
        k += width
