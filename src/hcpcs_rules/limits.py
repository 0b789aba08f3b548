"""How large a claim may be: the bounds the claim boundary enforces before any other work.

A claim comes from outside (a file, a queue, a web form), so everything about its size is
bounded before it is structured, computed with or handed to a rule engine. Each default sits well
above anything a real claim carries, and where a billing standard fixes a number (the X12 837P
professional claim the rulesets are written for) the default is that number. A claim over a limit
is refused with a :class:`~hcpcs_rules.errors.ClaimError` whose message names the limit, e.g.
``at most 50 lines per claim (Limits.max_lines)``; a caller who needs more passes its own
``Limits`` to :class:`~hcpcs_rules.engine.Engine` or :func:`~hcpcs_rules.claims.parse_claim`.

What is wrong *as a claim* but small (five modifiers where a line has four slots) is not a limit:
the rules report it as a finding. Limits only refuse sizes no billing system produces.
"""

from __future__ import annotations

import attrs

__all__ = ["DEFAULT_LIMITS", "Limits"]


def _at_least_one(_instance: object, attribute: attrs.Attribute, value: object) -> None:
    # bool is an int subclass, and Limits(max_lines=True) is surely a mistake.
    if type(value) is not int or value < 1:
        raise ValueError(f"Limits.{attribute.name} must be an integer of at least 1, got {value!r}")


def _not_negative(_instance: object, attribute: attrs.Attribute, value: object) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"Limits.{attribute.name} must be an integer of at least 0, got {value!r}")


#: Rules compute in exact 60-digit decimal arithmetic (units.EXACT_CONTEXT) and multiply up to
#: three quantities; 20 significant digits per quantity keep every such product exact.
MAX_SIGNIFICANT_DIGITS = 20


@attrs.frozen(kw_only=True)
class Limits:
    """The bounds on one claim. Every field is a positive integer; see ``docs/claim-format.md``."""

    #: Service lines per claim: the 837P carries at most 50 (loop 2400). Evaluation cost grows
    #: with lines (on the durable backend faster than linearly, past a few hundred).
    max_lines: int = attrs.field(default=50, validator=_at_least_one)
    #: Diagnosis codes per claim: the 837P's HI segment and the CMS-1500 (item 21, A-L) carry 12.
    max_diagnoses: int = attrs.field(default=12, validator=_at_least_one)
    #: Diagnosis pointers per line: the 837P's SV107 composite and CMS-1500 item 24E carry 4.
    max_diagnosis_pointers: int = attrs.field(default=4, validator=_at_least_one)
    #: Items in any other list (modifiers, enrollments, attachments) and keys in any object. Far
    #: above any real claim (a line has 4 modifier slots, and five modifiers are a finding of
    #: rule CLAIM-MODIFIERS-TOO-MANY, not an error), low enough to bound the work per claim.
    max_list_items: int = attrs.field(default=100, validator=_at_least_one)
    #: Characters in any string value. The longest free text of an 837P (a line note, NTE02) is
    #: 80 characters and identifiers are shorter; 10,000 leaves room for notes pasted from records
    #: while bounding what rules scan (word counts, patterns) per line.
    max_string_length: int = attrs.field(default=10_000, validator=_at_least_one)
    #: Characters in a number's text (sign, point and padding zeros included), checked before the
    #: text is converted: a megabyte of digits is refused unread.
    max_number_length: int = attrs.field(default=40, validator=_at_least_one)
    #: Digits before the decimal point (quantities and money below 10**12).
    max_integer_digits: int = attrs.field(default=12, validator=_at_least_one)
    #: Decimal places that carry a digit (trailing fractional zeros do not count: "1.000000000" is
    #: one). Together with ``max_integer_digits`` this keeps every quantity to 18 significant
    #: digits, so products of three quantities stay exact in the rules' 60-digit arithmetic.
    max_decimal_places: int = attrs.field(default=6, validator=_not_negative)
    #: Largest integer count (days' supply, times per day, diagnosis pointer values).
    max_count: int = attrs.field(default=1_000_000, validator=_at_least_one)
    def __attrs_post_init__(self) -> None:
        digits = self.max_integer_digits + self.max_decimal_places
        if digits > MAX_SIGNIFICANT_DIGITS:
            raise ValueError(
                f"Limits.max_integer_digits + Limits.max_decimal_places is {digits}: at most "
                f"{MAX_SIGNIFICANT_DIGITS}, so that products of quantities stay exact"
            )


#: The limits every Engine and ``parse_claim`` use unless given others.
DEFAULT_LIMITS = Limits()
