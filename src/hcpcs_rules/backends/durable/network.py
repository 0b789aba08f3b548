"""A model of durable_rules' alpha network, and the capacity checks built on it (:func:`check_limits`).

Part of the durable backend (see :mod:`hcpcs_rules.backends.durable` for the fences): the C engine
hangs or fails at run time when a ruleset outgrows its fixed-size tables, so the network it will
build is rebuilt here from the definition and checked before the engine ever sees it.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from typing import Any

from ...errors import RulesetError, RulesetProblem
from .translate import _RulePlan

__all__ = ["check_limits"]

# C engine limits (rete.h) and how close we let a ruleset get to them.
MAX_SIBLING_TESTS = 511  # NEXT_BUCKET_LENGTH: 512 children of one node hang the first assert
MAX_ALPHA_STACK = 64  # MAX_STACK_SIZE: the alpha walk's stack
# BETA_LIST_LENGTH (256) patterns may end on one alpha node, but the C code walks that list to
# its first empty slot: with all 256 taken it reads past the end (measured: intermittent
# segfaults at 256). Likewise for the NEXT_LIST_LENGTH (128) list of absence tests.
MAX_BETA_LINKS = 255
MAX_ABSENCE_TESTS = 127
MAX_RULES = 4000  # MAX_ACTIONS is 4096


class _AlphaNode:
    """A node of a model of durable_rules' alpha network, built the way rete.c builds it."""

    __slots__ = ("children", "ends", "equal_field", "passing", "rules")

    def __init__(self, equal_field: str | None = None, passing: int = 0) -> None:
        self.children: dict[str, _AlphaNode] = {}
        self.equal_field = equal_field  # set for `field == constant` tests
        # For a `$or` node: how many of its options one fact can pass (0 for other nodes).
        self.passing = passing
        self.rules: set[str] = set()
        self.ends = 0  # patterns whose chain ends here: each links a beta node to this node


def _alpha_network(definition: dict[str, Any], plans: dict[str, _RulePlan]) -> _AlphaNode:
    """Rebuild the alpha network the C engine will build from ``definition``.

    Each pattern is a chain of its tests under its type test. As in rete.c (findAlpha), a test
    equal to one already under the same parent shares that node, except array tests ($iany),
    joins to another fact (``{"key": {"s": "number"}}``) and ``$or`` tests, which never share:
    each rule adds its own (measured: 72 rules joining ``service`` to their line overflow the
    stack, and so do 64 identical two-option ``$or`` tests that a fact passes both options of;
    see _stack_needed).
    """
    root = _AlphaNode()
    unique = itertools.count()
    for name, rule_def in definition.items():
        rule_id = plans[name].rule.id if name in plans else name
        for pattern in rule_def["all"]:
            ((_alias, test),) = pattern.items()
            node = root
            for step in test.get("$and", [test]):
                key = (
                    f"#{next(unique)}" if _never_shared(step) else json.dumps(step, sort_keys=True)
                )
                if key not in node.children:
                    node.children[key] = _node_for(step)
                node = node.children[key]
                node.rules.add(rule_id)
            node.ends += 1
    return root


def _node_for(step: dict[str, Any]) -> _AlphaNode:
    ((field, value),) = step.items()
    if field == "$or":
        # Options testing one field for equality exclude each other; any other option may pass.
        equal_fields = set()
        others = 0
        for option in value:
            ((name, test),) = option.items() if len(option) == 1 else ((None, None),)
            if name is not None and not name.startswith("$") and not isinstance(test, dict):
                equal_fields.add(name)
            else:
                others += 1
        return _AlphaNode(passing=len(equal_fields) + others)
    constant = not field.startswith("$") and not isinstance(value, dict)
    return _AlphaNode(field if constant else None)


def _never_shared(step: dict[str, Any]) -> bool:
    ((field, value),) = step.items()
    return field in ("$iany", "$or") or (not field.startswith("$") and isinstance(value, dict))


