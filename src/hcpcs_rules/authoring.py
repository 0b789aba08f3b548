"""Tools for ruleset authors, behind ``hcpcs-rules test``, ``coverage`` and ``diff``.

- :func:`run_examples`: every example of the named rulesets, on every backend available here, one
  :class:`ExampleCase` each (and :func:`junit_xml` to hand them to CI);
- :func:`coverage`: how often each rule fired over a stream of claims, and which never did;
- :func:`diff`: the findings that appear, disappear or change severity between two engines
  (two versions of a ruleset, say) over the same claims.

The command line only wires these to arguments and output (:mod:`hcpcs_rules.cli`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from xml.etree import ElementTree as ET

import attrs

from .engine import Engine, run_example
from .errors import ClaimError, RulesetError
from .failure import EvaluationFailure
from .model import Finding, Result

__all__ = [
    "Change",
    "ClaimDiff",
    "Coverage",
    "ExampleCase",
    "coverage",
    "diff",
    "junit_xml",
    "run_examples",
]


# ----------------------------------------------------------------------------------- test


@attrs.frozen
class ExampleCase:
    """One example on one backend. ``problem`` is None when it behaved as written.

    A ruleset that does not build on a backend is one case with ``rule_id`` and ``example``
    None and the build's error as the problem.
    """

    backend: str
    ruleset: str
    rule_id: str | None
    example: str | None
    file: str | None
    line: int | None
    problem: str | None

    @property
    def passed(self) -> bool:
        return self.problem is None

    @property
    def where(self) -> str:
        if self.file is None:
            return "?"
        return f"{self.file}:{self.line}" if self.line is not None else self.file


def run_examples(
    rulesets: Sequence[str | os.PathLike[str]] | None = None,
    backends: Sequence[str] | None = None,
) -> list[ExampleCase]:
    """Run every example of ``rulesets`` (names or paths; default every installed one) on each
    backend (default: every one available here). Rulesets they require are built too, but only
    the named rulesets' examples are run. Never raises for a broken ruleset: it is a case."""
    from .testing import available_backends

    if isinstance(rulesets, str | os.PathLike):
        raise TypeError("rulesets must be a list of names or paths, not one name or path")
    selection = None if rulesets is None else tuple(rulesets)
    cases: list[ExampleCase] = []
    for backend in backends or available_backends():
        try:
            # Examples are run here one by one, so that each is reported on its own.
            engine = Engine(selection, backend=backend, check_examples=False)
        except (RulesetError, RuntimeError) as exc:
            label = ", ".join(str(r) for r in selection) if selection else "installed rulesets"
            cases.append(ExampleCase(backend, label, None, None, None, None, str(exc)))
            continue
        try:
            wanted = _named(engine, selection)
            for rule in engine.program.rules:
                if rule.ruleset not in wanted:
                    continue
                if rule.finding is not None and not (
                    any(e.fires for e in rule.examples) and any(not e.fires for e in rule.examples)
                ):
                    cases.append(
                        ExampleCase(
                            backend,
                            rule.ruleset,
                            rule.id,
                            "(examples)",
                            rule.file,
                            rule.file_line,
                            "a rule that emits findings needs an example that fires it and a "
                            "near miss that does not",
                        )
                    )
                for example in rule.examples:
                    problem = run_example(engine, rule, example)
                    cases.append(
                        ExampleCase(
                            backend,
                            rule.ruleset,
                            rule.id,
                            example.name,
                            rule.file,
                            example.file_line,
                            problem,
                        )
                    )
        finally:
            engine.close()
    return cases


def _named(engine: Engine, selection: Sequence[Any] | None) -> set[str]:
    """The names of the rulesets ``selection`` names (by name or by file), not those required."""
    if selection is None:
        return {r.name for r in engine.program.rulesets}
    wanted = {str(s) for s in selection}
    paths = {os.path.realpath(s) for s in wanted if str(s).endswith(".toml")}
    return {
        r.name
        for r in engine.program.rulesets
        if r.name in wanted or os.path.realpath(r.file) in paths
    }


