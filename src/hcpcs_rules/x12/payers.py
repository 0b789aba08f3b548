"""Which payer (overlay) and line of business an 837P claim is for, from SBR09 and the payer id.

The 837 names its payer twice: the claim filing indicator (2000B SBR09: ``MB`` Medicare Part B,
``16`` a Medicare Advantage (HMO Medicare risk) plan, ``BL`` Blue Cross Blue Shield, ``CI``
commercial...) and the payer's id (2010BB NM109), which for commercial payers is usually the
national id the clearinghouses route on. The default table below covers the payers the contract
knows; any other payer id is kept as the claim's ``payer`` so that an organisation's policy
(``[payers]`` in hcpcs-rules.toml) can map it to an overlay, and an engine that knows neither
refuses the claim at ``$.payer`` instead of guessing (docs/x12.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["DEFAULT_PAYER_IDS", "MEDICARE_FILING_CODES", "PAYER_IDS_FOR_WRITING", "payer_of"]

#: National payer ids -> the contract's payer names.
DEFAULT_PAYER_IDS: Mapping[str, str] = MappingProxyType(
    {
        # The four DME MACs (jurisdictions A, B, C, D) are Medicare's payers for DMEPOS claims.
        "16003": "medicare",
        "17003": "medicare",
        "18003": "medicare",
        "19003": "medicare",
        "60054": "aetna",
        "87726": "uhc",
        "62308": "cigna",
    }
)

#: SBR09 codes that mean traditional Medicare whatever the payer id says.
MEDICARE_FILING_CODES = frozenset({"MB"})
_MEDICARE_ADVANTAGE = "16"
_BCBS = "BL"

#: What write_837p puts in SBR09 and NM109 for each contract payer.
PAYER_IDS_FOR_WRITING: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "medicare": ("MB", "19003"),
        "aetna": ("CI", "60054"),
        "uhc": ("CI", "87726"),
        "cigna": ("CI", "62308"),
        # BCBS plans have their own ids; the name stands in for one, and reads back as bcbs
        # under SBR09 BL, or as the payer named "bcbs" under any other filing code.
        "bcbs": ("BL", "bcbs"),
    }
)


def payer_of(
    filing_code: str, payer_id: str, extra: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """``(payer, line_of_business)`` for a claim filed with SBR09 ``filing_code`` to ``payer_id``.

    ``extra`` maps more payer ids to payer names, and wins over the default table.
    """
    line_of_business = "medicare_advantage" if filing_code == _MEDICARE_ADVANTAGE else "commercial"
    if filing_code in MEDICARE_FILING_CODES:
        return "medicare", "commercial"
    if extra and payer_id in extra:
        return extra[payer_id], line_of_business
    if payer_id in DEFAULT_PAYER_IDS:
        return DEFAULT_PAYER_IDS[payer_id], line_of_business
    if filing_code == _BCBS:
        return "bcbs", line_of_business
    return payer_id, line_of_business
