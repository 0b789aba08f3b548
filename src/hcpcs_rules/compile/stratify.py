"""Pass 6, stratify: each rule after every rule deriving a fact it refers to."""

from __future__ import annotations

import attrs

from .graph import order
from .state import Build


def stratify(build: Build) -> None:
    """Give each lowered rule its stratum, 1 + the highest stratum of the rules deriving the
    facts it refers to (reads or ``exists`` tests), and put the rules in evaluation order:
    by stratum, then ruleset order, then file order. Rules that read round a cycle are errors.
    """
    works = {w.lowered.id: w for w in build.rules if w.lowered is not None}
    rules = {rid: w.lowered for rid, w in works.items() if w.lowered is not None}

    def derivers(rid: str) -> list[str]:
        out = []
        for fact in rules[rid].depends:
            deriver = build.facts[fact].rule_id if fact in build.facts else None
            if deriver in rules:
                out.append(deriver)
        return out

    ordered, stuck = order(list(rules), derivers)
    for rid, trail in stuck.items():
        works[rid].where.error(f"derived facts form a cycle: {' -> '.join(trail)}")
    level: dict[str, int] = {}
    for rid in ordered:  # dependencies first, so every deriver's level is known
        level[rid] = max((1 + level[d] for d in derivers(rid)), default=0)
    file_order = {t.file: i for i, t in enumerate(build.texts)}
    out = [attrs.evolve(rules[rid], stratum=level[rid]) for rid in rules if rid in level]
    out.sort(key=lambda r: (r.stratum, file_order[r.file], r.file_line or 0))
    build.program_rules = out