def junit_xml(cases: Sequence[ExampleCase]) -> str:
    """The cases as JUnit XML: one test suite per backend, one test case per example."""
    root = ET.Element("testsuites", name="hcpcs-rules examples")
    for backend in dict.fromkeys(c.backend for c in cases):
        mine = [c for c in cases if c.backend == backend]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"examples[{backend}]",
            tests=str(len(mine)),
            failures=str(sum(not c.passed for c in mine)),
            errors="0",
            skipped="0",
        )
        for case in mine:
            attributes = {
                "classname": f"{case.ruleset}.{case.rule_id or '(build)'}",
                "name": f"{case.example or 'build'}[{backend}]",
            }
            if case.file is not None:
                attributes["file"] = case.file
            if case.line is not None:
                attributes["line"] = str(case.line)
            element = ET.SubElement(suite, "testcase", attributes)
            if case.problem is not None:
                failure = ET.SubElement(element, "failure", message=_xml_text(case.problem[:500]))
                failure.text = _xml_text(f"{case.where}: {case.problem}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _xml_text(text: str) -> str:
    # XML 1.0 cannot hold most control characters at all, escaped or not.
    return "".join(
        c if c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff") else f"\\x{ord(c):02x}"
        for c in text
    )


# ------------------------------------------------------------------------------- coverage


@attrs.frozen
class Coverage:
    """How often each rule fired over a set of claims (``fired``: every rule of the engine,
    0 for those that never fired, in program order) and how many claims that was."""

    fired: dict[str, int]
    claims: int
    invalid: int
    failed: int

    @property
    def never(self) -> list[str]:
        return [rule_id for rule_id, count in self.fired.items() if count == 0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "claims": self.claims,
            "invalid": self.invalid,
            "failed": self.failed,
            "fired": self.fired,
            "never_fired": self.never,
        }


def coverage(engine: Engine, claims: Iterable[Any]) -> Coverage:
    """Evaluate ``claims`` with ``explain`` and count each rule's firings (a finding rule once
    per finding, a deriving rule once per fact it derived)."""
    fired: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for outcome in engine.evaluate_many(claims, explain=True):
        if isinstance(outcome, ClaimError):
            counts["invalid"] += 1
        elif isinstance(outcome, EvaluationFailure):
            counts["failed"] += 1
        else:
            counts["claims"] += 1
            for step in outcome.trace:
                fired[step.rule_id] += 1
    return Coverage(
        {rule.id: fired[rule.id] for rule in engine.program.rules},
        counts["claims"],
        counts["invalid"],
        counts["failed"],
    )


# ----------------------------------------------------------------------------------- diff


@attrs.frozen
class Change:
    """One finding that differs: ``kind`` is ``"added"``, ``"removed"`` or ``"severity"``."""

    kind: str
    rule_id: str
    line: int | None
    old_severity: str | None
    new_severity: str | None
    message: str  # the new finding's message, or the old one's when it went away

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class ClaimDiff:
    """What changed on one claim (``location``: where it was read). ``old_status`` and
    ``new_status`` are the claim's status, or ``"invalid"``/``"failed"``."""

    location: str
    claim_id: str | None
    old_status: str
    new_status: str
    changes: tuple[Change, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "claim_id": self.claim_id,
            "old_status": self.old_status,
            "new_status": self.new_status,
            "changes": [c.to_dict() for c in self.changes],
        }


def diff(old: Engine, new: Engine, claims: Iterable[tuple[str, Any]]) -> Iterator[ClaimDiff]:
    """For each ``(location, claim)``, what changed between ``old`` and ``new``; claims with
    no change are yielded too (with no changes), so a caller can count them.

    Findings are matched by rule id and line; several findings of one rule on one line are
    compared as a multiset of severities.
    """
    for location, claim in claims:
        before = _outcome(old, claim)
        after = _outcome(new, claim)
        changes = _changes(before, after)
        claim_id = next((r.claim_id for r in (before, after) if isinstance(r, Result)), None)
        yield ClaimDiff(location, claim_id, _status(before), _status(after), tuple(changes))


def _outcome(engine: Engine, claim: Any) -> Result | ClaimError | EvaluationFailure:
    return next(engine.evaluate_many([claim]))


def _status(outcome: Any) -> str:
    if isinstance(outcome, Result):
        return outcome.status
    return "invalid" if isinstance(outcome, ClaimError) else "failed"


def _changes(before: Any, after: Any) -> list[Change]:
    old = _by_key(before)
    new = _by_key(after)
    changes: list[Change] = []
    for key in sorted(set(old) | set(new), key=lambda k: (k[1] or 0, k[0])):
        rule_id, line = key
        was = sorted(old.get(key, []), key=lambda f: f.severity)
        now = sorted(new.get(key, []), key=lambda f: f.severity)
        # Pair equal severities first; what is left over changed.
        for finding in list(was):
            same = next((f for f in now if f.severity == finding.severity), None)
            if same is not None:
                was.remove(finding)
                now.remove(same)
        while was and now:
            a, b = was.pop(0), now.pop(0)
            changes.append(Change("severity", rule_id, line, a.severity, b.severity, b.message))
        changes.extend(Change("removed", rule_id, line, f.severity, None, f.message) for f in was)
        changes.extend(Change("added", rule_id, line, None, f.severity, f.message) for f in now)
    return changes


def _by_key(outcome: Any) -> dict[tuple[str, int | None], list[Finding]]:
    out: dict[tuple[str, int | None], list[Finding]] = {}
    if isinstance(outcome, Result):
        for finding in outcome.findings:
            out.setdefault((finding.rule_id, finding.line), []).append(finding)
    return out
