"""What every peer engine shares: the jobs' constants, the tables' files, Jaro-Winkler.

The constants restate the jobs issue (GB 11643, GB/T 2260, the age bands); the peers are
written from that text, not from ``compute.jobs``.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

from compute.tables import Catalog

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
PROVINCE_PREFIXES = (
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83",
)
# A normalised ID's shape (validity is checked on normalised IDs), and a legacy 15-digit ID's.
ID_PATTERN = r"[0-9]{17}[0-9X]"
LEGACY_ID_PATTERN = r"[0-9]{15}"
# Unicode White_Space, removed from both ends of an ID before anything else.
WHITE_SPACE = ("\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
               + "\u2028\u2029\u202f\u205f\u3000")
# Full-width digits and X (either case) and a lowercase x, read as the ASCII IDs are matched in.
ID_CHARACTERS = {**{chr(0xFF10 + d): str(d) for d in range(10)}, "Ｘ": "X", "ｘ": "X", "x": "X"}
# The registry keeps one row per normalised ID: the first in this order, nulls last.
REGISTRY_ORDER = ["birth_date", "division_code", "sex", "resident_id", "name"]
EARLIEST_BIRTH = dt.date(1900, 1, 1)
AGE_BANDS = ("0-17", "18-34", "35-59", "60-79", "80+")
AGE_BAND_STARTS = (18, 35, 60, 80)  # first age of each band after the first
LEVELS = ("county", "prefecture", "province", "nation")
LEVEL_DIVISORS = {"county": 1, "prefecture": 100, "province": 10000, "nation": None}
VERIFY_KINDS = (
    "invalid_id", "orphan", "name_mismatch", "birth_mismatch", "division_code_mismatch",
)
# The sources verify checks when none are named: the rosters of the generated hub.
ROSTERS = ("insured_persons", "medical_insured")
INTEGRITY_REASONS = (
    "invalid_id", "orphan", "after_death", "duplicate", "dibao_high_income",
    "dibao_enterprise_rep",
)
PAYMENT_COLUMNS = ["payment_id", "resident_id", "program", "month", "amount"]


def verify_sources(params) -> tuple[str, ...]:
    """The tables a peer verifies: those named, else the generated hub's rosters."""
    return tuple(params.sources) or ROSTERS


def table_files(data: str | os.PathLike[str], table: str) -> list[str]:
    """The Parquet files of the latest version of ``table`` in data directory ``data``."""
    return [str(file.path) for file in Catalog.load(data).version(table).files]


def read_arrow(data: Path, table: str, columns: list[str]) -> pa.Table:
    """Columns of a table as one Arrow table (what the single-process peers start from)."""
    return pq.read_table(table_files(data, table), columns=columns)


def jaro_winkler(left: object, right: object) -> np.ndarray:
    """Jaro-Winkler similarity of each pair of names, over characters (not UTF-8 bytes)."""
    return cpdist(list(left), list(right), scorer=JaroWinkler.normalized_similarity, workers=-1)


def division_at(code: object, level: str) -> object:
    """The division code of ``code`` at ``level`` (GB/T 2260); the nation is 0."""
    divisor = LEVEL_DIVISORS[level]
    return code * 0 if divisor is None else code // divisor * divisor
