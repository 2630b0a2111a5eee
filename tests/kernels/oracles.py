"""Plain-Python references for the kernels, written from the standards, not from kernels/."""

from __future__ import annotations

import datetime
import unicodedata

from stdnum.cn import ric

RIC_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
RIC_PROVINCES = {
    *range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55),
    *range(61, 66), 71, 81, 82, 83,
}
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
DIGITS = "0123456789"
# Unicode White_Space, as PropList.txt lists it (str.isspace differs: U+001C-001F).
WHITE_SPACE = "".join(
    map(chr, [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
              0x2028, 0x2029, 0x202F, 0x205F, 0x3000])
)
# Full-width forms by their Unicode names; lower case read as upper.
RIC_MAP = {
    **{ord(unicodedata.lookup(f"FULLWIDTH DIGIT {unicodedata.name(d)[6:]}")): d for d in DIGITS},
    ord(unicodedata.lookup("FULLWIDTH LATIN CAPITAL LETTER X")): "X",
    ord(unicodedata.lookup("FULLWIDTH LATIN SMALL LETTER X")): "X",
    ord("x"): "X",
}
USCC_MAP = {
    **{ord(unicodedata.lookup(f"FULLWIDTH DIGIT {unicodedata.name(d)[6:]}")): d for d in DIGITS},
    **{ord(unicodedata.lookup(f"FULLWIDTH LATIN {case} LETTER {c}")): c
       for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for case in ("CAPITAL", "SMALL")},
    **{ord(c.lower()): c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
}


def normalise_ric(value: str | None) -> str | None:
    """Whitespace stripped, full-width and lower case read as ASCII upper case, a legacy
    15-digit ID as 18 digits (check character from python-stdnum)."""
    if value is None:
        return None
    value = value.strip(WHITE_SPACE).translate(RIC_MAP)
    if len(value) == 15 and all(c in DIGITS for c in value):
        first17 = value[:6] + "19" + value[6:]
        # stdnum's calc_check_digit reads the first 17 of an 18-character ID.
        value = first17 + ric.calc_check_digit(first17 + "?")
    return value


def normalise_uscc(value: str | None) -> str | None:
    """Whitespace stripped, full-width and lower case read as ASCII upper case."""
    return None if value is None else value.strip(WHITE_SPACE).translate(USCC_MAP)


def ric_check(first17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, RIC_WEIGHTS, strict=True)) % 11]


def ric_code(value: str | None) -> int:
    """The validation code of a resident ID, normalised first, in the documented order."""
    value = normalise_ric(value)
    if value is None:
        return 1
    if len(value) != 18:
        return 2
    if not all(c in DIGITS for c in value[:17]) or value[17] not in DIGITS + "X":
        return 3
    if int(value[:2]) not in RIC_PROVINCES:
        return 4
    try:
        birth = datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return 5
    if birth < datetime.date(1900, 1, 1):
        return 5
    if ric_check(value[:17]) != value[17]:
        return 6
    return 0


def make_ric(division: int, birth: datetime.date, order: int) -> str:
    first17 = f"{division:06d}{birth:%Y%m%d}{order:03d}"
    return first17 + ric_check(first17)


def uscc_check(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * 3**i % 31 for i, c in enumerate(first17))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_code(value: str | None) -> int:
    """The validation code of a USCC, normalised first, in the documented order."""
    value = normalise_uscc(value)
    if value is None:
        return 1
    if len(value) != 18:
        return 2
    if any(c not in USCC_ALPHABET for c in value):
        return 3
    if not all(c in DIGITS for c in value[2:8]):
        return 4
    if uscc_check(value[:17]) != value[17]:
        return 5
    return 0


def jaro_winkler(a: str, b: str) -> float:
    """Textbook Jaro-Winkler (prefix scale 0.1 up to 4, boost above 0.7)."""
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    used = [False] * len(b)
    matched_a = []
    for i, char in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not used[j] and b[j] == char:
                used[j] = True
                matched_a.append(char)
                break
    if not matched_a:
        return 0.0
    matched_b = [char for char, flag in zip(b, used, strict=True) if flag]
    m = len(matched_a)
    t = sum(x != y for x, y in zip(matched_a, matched_b, strict=True)) // 2
    jaro = (m / len(a) + m / len(b) + (m - t) / m) / 3
    if jaro <= 0.7:
        return jaro
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)
