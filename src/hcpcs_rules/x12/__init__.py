"""X12 837P claims in and out: read an 837P into the claim contract with where each claim and
line came from, and write claims as an 837P. See docs/x12.md.

The default path needs nothing beyond the library (its own streaming tokenizer); pyx12 (the
``[x12]`` extra) is only for validating files against the implementation guide and writing
their 999 (``validate_x12``). ``write_277ca`` answers a checked 837P with a 277CA.
"""

from __future__ import annotations

from .ack import acknowledge, iter_277ca, write_277ca
from .check import check_837p, is_x12, locate
from .payers import DEFAULT_PAYER_IDS, payer_of
from .read import IMPLEMENTATION_GUIDE, Summary, X12Claim, X12Error, X12File, read_837p
from .reference import Directory, ReferenceError, Sidecar, load_directory, load_sidecar
from .tokens import Delimiters, Segment, TokenError, tokenize
from .validate import Validation, ValidationUnavailable, validate_x12
from .write import reference_data, write_837p

__all__ = [
    "DEFAULT_PAYER_IDS",
    "IMPLEMENTATION_GUIDE",
    "Delimiters",
    "Directory",
    "ReferenceError",
    "Segment",
    "Sidecar",
    "Summary",
    "TokenError",
    "Validation",
    "ValidationUnavailable",
    "X12Claim",
    "X12Error",
    "X12File",
    "acknowledge",
    "check_837p",
    "is_x12",
    "iter_277ca",
    "load_directory",
    "load_sidecar",
    "locate",
    "payer_of",
    "read_837p",
    "reference_data",
    "tokenize",
    "validate_x12",
    "write_277ca",
    "write_837p",
]
