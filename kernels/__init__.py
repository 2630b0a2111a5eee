"""Column kernels: one Python source per row function, compiled by numba for the CPU
(``njit``) and the GPU (``cuda.jit``), over pandas, pyarrow, cuDF and Dask columns.

Identifiers are normalised before they are validated, packed or decoded (surrounding
whitespace, full-width characters, lower case, legacy 15-digit resident IDs; see
:mod:`kernels.normalise`); ``normalise_*`` gives the normalised strings themselves.
"""

from kernels.normalise import normalise_resident_id, normalise_uscc
from kernels.resident_id import (
    pack_resident_id,
    resident_id_fields,
    unpack_resident_id,
    validate_resident_id,
)
from kernels.similarity import jaro_winkler, levenshtein
from kernels.uscc import pack_uscc, unpack_uscc, validate_uscc

__all__ = [
    "jaro_winkler",
    "levenshtein",
    "normalise_resident_id",
    "normalise_uscc",
    "pack_resident_id",
    "pack_uscc",
    "resident_id_fields",
    "unpack_resident_id",
    "unpack_uscc",
    "validate_resident_id",
    "validate_uscc",
]
