"""The durable_rules backend: the IR compiled into a Rete network of the durable_rules C engine.

Every sharp edge of durable_rules 2.0.28 is fenced in this module, and nowhere else in the library
touches it. What each fence is for (``docs/durable.md`` has the measurements):

- **No Host, no DSL.** ``durable.lang`` keeps global state and ``engine.Host`` starts two
  background timer threads per host that race our callers (lost findings, segfaults). We drive the
  C core (``durable_rules_engine``) directly from a plain ruleset definition: no thread is ever
  started, every action runs on the calling thread inside :meth:`DurableBackend.evaluate`.
- **One lock per compiled ruleset.** The C core has no locks of its own. Evaluations of one Engine
  are serialised (under the GIL this costs nothing: the C calls never release it).
- **One session per evaluation, always deleted.** A fresh ``sid`` per claim, ``delete_state`` in
  ``finally`` (after ``abandon_action`` if an action failed). The C engine caps live sessions at
  1,024 per ruleset and segfaults when the session that hit the cap is touched again; with the lock
  at most one session is ever alive, and a claim whose evaluation fails leaves none behind.
- **A begin fact per session.** ``delete_state`` frees two pointers that are only initialised when
  an action has run in the session; a no-op ``__begin__`` rule guarantees one always has.
- **Facts, never events; unique ids.** Events are consumed by the first rule that fires; facts with
  equal content collide unless each has its own ``id``.
- **Strata behind gate facts.** ``$not`` in durable_rules is decided once, when the facts to its
  left arrive; a negated fact asserted later does not cancel the match (measured). Rules that read
  derived facts therefore start with a ``__gate__`` pattern for their stratum, and the gate is
  asserted only once every lower stratum has finished, so every join sees complete facts.
- **Compile-time limits.** 512 sibling tests on one field make the first assert spin forever; more
  than 64 alpha tests matching one fact fail at run time; rule names and properties have caps. The
  translator counts and refuses such rulesets with a :class:`RulesetError` before durable sees them.
- **Rulesets are freed.** The Host API never frees a C ruleset; we call ``delete_ruleset`` when the
  backend is garbage collected.

What the network evaluates: the type of each fact, joins between facts on their keys, negation,
and exact equality/membership tests on strings, integers and booleans. Everything else in a
condition (vocabulary functions, exact decimal arithmetic, dates) runs as a Python guard in the
rule's action, like a CLIPS ``test`` element, generated from the same IR as the python backend.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import weakref
from collections import defaultdict
from typing import Any

from .. import ir
from ..codegen import CompiledRule, compile_rule
from ..errors import (
    BackendError,
    EngineClosed,
    HcpcsRulesError,
    RuleExecutionError,
    RulesetError,
    RulesetProblem,
)
from ..facts import Facts, fact_id, make_fire

__all__ = ["DurableBackend", "DurableUnavailable", "translate"]

BEGIN = "__begin__"
GATE = "__gate__"
# C engine limits (rete.h) and how close we let a ruleset get to them.
MAX_SIBLING_TESTS = 511  # NEXT_BUCKET_LENGTH: 512 children of one node hang the first assert
MAX_ALPHA_STACK = 64  # MAX_STACK_SIZE: the alpha walk's stack
# BETA_LIST_LENGTH (256) patterns may end on one alpha node, but the C code walks that list to
# its first empty slot: with all 256 taken it reads past the end (measured: intermittent
# segfaults at 256). Likewise for the NEXT_LIST_LENGTH (128) list of absence tests.
MAX_BETA_LINKS = 255
MAX_ABSENCE_TESTS = 127
MAX_RULES = 4000  # MAX_ACTIONS is 4096
MAX_SET_SIZE = 32  # larger literal sets stay in the Python guard
_SCALAR = {"str", "int", "bool"}

_names = itertools.count()
_ACTION_NAME = re.compile(r'\{"([^"]+)"')
_SUBJECT_LINE = re.compile(r'"id":\s*"line:(\d+)"')


class DurableUnavailable(RuntimeError):
    """durable_rules cannot be imported on this Python."""


def _import_engine():
    try:
        import durable_rules_engine
    except ImportError as exc:
        import sys

        why = (
            "durable-rules 2.0.28 does not import on Python 3.13+ "
            "(its C extension calls PyEval_CallObject, removed in 3.13)"
            if sys.version_info >= (3, 13)
            else "durable-rules is not installed (pip install 'durable-rules==2.0.28'; it needs a C compiler)"
        )
        raise DurableUnavailable(
            f"backend='durable' is unavailable: {why}; use backend='python'. ({exc})"
        ) from None
    return durable_rules_engine


class _RulePlan:
    """How one IR rule became a durable rule: its patterns and the Python guard left over."""

    __slots__ = ("fire", "guard", "name", "rule", "subject_line")

    def __init__(
        self,
        name: str,
        rule: ir.Rule,
        guard: CompiledRule,
        fact_per: dict[str, str],
        residual: bool,
    ) -> None:
        self.name = name
        self.rule = rule
        # None when the network decides the whole condition: nothing is left to test in Python.
        self.guard = guard.match if residual else None
        self.fire = make_fire(guard, fact_per)
        self.subject_line = rule.on == "line"


def _native_test(conj: ir.Expr, facts: dict[str, ir.DerivedFact]) -> tuple[str, Any] | None:
    """``(root, durable test)`` when the network can decide ``conj`` exactly, else None."""

    def field(path: ir.Expr) -> tuple[str, str] | None:
        if (
            not isinstance(path, ir.Path)
            or len(path.fields) != 1
            or path.type not in _SCALAR | {"list[str]", "list[int]"}
        ):
            return None
        return path.root, path.fields[0]

    if isinstance(conj, ir.BoolOp) and conj.op == "or":
        # `a or b` on one fact is a $or of the network tests of a and b (a payer scope:
        # `payer_scope.overlay in S or payer_scope.program in S`).
        parts = [_native_test(value, facts) for value in conj.values]
        if any(p is None for p in parts) or len({p[0] for p in parts}) != 1:  # type: ignore[index]
            return None
        options: list[Any] = []
        for _, test in parts:  # type: ignore[misc]
            options.extend(test.get("$or", [test]))
        if len(options) > MAX_SET_SIZE:
            return None
        return parts[0][0], {"$or": options}  # type: ignore[index]
    if isinstance(conj, ir.Path) and conj.type == "bool" and field(conj):
        root, name = field(conj)  # type: ignore[misc]
        return root, {name: True}
    if not isinstance(conj, ir.Compare):
        return None
    left, right, op = conj.left, conj.right, conj.op
    if op in ("==", "!=") and isinstance(left, ir.Const) and not isinstance(right, ir.Const):
        left, right = right, left
    target = field(left)
    if target is None:
        if (
            op == "in"
            and isinstance(left, ir.Const)
            and isinstance(left.value, str)
            and isinstance(right, ir.Path)
        ):
            target = field(right)
            if target and right.type == "list[str]":
                return target[0], {"$iany": {target[1]: {"$i": left.value}}}
        return None
    root, name = target
    if left.type not in _SCALAR or not isinstance(right, ir.Const):
        return None
    value = right.value
    if op in ("==", "!=") and value is None:
        return root, {"$nex" if op == "==" else "$ex": {name: 1}}
    if op in ("==", "!=") and isinstance(value, str | int) and right.type in _SCALAR:
        return root, ({name: value} if op == "==" else {"$neq": {name: value}})
    if op == "in" and right.type in ("set[str]", "set[int]") and 0 < len(value) <= MAX_SET_SIZE:
        options = [{name: v} for v in value]
        return root, options[0] if len(options) == 1 else {"$or": options}
    return None


def _and(tests: list[Any]) -> Any:
    return tests[0] if len(tests) == 1 else {"$and": tests}


def translate(
    program: ir.Program,
) -> tuple[dict[str, Any], dict[str, _RulePlan], dict[str, set[str]]]:
    """IR -> (durable ruleset definition, plans by durable rule name, fields each fact type needs)."""
    facts = {f.name: f for f in program.facts}
    fact_per = {f.name: f.per for f in program.facts}
    definition: dict[str, Any] = {BEGIN: {"all": [{"m": {"t": BEGIN}}]}}
    plans: dict[str, _RulePlan] = {}
    needed: dict[str, set[str]] = defaultdict(set)  # fact type -> fields the network tests
    for index, rule in enumerate(program.rules):
        subject = rule.on
        tests: dict[str, list[Any]] = defaultdict(list)
        negated: list[str] = []
        positive: set[str] = set(rule.reads)
        residual: list[ir.Expr] = []
        for conj in rule.conjuncts:
            if isinstance(conj, ir.Exists):
                positive.add(conj.fact)
                continue
            if isinstance(conj, ir.Not) and isinstance(conj.value, ir.Exists):
                negated.append(conj.value.fact)
                continue
            native = _native_test(conj, facts)
            if native is None:
                residual.append(conj)
                continue
            root, test = native
            tests[root].append(test)
            needed[root].update(_fields_of(test))
        patterns: list[dict[str, Any]] = []
        if rule.stratum > 0:
            # The gate comes first: see the module docstring on $not.
            patterns.append({"g": _and([{"t": GATE}, {"stratum": rule.stratum}])})
        patterns.append({"s": _and([{"t": subject}, *tests.pop(subject, [])])})
        for root, root_tests in sorted(tests.items()):
            if root in facts:
                continue  # derived-fact tests go into the join pattern below
            patterns.append({f"b_{root}": _and([{"t": root}, *root_tests])})

        def join(fact: str) -> list[Any]:
            keyed = [{"t": fact}]
            if facts[fact].per == "line":
                keyed.append({"key": {"s": "number"}})
                needed["line"].add("number")
            return keyed

        for fact in sorted(positive):
            patterns.append({f"d_{fact}": _and([*join(fact), *tests.get(fact, [])])})
        for fact in sorted(set(negated)):
            patterns.append({f"n_{fact}$not": _and(join(fact))})
        name = f"r{index}"
        definition[name] = {"pri": 1 + rule.stratum, "all": patterns}
        guard = compile_rule(rule, program, residual, joins=False)
        plans[name] = _RulePlan(name, rule, guard, fact_per, bool(residual))
    return definition, plans, needed


def _fields_of(test: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(test, dict):
        for key, value in test.items():
            if key.startswith("$"):
                out |= (
                    _fields_of(value)
                    if key in ("$and", "$or", "$neq", "$nex", "$ex", "$iany")
                    else set()
                )
                if key in ("$neq", "$nex", "$ex", "$iany"):
                    out |= set(value)
            else:
                out.add(key)
    elif isinstance(test, list):
        for item in test:
            out |= _fields_of(item)
    return out


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


class DurableBackend:
    name = "durable"

    def __init__(self, program: ir.Program) -> None:
        engine = _import_engine()
        self._engine = engine
        self.program = program
        self.definition, self._plans, self._needed = translate(program)
        check_limits(self.definition, self._plans)
        self._fact_per = {f.name: f.per for f in program.facts}
        self._strata = program.strata
        # A process-unique name: durable keeps its own table of ruleset names and handles.
        self._ruleset_name = f"hcpcs_rules_{next(_names)}"
        try:
            handle = engine.create_ruleset(self._ruleset_name, json.dumps(self.definition))
        except Exception as exc:  # the C validator's errors are numbers; say what was refused
            raise RulesetError(
                [
                    RulesetProblem(
                        "<program>",
                        None,
                        None,
                        f"durable_rules refused the compiled ruleset: {exc}",
                    )
                ]
            ) from None
        self._handle = handle
        self._finalizer = weakref.finalize(self, engine.delete_ruleset, handle)
        self._lock = threading.Lock()
        self._sids = itertools.count(1)
        self.live_sessions = 0  # observable for tests: 0 whenever no evaluation is running

    def close(self) -> None:
        """Free the C ruleset now (also done automatically when garbage collected); idempotent.

        Under the evaluation lock: an evaluation in progress finishes first, and every later one
        sees the ruleset gone (see :meth:`evaluate`) instead of handing a freed handle to C.
        """
        with self._lock:
            self._finalizer()

    def dump(self) -> str:
        return json.dumps(self.definition, indent=2)

    # -- facts --------------------------------------------------------------------------------

    def _base_facts(self, f: Facts, sid: str) -> list[dict[str, Any]]:
        out = [{"sid": sid, "id": BEGIN, "t": BEGIN}]
        needed = self._needed
        for root in ("claim", "supplier", "patient", "ordering_provider"):
            fact = {"sid": sid, "id": root, "t": root}
            obj = getattr(f, root)
            for name in needed.get(root, ()):
                _put(fact, name, None if obj is None else getattr(obj, name))
            out.append(fact)
        line_fields = needed.get("line", ())
        for n, line in enumerate(f.lines, start=1):
            fact = {"sid": sid, "id": f"line:{n}", "t": "line", "number": n}
            for name in line_fields:
                if name != "number":
                    _put(fact, name, getattr(line, name))
            out.append(fact)
        return out

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, f: Facts) -> None:
        engine, handle = self._engine, self._handle
        with self._lock:
            # Checked under the lock that close() takes: the handle cannot be freed after this.
            if not self._finalizer.alive:
                raise EngineClosed("this Engine was closed; build a new one to evaluate claims")
            sid = str(next(self._sids))
            self.live_sessions += 1
            state = None
            try:
                _, state = engine.assert_facts(handle, json.dumps(self._base_facts(f, sid)))
                self._drain(state, f, sid)
                for stratum in range(1, self._strata):
                    gate = f'{{"sid": "{sid}", "id": "{GATE}{stratum}", "t": "{GATE}", "stratum": {stratum}}}'
                    _, state = engine.assert_fact(handle, gate)
                    self._drain(state, f, sid)
            except BaseException as exc:
                if state is not None:
                    # Nothing may be in flight (the failure came before any action): fine.
                    with contextlib.suppress(Exception):
                        engine.abandon_action(handle, state)
                if isinstance(exc, Exception) and not isinstance(exc, HcpcsRulesError):
                    # The C engine's own error type must not reach callers: say what failed.
                    raise BackendError(
                        f"durable_rules failed on claim {f.claim.id!r}: {exc}"
                    ) from exc
                raise
            finally:
                engine.delete_state(handle, sid)
                self.live_sessions -= 1

    def _drain(self, state: int, f: Facts, sid: str) -> None:
        """Run every pending action of the session, on this thread, until it is quiet."""
        engine, handle, plans = self._engine, self._handle, self._plans
        result = engine.start_action_for_state(handle, state)
        message = result[1] if result else None
        while message:
            # The action names the rule and echoes the matched facts as we sent them. Only two
            # things are needed: which rule, and (line rules) which line. Reading them off the
            # text is much cheaper than decoding every fact; the subject is the only line fact a
            # rule matches, and JSON escaping keeps the pattern out of string values.
            name = _ACTION_NAME.match(message).group(1)  # type: ignore[union-attr]
            if name != BEGIN:
                plan = plans[name]
                n = int(_SUBJECT_LINE.search(message).group(1)) if plan.subject_line else 0  # type: ignore[union-attr]
                try:
                    guard = plan.guard
                    derived = plan.fire(f, n) if guard is None or guard(f, n) else None
                except Exception as exc:
                    raise RuleExecutionError(plan.rule.id, f.claim.id, exc) from exc
                if derived is not None:
                    self._assert_derived(plan.rule, n, derived, sid)
            message = engine.complete_and_start_action(handle, state)

    def _assert_derived(self, rule: ir.Rule, n: int, fields: dict[str, Any], sid: str) -> None:
        name = rule.derive
        key = n if self._fact_per[name] == "line" else 0  # type: ignore[index]
        # Written by hand: sid, names and keys are our own plain tokens; only field values
        # (usually none are needed by the network) go through json.dumps.
        text = f'{{"sid": "{sid}", "id": "{fact_id(name, key)}", "t": "{name}", "key": {key}'  # type: ignore[arg-type]
        for field in self._needed.get(name, ()):  # type: ignore[arg-type]
            value = fields.get(field)
            if value is not None:
                text += f", {json.dumps(field)}: {json.dumps(list(value) if isinstance(value, tuple) else value)}"
        code, _ = self._engine.assert_fact(self._handle, text + "}")
        # 0: handled, 1: no rule uses it (fine at the C level); anything else is a bug of ours.
        if code not in (0, 1):
            raise RuntimeError(
                f"durable_rules refused derived fact {fact_id(name, key)} (code {code})"
            )


def _put(fact: dict[str, Any], name: str, value: Any) -> None:
    # Missing values stay absent: the network's tests on absent fields are false, as in the IR.
    if value is None:
        return
    if isinstance(value, tuple):
        value = list(value)
    fact[name] = value
