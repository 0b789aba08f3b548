"""Small vocabulary checks that rules call on claim fields.

This module owns the shape and checksum tests for identifiers and codes that appear on a claim
line: NPI, NDC, place of service, ICD-10-CM, HCPCS/CPT and modifiers. It does not look codes up
in a payer's or a government's live code list (beyond the small, dated place-of-service table
below), does not decide coverage, and does not produce findings.

Every helper is total: the rule engine calls them on missing or mistyped values, so ``None``, a
number, a list or an empty string give ``False``/``None`` instead of an exception. Character
checks are ASCII-only on purpose: ``str.isdigit()`` accepts full-width and other Unicode digits
that no claim system will accept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = [
    "POS_CODES",
    "hcpcs_is_valid",
    "icd10_in",
    "modifier_is_valid",
    "normalize_icd10",
    "normalize_ndc",
    "npi_is_valid",
    "pos_is_valid",
]


def _is_ascii_digits(text: str) -> bool:
    # isdigit() alone accepts other scripts' digits (full-width, Arabic-Indic); ASCII first.
    return text.isascii() and text.isdigit()


# --- NPI -----------------------------------------------------------------------------------


# Luhn's doubled digit, with 9 subtracted when doubling gives two digits: 0..9 -> 0 2 4 6 8 1 3 5 7 9.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def npi_is_valid(value: object) -> bool:
    """True for a 10-digit NPI starting with 1 or 2 whose check digit is right."""
    if not isinstance(value, str) or len(value) != 10 or not _is_ascii_digits(value):
        return False
    if value[0] not in "12":
        return False
    # Luhn over "80840" (the ISO health-industry issuer prefix for the US) + the first nine
    # digits, unrolled: every claim checks one or two NPIs. From the right, the ninth digit is
    # doubled, then every other one; the prefix's digits add 24 whatever follows them.
    d = value.encode("ascii")  # bytes index as ints: the digit is the byte minus 48
    total = (
        24
        + _DOUBLED[d[8] - 48]
        + _DOUBLED[d[6] - 48]
        + _DOUBLED[d[4] - 48]
        + _DOUBLED[d[2] - 48]
        + _DOUBLED[d[0] - 48]
        + d[7]
        + d[5]
        + d[3]
        + d[1]
        - 4 * 48
    )
    return (10 - total % 10) % 10 == d[9] - 48


# --- NDC -----------------------------------------------------------------------------------

# Hyphenated layouts that map to 5-4-2 by padding exactly one segment with a leading zero.
# Ten plain digits are rejected: without hyphens there is no telling which segment to pad.
_NDC_LAYOUTS = {(5, 4, 2), (4, 4, 2), (5, 3, 2), (5, 4, 1)}
_NDC_WIDTHS = (5, 4, 2)


def normalize_ndc(value: object) -> str | None:
    """The 11-digit 5-4-2 NDC (digits only), or ``None`` when it cannot be normalised."""
    if not isinstance(value, str):
        return None
    if len(value) == 11 and _is_ascii_digits(value):
        return value
    parts = value.split("-")
    if len(parts) != 3 or not all(_is_ascii_digits(part) for part in parts):
        return None
    if tuple(len(part) for part in parts) not in _NDC_LAYOUTS:
        return None
    return "".join(part.zfill(width) for part, width in zip(parts, _NDC_WIDTHS, strict=True))


# --- Place of service ----------------------------------------------------------------------

# CMS Place of Service Code Set, checked against its mirror in the HL7 Terminology (THO)
# CodeSystem "CMSPlaceofServiceCodes" (HL7/UTG repository). The list is as of its latest change:
# code 66 (PACE center), added by CMS Transmittal 12779, effective 2024-08-01. Names are CMS's
# with typographic dashes and apostrophes made ASCII. Unassigned numbers (28-30, 35-40, 43-48,
# 59, 63-64, 67-70, 73-80, 82-98) are deliberately absent: a claim using one is wrong.
POS_CODES: Mapping[str, str] = MappingProxyType(
    {
        "01": "Pharmacy",
        "02": "Telehealth Provided Other than in Patient's Home",
        "03": "School",
        "04": "Homeless Shelter",
        "05": "Indian Health Service Free-standing Facility",
        "06": "Indian Health Service Provider-based Facility",
        "07": "Tribal 638 Free-standing Facility",
        "08": "Tribal 638 Provider-based Facility",
        "09": "Prison/Correctional Facility",
        "10": "Telehealth Provided in Patient's Home",
        "11": "Office",
        "12": "Home",
        "13": "Assisted Living Facility",
        "14": "Group Home",
        "15": "Mobile Unit",
        "16": "Temporary Lodging",
        "17": "Walk-in Retail Health Clinic",
        "18": "Place of Employment-Worksite",
        "19": "Off Campus-Outpatient Hospital",
        "20": "Urgent Care Facility",
        "21": "Inpatient Hospital",
        "22": "On Campus-Outpatient Hospital",
        "23": "Emergency Room - Hospital",
        "24": "Ambulatory Surgical Center",
        "25": "Birthing Center",
        "26": "Military Treatment Facility",
        "27": "Outreach Site/Street",
        "31": "Skilled Nursing Facility",
        "32": "Nursing Facility",
        "33": "Custodial Care Facility",
        "34": "Hospice",
        "41": "Ambulance - Land",
        "42": "Ambulance - Air or Water",
        "49": "Independent Clinic",
        "50": "Federally Qualified Health Center",
        "51": "Inpatient Psychiatric Facility",
        "52": "Psychiatric Facility-Partial Hospitalization",
        "53": "Community Mental Health Center",
        "54": "Intermediate Care Facility/Individuals with Intellectual Disabilities",
        "55": "Residential Substance Abuse Treatment Facility",
        "56": "Psychiatric Residential Treatment Center",
        "57": "Non-residential Substance Abuse Treatment Facility",
        "58": "Non-residential Opioid Treatment Facility",
        "60": "Mass Immunization Center",
        "61": "Comprehensive Inpatient Rehabilitation Facility",
        "62": "Comprehensive Outpatient Rehabilitation Facility",
        "65": "End-Stage Renal Disease Treatment Facility",
        "66": "Programs of All-Inclusive Care for the Elderly (PACE) Center",
        "71": "Public Health Clinic",
        "72": "Rural Health Clinic",
        "81": "Independent Laboratory",
        "99": "Other Place of Service",
    }
)


def pos_is_valid(value: object) -> bool:
    """True for an assigned two-digit CMS place-of-service code."""
    return (
        isinstance(value, str)
        and len(value) == 2
        and _is_ascii_digits(value)
        and value in POS_CODES
    )


# --- ICD-10-CM -----------------------------------------------------------------------------

# Letter, digit, alphanumeric category, then up to four more characters: 3 to 7 in all.
_ICD10_CODE = re.compile(r"[A-Z][0-9][A-Z0-9]{1,5}")
# A prefix may stop anywhere after the letter, so "J" and "J4" are prefixes but not codes.
_ICD10_PREFIX = re.compile(r"[A-Z](?:[0-9][A-Z0-9]{0,5})?")


def _clean_icd10(value: object) -> str | None:
    """Strip, uppercase and drop the conventional dot after the category, or give up."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    # Check ASCII before upper(): "ß".upper() is "SS", which would forge a valid-looking code.
    if not text.isascii():
        return None
    text = text.upper()
    if "." in text:
        if text.count(".") != 1 or text.index(".") != 3:
            return None
        text = text.replace(".", "")
    return text


