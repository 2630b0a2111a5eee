"""The synthetic generator: every table of the data contract, with planted defects."""

from compute.generate.rates import PAYMENT_KINDS, ROSTER_KINDS, DefectRates
from compute.generate.run import DEFAULT_CHUNK_SIZE, RESIDENTS_PER_SCALE, generate, read_truth

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "PAYMENT_KINDS",
    "RESIDENTS_PER_SCALE",
    "ROSTER_KINDS",
    "DefectRates",
    "generate",
    "read_truth",
]
