"""The per-claim internal-error record of a batch: :class:`EvaluationFailure`.

:func:`~hcpcs_rules.evaluate_many` answers every claim it is given, in order, with exactly one of:

- a :class:`~hcpcs_rules.Result` (the claim was checked),
- a :class:`~hcpcs_rules.ClaimError` (the claim does not fit the input shape), or
- an :class:`EvaluationFailure` (checking this claim failed inside the library, a plugin function
  or a worker process: a bug or an environment problem, never the claim's fault alone).

A failure is a value, not an exception, so one bad claim never ends a batch and no claim is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["EvaluationFailure"]

#: Longest message kept: an exception's text can be as large as the input that caused it.
MAX_MESSAGE_CHARS = 1000


@attrs.frozen(kw_only=True, slots=True)
class EvaluationFailure:
    """Evaluating one claim of a batch failed; the batch went on.

    ``index``: the claim's position in the input (0-based). ``claim_id``: its ``id`` when that was
    a string, else None. ``error_type``: the exception's class name (``"RuleExecutionError"``,
    ``"BackendError"``...), or ``"WorkerDied"`` when the worker process evaluating it kept dying.
    ``message``: one line of text (at most 1,000 characters). ``rule_id``: the rule that failed,
    when known.
    """

    index: int
    claim_id: str | None
    error_type: str
    message: str
    rule_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "claim_id": self.claim_id,
            "error_type": self.error_type,
            "message": self.message,
            "rule_id": self.rule_id,
        }

    @classmethod
    def from_exception(cls, index: int, claim: Any, exc: BaseException) -> EvaluationFailure:
        rule_id = getattr(exc, "rule_id", None)
        return cls(
            index=index,
            claim_id=claim_id_of(claim),
            error_type=type(exc).__name__,
            message=one_line(exc),
            rule_id=rule_id if isinstance(rule_id, str) else None,
        )


def claim_id_of(claim: Any) -> str | None:
    """The claim's id if it is plainly a string; never raises, whatever ``claim`` is."""
    try:
        value = claim.get("id") if isinstance(claim, Mapping) else getattr(claim, "id", None)
    except Exception:  # a hostile mapping: the failure record must still be made
        return None
    return value if type(value) is str else None


def one_line(exc: BaseException) -> str:
    """The exception's text on one line, at most MAX_MESSAGE_CHARS long; never raises."""
    try:
        text = str(exc)
    except Exception:  # an exception whose __str__ raises still gets a record
        text = f"<{type(exc).__name__} with an unprintable message>"
    text = " ".join(text[: 2 * MAX_MESSAGE_CHARS].split()) or type(exc).__name__
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text
