"""Pass 7, check examples: each ``[[rule.example]]`` as a claim (its base, patched).

Only the shape is checked here; whether each example fires as it says is the engine's check
when it is built (:mod:`hcpcs_rules.engine`), since that needs a backend.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import attrs

from .. import ir
from .context import Where, hint
from .specs import ExampleSpec, structure
from .state import Build, RuleWork

#: Keys without which (when written wrong) an example is not built: it would be another example.
_SKIP = ("name", "set", "unset")


def check_examples(build: Build) -> None:
    """Build each rule's examples (a base claim from ``[claims]`` or a claim of its own, with
    ``set``/``unset`` patches) and attach them to the rule's IR."""
    examples: dict[str, tuple[ir.Example, ...]] = {}
    # Claims by ruleset: an example's base may name one of a required ruleset ("core:clean").
    claims = {build.infos[t.file].name: t.claims for t in build.texts if t.file in build.infos}
    for work in build.rules:  # every rule's examples are checked, sound or not
        found = _examples(work, _Claims(build, claims, work.ruleset))
        if work.lowered is not None:
            examples[work.lowered.id] = found
    build.program_rules = [
        attrs.evolve(rule, examples=examples[rule.id]) for rule in build.program_rules
    ]


@attrs.frozen
class _Claims:
    """The example claims a rule of ``ruleset`` may take as a base."""

    build: Build
    by_ruleset: dict[str, dict[str, Any]]
    ruleset: str


def _examples(work: RuleWork, bases: _Claims) -> tuple[ir.Example, ...]:
    where = work.where
    lines = work.rule.example_lines
    out = []
    for index, example in enumerate(work.spec.example):
        line = lines[index] if index < len(lines) else work.rule.line
        if not isinstance(example, dict):
            continue
        spec = structure(
            ExampleSpec, example, where, unknown="example: unknown key {key}", line=line
        )
        if spec.fires is None or any(k in example and getattr(spec, k) is None for k in _SKIP):
            continue  # reported: nothing to check the claim against, to call it, or to patch
        claim = _claim(where, line, spec, bases)
        if claim is None:
            continue
        name = f"example {index + 1}" if spec.name is None else spec.name
        out.append(ir.Example(name, claim, spec.fires, spec.line, spec.severity, line))
    return tuple(out)


def _claim(where: Where, line: int | None, spec: ExampleSpec, bases: _Claims) -> Any:
    if spec.claim is not None:
        claim = copy.deepcopy(spec.claim)
    else:
        found = _base(where, line, spec.base, bases)
        if found is None:
            return None
        claim = copy.deepcopy(found)
    try:
        for path, value in (spec.set or {}).items():
            patch(claim, path, copy.deepcopy(value))
        for path in spec.unset or []:
            patch(claim, path, UNSET)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        where.error(f"example patch: {exc}", line=line)
        return None
    return claim  # TOML dates stay dates: the claim parser accepts datetime.date


def _base(where: Where, line: int | None, base: Any, bases: _Claims) -> Any:
    """The claim ``base`` names: one of this file's ``[claims]``, or, written
    ``"ruleset:claim"``, one of a required ruleset's (None, reported, when there is none).

    A colon cannot be read as anything else here (``base`` is a name, never an expression),
    so a base with one always names another ruleset's claim.
    """
    claims = where.text.claims
    if not isinstance(base, str) or ":" not in base:
        if base not in claims:
            where.error(
                f"example base {base!r} is not a claim in [claims]{hint(str(base), list(claims))}",
                line=line,
            )
            return None
        return claims[base]
    ruleset, _, name = base.partition(":")
    visible = bases.build.visible(bases.ruleset)
    if ruleset not in bases.by_ruleset:
        where.error(
            f"example base {base!r}: no ruleset {ruleset!r} is loaded"
            + (hint(ruleset, sorted(visible)) or f": add {ruleset!r} to requires to use it"),
            line=line,
        )
        return None
    if ruleset not in visible:
        want = ", ".join(repr(r) for r in (*bases.build.requires.get(bases.ruleset, ()), ruleset))
        where.error(
            f"example base {base!r}: ruleset {bases.ruleset!r} does not require {ruleset!r}, so"
            f" cannot use its example claims: add requires = [{want}]",
            line=line,
        )
        return None
    theirs = bases.by_ruleset[ruleset]
    if name not in theirs:
        where.error(
            f"example base {base!r}: ruleset {ruleset!r} has no claim {name!r} in [claims]"
            + hint(name, list(theirs)),
            line=line,
        )
        return None
    return theirs[name]


UNSET = object()
_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[[0-9]+\])*)")


def patch(data: Any, path: str, value: Any) -> None:
    """Set (or, with UNSET, remove) ``path`` like ``line[1].units`` inside ``data``.

    Paths count as an author counts everywhere else in a ruleset: ``line[1]`` is the claim's
    first line, as ``line = 1`` in an example and a finding's line are, and any other list's
    items count from 1 too (``line[1].modifiers[2]``). A path may name the item after the last
    to append one (``line[2] = {...}`` on a one-line claim).
    """
    steps: list[str | int] = []
    for number, part in enumerate(str(path).split(".")):
        match = _PATH_PART.fullmatch(part)
        if not match:
            raise ValueError(f"bad path {path!r}")
        name = match.group(1)
        indexes = [int(i) for i in re.findall(r"\[([0-9]+)\]", match.group(2))]
        if number == 0 and name == "lines" and indexes:
            fixed = re.sub(r"^lines\[([0-9]+)\]", lambda m: f"line[{int(m[1]) + 1}]", str(path))
            raise ValueError(
                f"{path!r}: a path names a line by its number, counted from 1 as findings count "
                f"lines: write {fixed!r}"
            )
        if number == 0 and name == "line":
            if len(indexes) != 1:
                raise ValueError(f"{path!r}: write line[N] for the claim's Nth line")
            name = "lines"
        if any(i == 0 for i in indexes):
            raise ValueError(f"{path!r}: items count from 1 ([1] is the first)")
        steps.append(name)
        steps.extend(i - 1 for i in indexes)
    target = data
    for step in steps[:-1]:
        if isinstance(step, str) and isinstance(target, dict) and step not in target:
            target[step] = {}
        target = target[step]
    last = steps[-1]
    if value is UNSET:
        del target[last]
    elif isinstance(last, int) and isinstance(target, list) and last == len(target):
        target.append(value)
    else:
        target[last] = value