def normalize_icd10(value: object) -> str | None:
    """ICD-10-CM code without its dot and in upper case (``"j45.40"`` -> ``"J4540"``)."""
    text = _clean_icd10(value)
    if text is None or not _ICD10_CODE.fullmatch(text):
        return None
    return text


def _normalize_icd10_prefix(prefix: object) -> str | None:
    if not isinstance(prefix, str):
        return None
    text = prefix.strip()
    # "J45.*" is a common way to write "anything under J45"; the star adds nothing to a prefix.
    if text.endswith("*"):
        text = text[:-1]
    cleaned = _clean_icd10(text)
    if cleaned is None or not _ICD10_PREFIX.fullmatch(cleaned):
        return None
    return cleaned


def icd10_in(code: object, prefixes: object) -> bool:
    """True when ``code`` falls under any of ``prefixes`` (``"J45"``, ``"J44."``, ``"J45.*"``).

    Invalid prefixes never match rather than raising. A bare string is taken as one prefix, not
    iterated character by character (which would make ``"J45"`` match every J code).
    """
    normalized = normalize_icd10(code)
    if normalized is None:
        return False
    if isinstance(prefixes, str):
        prefixes = (prefixes,)
    if not isinstance(prefixes, Iterable):
        return False
    for prefix in prefixes:
        cleaned = _normalize_icd10_prefix(prefix)
        if cleaned is not None and normalized.startswith(cleaned):
            return True
    return False


# --- HCPCS / CPT and modifiers -------------------------------------------------------------

# Level II: a letter A-V then four digits. CPT: five digits, or four digits then F
# (performance measures), T (emerging technology) or U (proprietary lab analyses).
_HCPCS = re.compile(r"[A-V][0-9]{4}|[0-9]{4}[0-9FTU]")
_MODIFIER = re.compile(r"[A-Z0-9]{2}")


def hcpcs_is_valid(value: object) -> bool:
    """True for the shape of a HCPCS Level II or CPT code (upper case only)."""
    return isinstance(value, str) and _HCPCS.fullmatch(value) is not None


def modifier_is_valid(value: object) -> bool:
    """True for two upper-case ASCII letters or digits, e.g. ``KO``, ``GA``, ``59``."""
    return isinstance(value, str) and _MODIFIER.fullmatch(value) is not None