def _stack_needed(node: _AlphaNode) -> int:
    """The deepest the C engine's alpha stack can get below ``node`` for one fact.

    handleAlpha walks the network depth first with a fixed stack of 64 entries: popping a node
    pushes every child whose test the fact passes. Children testing one field for equality with
    different constants exclude each other (at most one is pushed); any other child may be pushed.
    A ``$or`` node costs one more entry for each further option the fact passes (measured: 64
    such nodes fit with one passing option each, 63 with two, 62 with three).
    """
    groups: dict[Any, list[_AlphaNode]] = defaultdict(list)
    for child in node.children.values():
        groups[child.equal_field if child.equal_field is not None else id(child)].append(child)
    pushed = len(groups)
    deepest = pushed
    for members in groups.values():
        deepest = max(deepest, pushed - 1 + max(_needed_by(m) for m in members))
    return deepest


def _needed_by(node: _AlphaNode) -> int:
    below = _stack_needed(node)
    return below if node.passing == 0 else node.passing - 1 + max(1, below)


def check_limits(definition: dict[str, Any], plans: dict[str, _RulePlan]) -> None:
    """Refuse what the C engine would hang or fail on, naming the fact type and rules at fault.

    Limits (rete.h, rules.h): a node's conjunctive children live in a 512-slot open-addressing
    table, and the first assert spins forever once it is full (measured: 512 rules testing one
    field); the alpha walk has a 64-entry stack, and overflowing it fails asserts with error 303,
    depending on the data (measured: 65 tests all passing for one line); at most 256 patterns may
    end on one alpha node (error 108 at build: hundreds of rules behind one stratum gate) and 128
    absence tests hang off one node. The model of the network above is checked against these
    measurements in tests/test_durable_fences.py.
    """
    problems: list[RulesetProblem] = []
    if len(definition) > MAX_RULES:
        problems.append(
            RulesetProblem(
                "<program>",
                None,
                None,
                f"{len(definition)} rules exceed what the durable backend runs safely ({MAX_RULES})",
            )
        )
    root = _alpha_network(definition, plans)

    def walk(node: _AlphaNode, kind: str) -> None:
        if node.ends > MAX_BETA_LINKS:
            rules = sorted(node.rules)
            problems.append(
                RulesetProblem(
                    "<program>",
                    None,
                    rules[0],
                    f"{node.ends} rule patterns end on one test of the {kind} network (rules {', '.join(rules[:3])}...): durable_rules crashes at 256 and refuses more (error 108); split the ruleset, or use the python backend",
                )
            )
        absent = [c for key, c in node.children.items() if '"$nex"' in key]
        if len(absent) > MAX_ABSENCE_TESTS:
            problems.append(
                RulesetProblem(
                    "<program>",
                    None,
                    None,
                    f"{len(absent)} 'is missing' tests under one node of the {kind} network: durable_rules refuses more than {MAX_ABSENCE_TESTS}",
                )
            )
        conjunctive = [c for key, c in node.children.items() if '"$nex"' not in key]
        if len(conjunctive) > MAX_SIBLING_TESTS:
            rules = sorted({r for c in conjunctive for r in c.rules})
            problems.append(
                RulesetProblem(
                    "<program>",
                    None,
                    rules[0],
                    f"{len(conjunctive)} tests hang off one node of the {kind} network (rules {', '.join(rules[:3])}...): durable_rules hangs at 512; use a set constant or a derived fact",
                )
            )
        for child in node.children.values():
            walk(child, kind)

    for type_key, type_node in root.children.items():
        kind = json.loads(type_key).get("t", type_key)
        walk(type_node, kind)
        needed = _stack_needed(type_node)
        if needed > MAX_ALPHA_STACK:
            rules = sorted(type_node.rules)
            problems.append(
                RulesetProblem(
                    "<program>",
                    None,
                    None,
                    f"up to {needed} tests can pass for one {kind} fact (rules {', '.join(rules[:3])}... {len(rules)} in all): durable_rules fails asserts beyond {MAX_ALPHA_STACK}; use fewer rules on {kind} facts, or the python backend",
                )
            )
    if problems:
        raise RulesetError(problems)
