"""The rates at which defects are planted in the synthetic data."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from compute.exceptions import ParameterError

ROSTER_KINDS = ("invalid_id", "orphan", "name_mismatch", "birth_mismatch")
PAYMENT_KINDS = ("duplicate", "after_death")


@dataclass(frozen=True)
class DefectRates:
    """Share of records planted with each defect, validated on construction.

    Roster kinds (``insured_persons``, ``medical_insured``) are shares of each roster's
    records; payment kinds are shares of the ``benefit_payments`` rows paid correctly.
    """

    invalid_id: float = 0.002
    orphan: float = 0.002
    name_mismatch: float = 0.004
    birth_mismatch: float = 0.003
    duplicate: float = 0.002
    after_death: float = 0.001

    def __post_init__(self) -> None:
        for name, rate in asdict(self).items():
            if not isinstance(rate, (int, float)) or not math.isfinite(rate) or not 0 <= rate <= 1:
                raise ParameterError(f"defect rate {name} must be in [0, 1], not {rate!r}")
        # A record carries at most one planted roster defect.
        if sum(getattr(self, kind) for kind in ROSTER_KINDS) > 0.5:
            raise ParameterError(f"the roster rates {ROSTER_KINDS} must sum to at most 0.5")
        if self.duplicate > 0.5 or self.after_death > 0.5:
            raise ParameterError("the payment rates must be at most 0.5")
