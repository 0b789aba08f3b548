"""Pass 6, check examples: each ``[[rule.example]]`` as a claim (its base, patched).

Only the shape is checked here; whether each example fires as it says is the engine's check
when it is built (:mod:`hcpcs_rules.engine`), since that needs a backend.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import attrs

from .. import ir
from .context import SEVERITIES, Build, RuleWork, Where, hint

EXAMPLE_KEYS = {"name", "base", "claim", "set", "unset", "fires", "line", "severity"}


def check_examples(build: Build) -> None:
    """Build each rule's examples (a base claim from ``[claims]`` or a claim of its own, with
    ``set``/``unset`` patches) and attach them to the rule's IR."""
    examples: dict[str, tuple[ir.Example, ...]] = {}
    for work in build.rules:  # every rule's examples are checked, sound or not
        found = _examples(work)
        if work.lowered is not None:
            examples[work.lowered.id] = found
    build.program_rules = [
        attrs.evolve(rule, examples=examples[rule.id]) for rule in build.program_rules
    ]


def _examples(work: RuleWork) -> tuple[ir.Example, ...]:
    raw = work.data.get("example", [])
    where = work.where
    if not isinstance(raw, list):
        where.error("examples must be [[rule.example]] tables")
        return ()
    lines = work.rule.example_lines
    out = []
    for index, example in enumerate(raw):
        line = lines[index] if index < len(lines) else work.rule.line
        if not isinstance(example, dict):
            continue
        for key in sorted(set(example) - EXAMPLE_KEYS):
            where.error(f"example: unknown key {key!r}{hint(key, EXAMPLE_KEYS)}", line=line)
        name = example.get("name", f"example {index + 1}")
        if not isinstance(name, str):
            where.error("example name must be a string", line=line)
            continue
        if where.too_long("example name", name, line=line):
            continue
        fires = example.get("fires")
        if not isinstance(fires, bool):
            where.error("example needs fires = true or fires = false", line=line)
            continue
        claim = _claim(where, line, example)
        if claim is None:
            continue
        expected_line = example.get("line")
        severity = example.get("severity")
        if expected_line is not None and not isinstance(expected_line, int):
            where.error("example line must be a line number", line=line)
        if severity is not None and severity not in SEVERITIES:
            where.error(f"example severity must be one of {', '.join(SEVERITIES)}", line=line)
        out.append(ir.Example(str(name), claim, fires, expected_line, severity, line))
    return tuple(out)


def _claim(where: Where, line: int | None, example: dict[str, Any]) -> Any:
    claims = where.text.claims
    if "claim" in example:
        claim = copy.deepcopy(example["claim"])
    else:
        base = example.get("base")
        if base not in claims:
            where.error(
                f"example base {base!r} is not a claim in [claims]{hint(str(base), list(claims))}",
                line=line,
            )
            return None
        claim = copy.deepcopy(claims[base])
    try:
        for path, value in (example.get("set") or {}).items():
            patch(claim, path, copy.deepcopy(value))
        for path in example.get("unset") or []:
            patch(claim, path, UNSET)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        where.error(f"example patch: {exc}", line=line)
        return None
    return claim  # TOML dates stay dates: the claim parser accepts datetime.date


UNSET = object()
_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")


def patch(data: Any, path: str, value: Any) -> None:
    """Set (or, with UNSET, remove) ``path`` like ``lines[0].units`` inside ``data``."""
    steps: list[str | int] = []
    for part in str(path).split("."):
        match = _PATH_PART.fullmatch(part)
        if not match:
            raise ValueError(f"bad path {path!r}")
        steps.append(match.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
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
