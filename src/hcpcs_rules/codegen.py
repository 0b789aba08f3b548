"""IR expressions -> Python source, compiled once per Engine (a backend concern: it never imports
the compiler).

Both backends evaluate parts of rules in Python: the python backend everything, the durable
backend the tests its Rete network cannot express exactly (vocabulary calls, exact decimal
arithmetic, dates). They share this one translation, so the missing-value semantics of
:mod:`hcpcs_rules.ir` are written down exactly once.

Generated functions take ``(f, n)``: ``f`` is the evaluation's :class:`~hcpcs_rules.facts.Facts`
and ``n`` the subject line number (0 for claim rules). Source is registered in :mod:`linecache`
under ``<hcpcs_rules generated RULESET:RULE-ID>``, so tracebacks, pdb and ``inspect.getsource``
show the rule as generated code. What that code calls at run time (exact arithmetic, message
formatters) is in :mod:`hcpcs_rules.runtime`.
"""

from __future__ import annotations

import linecache
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from . import ir
from .functions import FUNCTIONS, compile_regex

# The names generated code calls live in the runtime, which never needs this module;
from .runtime import _FORMATTERS, RUNTIME

__all__ = ["CompiledRule", "compile_rule"]

_MAYBE_NONE_ROOTS = {"patient", "ordering_provider"}
# Generated code that is only a name, a field read or a constant subscript: cheap to repeat.
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\['[A-Za-z0-9_]*'\])*\Z")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _ident(name: str) -> str:
    """``name``, checked to be a plain ASCII identifier before it is written into source.

    Only names become source text (fact roots and fields, derived fact names, function names);
    every other ruleset string is a repr or a namespace constant. The compiler validated these
    names already; checking again here keeps generated code safe even if it someday did not.
    """
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError(f"refusing to write {name!r} into generated code")  # compiler bug
    return name


class _Emitter:
    """Translates expressions; collects the constants and roots the source needs."""

    def __init__(self) -> None:
        self.constants: dict[str, Any] = {}
        self.roots: set[str] = set()  # base roots read
        self.derived: dict[str, str] = {}  # derived fact -> "line" | "claim"
        self._const_ids: dict[tuple[str, Any], str] = {}
        self._temps = 0

    def temp(self) -> str:
        self._temps += 1
        return f"_t{self._temps}"

    def const(self, value: Any, kind: str) -> str:
        if value is None or (
            isinstance(value, bool | int | str) and not isinstance(value, Decimal)
        ):
            return repr(value)
        if kind.startswith("set["):
            value = frozenset(value)
        key = (kind, value)
        name = self._const_ids.get(key)
        if name is None:
            name = f"_K{len(self._const_ids)}"
            self._const_ids[key] = name
            self.constants[name] = value
        return name

    def expr(self, node: ir.Expr, facts: dict[str, ir.DerivedFact]) -> str:
        if isinstance(node, ir.Const):
            return self.const(node.value, node.type)
        if isinstance(node, ir.Path):
            if node.derived:
                self.derived[_ident(node.root)] = facts[node.root].per
                head = f"d_{_ident(node.root)}[{node.fields[0]!r}]"
                rest = node.fields[1:]
            elif node.root == "line" and node.fields == ("number",):
                return "n"
            else:
                self.roots.add(_ident(node.root))
                head, rest = node.root, tuple(_ident(field) for field in node.fields)
                if node.root in _MAYBE_NONE_ROOTS:
                    head = f"(None if {head} is None else {head}.{rest[0]})"
                    rest = rest[1:]
                else:
                    head = f"{head}.{rest[0]}"
                    rest = rest[1:]
            for field in map(_ident, rest):  # records may be missing: guard each step
                if _SIMPLE.match(head):
                    head = f"(None if {head} is None else {head}.{field})"
                else:
                    temp = self.temp()
                    head = f"(None if ({temp} := {head}) is None else {temp}.{field})"
            return head
        if isinstance(node, ir.Compare):
            left = self.expr(node.left, facts)
            right = self.expr(node.right, facts)
            if (
                node.op in ("==", "!=")
                and isinstance(node.left, ir.Const)
                and isinstance(node.right, ir.Const)
                and None in (node.left.value, node.right.value)
            ):
                # A presence test of a constant (`0 == None`) is known now; written as `0 is None`
                # it would be a SyntaxWarning ("is" with a literal) on every build.
                present = (node.left.value is None) == (node.right.value is None)
                return repr(present if node.op == "==" else not present)
            if (
                node.op in ("==", "!=")
                and isinstance(node.right, ir.Const)
                and node.right.value is None
            ):
                return f"({left} is {'' if node.op == '==' else 'not '}None)"
            if (
                node.op in ("==", "!=")
                and isinstance(node.left, ir.Const)
                and node.left.value is None
            ):
                return f"({right} is {'' if node.op == '==' else 'not '}None)"
            if node.op == "==" and _never_none(node.right):
                return f"({left} == {right})"
            if node.op == "in" and isinstance(node.right, ir.Const):
                return f"({left} in {right})"  # None is in no set of constants
            # Missing operands make the comparison false: test each side once, inline (a call
            # to a helper costs more than the comparison). Simple names and field reads are
            # cheap to read twice; anything else goes through a temporary.
            checks, operands = [], []
            for side, code in ((node.left, left), (node.right, right)):
                if _never_none(side):
                    operands.append(code)
                elif _SIMPLE.match(code):
                    checks.append(f"{code} is not None")
                    operands.append(code)
                else:
                    temp = self.temp()
                    checks.append(f"({temp} := {code}) is not None")
                    operands.append(temp)
            return "(" + " and ".join([*checks, f"{operands[0]} {node.op} {operands[1]}"]) + ")"
        if isinstance(node, ir.BoolOp):
            return (
                "("
                + f" {node.op} ".join(
                    f"bool({self.expr(v, facts)})" if not _is_bool(v) else self.expr(v, facts)
                    for v in node.values
                )
                + ")"
            )
        if isinstance(node, ir.Not):
            return f"(not {self.expr(node.value, facts)})"
        if isinstance(node, ir.Arith):
            helper = {"+": "_add", "-": "_sub", "*": "_mul"}[node.op]
            return f"{helper}({self.expr(node.left, facts)}, {self.expr(node.right, facts)})"
        if isinstance(node, ir.Call):
            function = FUNCTIONS[node.name]
            args = []
            for index, arg in enumerate(node.args):
                if (
                    index in function.constant_params
                    and isinstance(arg, ir.Const)
                    and node.name == "matches"
                ):
                    args.append(self.const(compile_regex(arg.value), "regex"))
                else:
                    args.append(self.expr(arg, facts))
            if node.name == "coalesce" and _SIMPLE.match(args[0]):
                # The commonest call (a line's value, else the claim's), written out: no call.
                return f"({args[0]} if {args[0]} is not None else {args[1]})"
            name = f"_f_{_ident(node.name)}"
            self.constants[name] = function.impl
            return f"{name}({', '.join(args)})"
        if isinstance(node, ir.Cond):
            return f"({self.expr(node.body, facts)} if {self.expr(node.test, facts)} else {self.expr(node.orelse, facts)})"
        if isinstance(node, ir.Exists):
            key = "n" if facts[node.fact].per == "line" else "0"
            return f"({key} in f.derived[{node.fact!r}])"
        raise TypeError(f"unknown IR node {node!r}")  # pragma: no cover - compiler bug


