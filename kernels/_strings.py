"""Row helpers over Arrow-layout strings: validity bits and UTF-8 code points."""

from __future__ import annotations

from kernels._registry import device


@device
def is_valid(mask, mask_offset, i):
    """Row ``i`` is not null: its bit in the LSB-first validity bitmap (no bitmap: all valid)."""
    if mask.size == 0:
        return True
    bit = mask_offset + i
    return (mask[bit >> 3] >> (bit & 7)) & 1 == 1


@device
def char_count(chars, start, end):
    """The number of code points in ``chars[start:end]``: every byte but continuation bytes."""
    count = 0
    for k in range(start, end):
        if chars[k] & 0xC0 != 0x80:
            count += 1
    return count


@device
def decode(chars, start, end, out):
    """Decode UTF-8 ``chars[start:end]`` into code points in ``out``; return their number.

    Writes at most ``out.size`` code points but counts them all, so a caller sees that a
    string did not fit. The input is valid UTF-8 (Arrow and cuDF guarantee it).
    """
    count = 0
    k = start
    while k < end:
        lead = chars[k]
        if lead < 0x80:
            point = lead
            width = 1
        elif lead < 0xE0:
            point = lead & 0x1F
            width = 2
        elif lead < 0xF0:
            point = lead & 0x0F
            width = 3
        else:
            point = lead & 0x07
            width = 4
        for j in range(1, width):
            point = (point << 6) | (chars[k + j] & 0x3F)
        if count < out.size:
            out[count] = point
        count += 1
        k += width
    return count


@device
def shape_code(offsets, chars, mask, mask_offset, i, length):
    """1 null, 2 not ``length`` code points, 3 that many but not all ASCII, 0 ``length`` bytes.

    A string of exactly ``length`` bytes is not scanned here: the caller's character check
    fails on non-ASCII bytes and then asks :func:`misplaced_code` which code applies.
    """
    if not is_valid(mask, mask_offset, i):
        return 1
    start = offsets[i]
    end = offsets[i + 1]
    size = end - start
    if size < length:
        return 2
    if size > length:
        # Longer in bytes: the right number of code points only with non-ASCII characters.
        return 3 if char_count(chars, start, end) == length else 2
    return 0


@device
def misplaced_code(chars, start, end):
    """The code of a string of the right byte length with a character out of place.

    2 when some byte is not ASCII (then it has fewer code points than bytes), else 3.
    """
    for k in range(start, end):
        if chars[k] >= 0x80:
            return 2
    return 3
