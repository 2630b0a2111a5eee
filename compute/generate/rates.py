"""The rates at which defects are planted in the synthetic data."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from compute.exceptions import ParameterError

# Roster records that conflict with residents (what `verify` reports).
ROSTER_KINDS = ("invalid_id", "orphan", "name_mismatch", "birth_mismatch")
# Roster records whose ID is held in another written form; they agree with residents once the
# ID is normalised.
ID_FORM_KINDS = ("padded_id", "lowercase_id", "fullwidth_id", "legacy_id")
REGISTRY_KINDS = ("registry_duplicate", "registry_invalid")
PAYMENT_KINDS = ("duplicate", "after_death")
# Tables where `invalid_id` is planted besides the rosters.
INVALID_ID_TABLES = ("deaths", "tax_returns", "benefit_payments")


@dataclass(frozen=True)
class DefectRates:
    """Share of records planted with each defect, validated on construction.

    Roster kinds (``insured_persons``, ``medical_insured``) are shares of each roster's
    records; ``invalid_id`` is also the share of ``deaths``, ``tax_returns`` and the rightful
    ``benefit_payments``. ``lowercase_id`` and ``legacy_id`` are capped by the records that can
    carry them (IDs ending in X; people born 1900-1999). Registry kinds are shares of the
    ``residents`` rows (duplicates at most half the rows the invalid ones leave);
    payment kinds are shares of the ``benefit_payments`` rows paid correctly.
    """

    invalid_id: float = 0.002
    orphan: float = 0.002
    name_mismatch: float = 0.004
    birth_mismatch: float = 0.003
    duplicate: float = 0.002
    after_death: float = 0.001
    padded_id: float = 0.002
    lowercase_id: float = 0.001
    fullwidth_id: float = 0.001
    legacy_id: float = 0.001
    registry_duplicate: float = 0.001
    registry_invalid: float = 0.001

    def __post_init__(self) -> None:
        for name, rate in asdict(self).items():
            if not isinstance(rate, (int, float)) or not math.isfinite(rate) or not 0 <= rate <= 1:
                raise ParameterError(f"defect rate {name} must be in [0, 1], not {rate!r}")
        # A roster record carries at most one planted defect.
        roster = ROSTER_KINDS + ID_FORM_KINDS
        if sum(getattr(self, kind) for kind in roster) > 0.5:
            raise ParameterError(f"the roster rates {roster} must sum to at most 0.5")
        if any(getattr(self, kind) > 0.5 for kind in PAYMENT_KINDS + REGISTRY_KINDS):
            raise ParameterError(
                f"the payment and registry rates {PAYMENT_KINDS + REGISTRY_KINDS} must be at "
                "most 0.5"
            )