def _never_none(node: ir.Expr) -> bool:
    return isinstance(node, ir.Const) and node.value is not None


def _is_bool(node: ir.Expr) -> bool:
    return isinstance(node, ir.Compare | ir.BoolOp | ir.Not | ir.Exists) or (
        isinstance(node, ir.Call) and node.type == "bool" and node.name != "coalesce"
    )


@attrs.frozen
class CompiledRule:
    """The Python pieces of one rule. ``match`` returns whether the rule fires on subject ``n``."""

    rule: ir.Rule
    match: Callable[[Any, int], bool]
    message: Callable[[Any, int], str] | None
    derive: Callable[[Any, int], dict[str, Any]] | None
    source: str
    filename: str
    #: ``run(f, subjects)``: test every subject and fire on each match (python backend only).
    run: Callable[[Any, Sequence[int]], None] | None = None
    namespace: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def bind_fire(self, fire: Callable[[Any, int], Any]) -> None:
        """Give ``run`` the callable it calls for each subject that matches."""
        self.namespace["_fire"] = fire


def compile_rule(
    rule: ir.Rule,
    program: ir.Program,
    conjuncts: Sequence[ir.Expr] | None = None,
    *,
    joins: bool = True,
    run_conjuncts: Sequence[ir.Expr] | None = None,
) -> CompiledRule:
    """Generate and compile the functions of one rule.

    ``conjuncts`` defaults to the whole condition; the durable backend passes only the tests its
    network leaves over. With ``joins`` the match function also checks that every derived fact
    the rule reads exists for the subject (the durable network does that itself).

    With ``run_conjuncts`` a ``run(f, subjects)`` function is generated too: the python backend's
    whole rule, a loop over the subjects it selected (conjuncts it already guarantees, such as the
    line's code, are left out of ``run_conjuncts``).
    """
    facts = {f.name: f for f in program.facts}
    emitter = _Emitter()
    conjuncts = rule.conjuncts if conjuncts is None else tuple(conjuncts)
    tests = [emitter.expr(c, facts) for c in conjuncts]
    message_parts = []
    if rule.finding is not None:
        for part in rule.finding.message:
            message_parts.append(
                repr(part)
                if isinstance(part, str)
                else f"{_FORMATTERS.get(part.type, '_fmt')}({emitter.expr(part, facts)})"
            )
    derive_items = [f"{name!r}: {emitter.expr(expr, facts)}" for name, expr in rule.derive_fields]
    run_tests = (
        None if run_conjuncts is None else [(emitter.expr(c, facts), c) for c in run_conjuncts]
    )
    # Bind every derived fact the rule reads, so message and derive functions can use them too.
    for fact in rule.reads:
        emitter.derived.setdefault(_ident(fact), facts[fact].per)
    joined = set(rule.reads)  # exists()/not exists() test presence themselves: no join

    def prologue(need_joins: bool) -> list[str]:
        lines = []
        for root in sorted(emitter.roots):
            if root == "line":
                lines.append("    line = f.lines[n - 1]")
            else:
                lines.append(f"    {root} = f.{root}")
        for fact, per in sorted(emitter.derived.items()):
            key = "n" if per == "line" else "0"
            lines.append(f"    d_{fact} = f.derived[{fact!r}].get({key})")
            if need_joins and fact in joined:
                lines.append(f"    if d_{fact} is None:")
                lines.append("        return False")
        return lines

    body = ["def match(f, n):", *prologue(joins)]
    if tests:
        body.append(
            "    return "
            + " and ".join(
                t if _is_bool(c) else f"bool({t})" for t, c in zip(tests, conjuncts, strict=True)
            )
        )
    else:
        body.append("    return True")
    if message_parts:
        body += [
            "",
            "def message(f, n):",
            *prologue(False),
            "    return ''.join((" + ", ".join(message_parts) + ",))",
        ]
    if rule.derive is not None:
        body += [
            "",
            "def derive(f, n):",
            *prologue(False),
            "    return {" + ", ".join(derive_items) + "}",
        ]
    if run_tests is not None:
        message_expr = "''.join((" + ", ".join(message_parts) + ",))" if message_parts else "None"
        derive_expr = "{" + ", ".join(derive_items) + "}" if rule.derive is not None else "None"
        block = _run_block(rule, emitter, joined, run_tests, f"{message_expr}, {derive_expr}")
        body += ["", "def run(f, subjects):", *(f"    {line}" for line in block)]
    source = "\n".join(body) + "\n"
    filename = f"<hcpcs_rules generated {rule.ruleset}:{rule.id}>"
    namespace: dict[str, Any] = {**RUNTIME, **emitter.constants}
    exec(compile(source, filename, "exec"), namespace)
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    return CompiledRule(
        rule=rule,
        match=namespace["match"],
        message=namespace.get("message"),
        derive=namespace.get("derive"),
        source=source,
        filename=filename,
        run=namespace.get("run"),
        namespace=namespace,
    )


