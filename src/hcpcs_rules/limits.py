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

__all__ = [
    "CEILING_COUNT",
    "CEILING_DECIMAL_PLACES",
    "CEILING_INTEGER_DIGITS",
    "DEFAULT_LIMITS",
    "Limits",
]


def _at_least_one(_instance: object, attribute: attrs.Attribute, value: object) -> None:
    # bool is an int subclass, and Limits(max_lines=True) is surely a mistake.
    if type(value) is not int or value < 1:
        raise ValueError(f"Limits.{attribute.name} must be an integer of at least 1, got {value!r}")


def _not_negative(_instance: object, attribute: attrs.Attribute, value: object) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"Limits.{attribute.name} must be an integer of at least 0, got {value!r}")


#: The largest number sizes a claim may ever have. The rule compiler proves, from these, that no
#: rule's arithmetic can outgrow exact 60-digit decimal arithmetic (hcpcs_rules.functions'
#: CLAIM_BOUND and COUNT_BOUND), so a Limits may lower them but never raise them.
CEILING_INTEGER_DIGITS = 12
CEILING_DECIMAL_PLACES = 6
CEILING_COUNT = 1_000_000


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
    #: one). This and ``max_integer_digits`` may be lowered, not raised (see the ceilings above).
    max_decimal_places: int = attrs.field(default=6, validator=_not_negative)
    #: Largest integer count (days' supply, times per day, diagnosis pointer values).
    max_count: int = attrs.field(default=1_000_000, validator=_at_least_one)

    def __attrs_post_init__(self) -> None:
        for name, ceiling in (
            ("max_integer_digits", CEILING_INTEGER_DIGITS),
            ("max_decimal_places", CEILING_DECIMAL_PLACES),
            ("max_count", CEILING_COUNT),
        ):
            if getattr(self, name) > ceiling:
                raise ValueError(
                    f"Limits.{name} is at most {ceiling:,}: rulesets are compiled on the "
                    "promise that claim numbers are no larger, so that their exact arithmetic "
                    "never rounds"
                )


#: The limits every Engine and ``parse_claim`` use unless given others.
DEFAULT_LIMITS = Limits()