def _run_block(
    rule: ir.Rule,
    emitter: _Emitter,
    joined: set[str],
    tests: list[tuple[str, ir.Expr]],
    produced: str,
) -> list[str]:
    """The body of ``run(f, subjects)``: test every subject, fire on each match.

    Everything per claim is hoisted out of the loop over subjects. On a match it hands ``_fire``
    the message and derived fields computed right there, from the names already bound
    (``produced``). A per-claim fact that is missing skips the rest (an ``if``, not a return).
    """
    condition = " and ".join(t if _is_bool(c) else f"bool({t})" for t, c in tests) or "True"
    out = [f"{root} = f.{root}" for root in sorted(emitter.roots - {"line"})]
    indent = ""
    per_line = sorted(fact for fact, per in emitter.derived.items() if per == "line")
    for fact, per in sorted(emitter.derived.items()):
        if per == "claim":
            out.append(f"{indent}d_{fact} = f.derived[{fact!r}].get(0)")
            if fact in joined:
                out.append(f"{indent}if d_{fact} is not None:")
                indent += "    "
    if rule.on == "claim":
        return [
            *out,
            f"{indent}n = 0",
            f"{indent}if {condition}:",
            f"{indent}    _fire(f, 0, {produced})",
        ]
    out.append(f"{indent}lines = f.lines")
    out += [f"{indent}D_{fact} = f.derived[{fact!r}]" for fact in per_line]
    out.append(f"{indent}for n in subjects:")
    indent += "    "
    if "line" in emitter.roots:
        out.append(f"{indent}line = lines[n - 1]")
    for fact in per_line:
        out.append(f"{indent}d_{fact} = D_{fact}.get(n)")
        if fact in joined:
            out += [f"{indent}if d_{fact} is None:", f"{indent}    continue"]
    out += [f"{indent}if {condition}:", f"{indent}    _fire(f, n, {produced})"]
    return out
