"""IR expressions -> Python source, compiled once per Engine (a backend concern: it never imports
the compiler).

Both backends evaluate parts of rules in Python: the python backend everything, the durable
backend the tests its Rete network cannot express exactly (vocabulary calls, exact decimal
arithmetic, dates). They share this one translation, so the missing-value semantics of
:mod:`hcpcs_rules.ir` are written down exactly once.

Generated functions take ``(f, n)``: ``f`` is the evaluation's :class:`~hcpcs_rules.facts.Facts`
and ``n`` the subject line number (0 for claim rules); ``run`` takes ``(f, subjects)``. Only the
functions a backend calls are generated (:func:`compile_rule`). Source is registered in :mod:`linecache`
under ``<hcpcs_rules generated RULESET:RULE-ID DIGEST>``, so tracebacks, pdb and ``inspect.getsource``
show the rule as generated code. What that code calls at run time (exact arithmetic, message
formatters) is in :mod:`hcpcs_rules.runtime`.
"""

from __future__ import annotations

import hashlib
import linecache
import re
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from decimal import Decimal
from string import Formatter
from typing import Any

import attrs

from . import ir
from .functions import FUNCTIONS

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


@attrs.frozen
class _Reads:
    """The names one generated function must bind before its expressions run."""

    roots: frozenset[str]  # base roots ("line", "claim", "patient"...)
    derived: dict[str, str]  # derived fact -> "line" | "claim"


class _Emitter:
    """Translates IR expressions to Python source; collects the constants and roots it needs.

    One ``visit_<Kind>`` method per IR node kind (:data:`hcpcs_rules.ir.Expr`), found by the
    node's class name as :mod:`hcpcs_rules.expr`'s checker finds its ``visit_*`` methods. What a
    call to a registered function turns into is the function's own business
    (:class:`~hcpcs_rules.functions.Function`'s ``prepare`` and ``inline``): the emitter knows
    no function by name, so a plugin function can be emitted as well as a built-in one.
    """

    def __init__(self, facts: dict[str, ir.DerivedFact]) -> None:
        self.facts = facts
        self.constants: dict[str, Any] = {}
        self.roots: set[str] = set()  # base roots read
        self.derived: dict[str, str] = {}  # derived fact -> "line" | "claim"
        self._const_ids: dict[tuple[str, Any], str] = {}
        self._temps = 0

    def take_reads(self, joined: Collection[str] = ()) -> _Reads:
        """What the expressions emitted since the last call read (plus the ``joined`` facts,
        which a join must bind even where nothing reads them), and start afresh: each generated
        function binds only the names its own expressions use."""
        derived = dict(self.derived)
        for fact in joined:
            derived.setdefault(_ident(fact), self.facts[fact].per)
        reads = _Reads(frozenset(self.roots), derived)
        self.roots, self.derived = set(), {}
        return reads

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
        return self._named((kind, value), lambda: value)

    def _named(self, key: tuple[str, Any], make: Callable[[], Any]) -> str:
        """The namespace constant for ``key``, made (by ``make``) the first time it is asked for."""
        name = self._const_ids.get(key)
        if name is None:
            name = f"_K{len(self._const_ids)}"
            self._const_ids[key] = name
            self.constants[name] = make()
        return name

    def expr(self, node: ir.Expr) -> str:
        visit = getattr(self, f"visit_{type(node).__name__}", None)
        if visit is None:
            raise TypeError(f"unknown IR node {node!r}")  # a compiler bug
        return visit(node)

    def test(self, node: ir.Expr) -> str:
        """``node`` where a true ``bool`` is wanted (a condition, an operand of and/or)."""
        code = self.expr(node)
        return code if _is_bool(node) else f"bool({code})"

    def visit_Const(self, node: ir.Const) -> str:
        return self.const(node.value, node.type)

    def visit_Path(self, node: ir.Path) -> str:
        if node.derived:
            self.derived[_ident(node.root)] = self.facts[node.root].per
            head = f"d_{_ident(node.root)}[{node.fields[0]!r}]"
        elif node.root == "line" and node.fields == ("number",):
            return "n"
        else:
            self.roots.add(_ident(node.root))
            first = _ident(node.fields[0])
            if node.root in _MAYBE_NONE_ROOTS:
                head = f"(None if {node.root} is None else {node.root}.{first})"
            else:
                head = f"{node.root}.{first}"
        return self.guarded(head, node.fields[1:])

    def guarded(self, head: str, fields: tuple[str, ...]) -> str:
        """``head.f1.f2...`` where any record on the way may be missing (then None)."""
        for field in map(_ident, fields):
            if _SIMPLE.match(head):
                head = f"(None if {head} is None else {head}.{field})"
            else:
                temp = self.temp()
                head = f"(None if ({temp} := {head}) is None else {temp}.{field})"
        return head

    def visit_Compare(self, node: ir.Compare) -> str:
        left = self.expr(node.left)
        right = self.expr(node.right)
        if node.op in ("==", "!="):
            presence = _presence_test(node, left, right)
            if presence is not None:
                return presence
            if node.op == "==" and _never_none(node.right):
                return f"({left} == {right})"
        if node.op == "in" and isinstance(node.right, ir.Const):
            return f"({left} in {right})"  # None is in no set of constants
        # Missing operands make the comparison false: test each side once, inline (a call to a
        # helper costs more than the comparison). Simple names and field reads are cheap to read
        # twice; anything else goes through a temporary.
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

    def visit_BoolOp(self, node: ir.BoolOp) -> str:
        return "(" + f" {node.op} ".join(self.test(value) for value in node.values) + ")"

    def visit_Not(self, node: ir.Not) -> str:
        return f"(not {self.expr(node.value)})"

    def visit_Arith(self, node: ir.Arith) -> str:
        # Through the runtime's exact helpers: missing stays missing, and any rounding raises.
        left, right = self.expr(node.left), self.expr(node.right)
        kinds = (node.left.type, node.right.type)
        if node.type == "str":
            return f"_cat({left}, {right})"
        if kinds == ("date", "date"):
            return f"_days({left}, {right})"
        if node.type == "date":
            # date + int, int + date, date - int: one helper taking (date, signed days).
            if kinds[0] != "date":
                left, right = right, left
            return f"_shift({left}, {right}, {-1 if node.op == '-' else 1})"
        helper = _ARITH[node.op]
        return f"{helper}({left}, {right})"

    def visit_Each(self, node: ir.Each) -> str:
        if node.fields == ("number",):
            return "_i"
        head = f"_l.{_ident(node.fields[0])}"
        return self.guarded(head, node.fields[1:])

    def visit_Aggregate(self, node: ir.Aggregate) -> str:
        # A generator over every line of the claim (f.lines, whatever the subject); the filter
        # and value are ordinary expressions in which _l is the line and _i its number. The
        # checker refuses nesting, so one pair of names is enough.
        loop = "for _i, _l in enumerate(f.lines, 1)"
        where = "" if node.where is None else f" if {self.test(node.where)}"
        if node.op == "count":
            return f"sum(1 {loop}{where})" if where else "len(f.lines)"
        assert node.value is not None
        if node.op in ("any", "all"):
            return f"{node.op}({self.test(node.value)} {loop}{where})"
        values = f"[{self.expr(node.value)} {loop}{where}]"
        if node.op == "sum":
            return f"_agg_sum({values}, {'0' if node.type == 'int' else '_ZERO'})"
        return f"_agg_{node.op}({values})"

    def visit_Call(self, node: ir.Call) -> str:
        function = FUNCTIONS[node.name]
        args = []
        for index, arg in enumerate(node.args):
            if (
                function.prepare is not None
                and index in function.constant_params
                and isinstance(arg, ir.Const)
            ):
                # Prepared once, here, into a namespace constant (matches: the compiled regex).
                key = (f"{_ident(node.name)}({index})", arg.value)
                args.append(self._named(key, lambda v=arg.value: function.prepare(v)))
            else:
                args.append(self.expr(arg))
        if function.inline is not None and _repeats_only_simple(function.inline, args):
            return function.inline.format(*args)
        name = f"_f_{_ident(node.name)}"
        self.constants[name] = function.impl
        return f"{name}({', '.join(args)})"

    def visit_Cond(self, node: ir.Cond) -> str:
        return f"({self.expr(node.body)} if {self.expr(node.test)} else {self.expr(node.orelse)})"

    def visit_Exists(self, node: ir.Exists) -> str:
        key = "n" if self.facts[node.fact].per == "line" else "0"
        return f"({key} in f.derived[{node.fact!r}])"


_ARITH = {"+": "_add", "-": "_sub", "*": "_mul"}


def _presence_test(node: ir.Compare, left: str, right: str) -> str | None:
    """``x == None`` / ``x != None`` as an ``is`` test, or None for any other equality."""
    left_none = isinstance(node.left, ir.Const) and node.left.value is None
    right_none = isinstance(node.right, ir.Const) and node.right.value is None
    if not (left_none or right_none):
        return None
    negate = "" if node.op == "==" else "not "
    if isinstance(node.left, ir.Const) and isinstance(node.right, ir.Const):
        # A presence test of a constant (`0 == None`) is known now; written as `0 is None` it
        # would be a SyntaxWarning ("is" with a literal) on every build.
        present = left_none == right_none
        return repr(present if node.op == "==" else not present)
    return f"({left if right_none else right} is {negate}None)"


def _repeats_only_simple(template: str, args: Sequence[str]) -> bool:
    """Whether every argument that ``template`` writes more than once is cheap to repeat.

    An inline template evaluates what it repeats each time it appears: fine for a name or a
    field read, not for a call (twice the work). Otherwise the function is called.
    """
    uses = Counter(int(field) for _, field, _, _ in Formatter().parse(template) if field)
    return all(_SIMPLE.match(args[index]) for index, count in uses.items() if count > 1)


def _never_none(node: ir.Expr) -> bool:
    return isinstance(node, ir.Const) and node.value is not None


def _is_bool(node: ir.Expr) -> bool:
    # A function declared to return "bool" returns one; "$same" (coalesce) may return None.
    if isinstance(node, ir.Aggregate):
        return node.op in ("any", "all")
    return isinstance(node, ir.Compare | ir.BoolOp | ir.Not | ir.Exists) or (
        isinstance(node, ir.Call) and FUNCTIONS[node.name].returns == "bool"
    )


@attrs.frozen
class CompiledRule:
    """The Python pieces of one rule: only those :func:`compile_rule` was asked for (else None).

    ``match(f, n)`` tests subject ``n``; ``message(f, n)`` and ``derive(f, n)`` compute what a
    firing produces; ``run(f, subjects)`` tests every subject and fires on each match.
    """

    rule: ir.Rule
    match: Callable[[Any, int], bool] | None
    message: Callable[[Any, int], str] | None
    derive: Callable[[Any, int], dict[str, Any]] | None
    source: str
    filename: str
    run: Callable[[Any, Sequence[int]], None] | None = None
    namespace: dict[str, Any] = attrs.field(factory=dict, repr=False)
    #: ``reason(f, n, i)``: whether conditional reason-code choice ``i`` holds on subject ``n``
    #: (generated whatever else was asked for, since every firing picks its codes).
    reason: Callable[[Any, int, int], bool] | None = None

    def bind_fire(self, fire: Callable[[Any, int], Any]) -> None:
        """Give ``run`` the callable it calls for each subject that matches."""
        self.namespace["_fire"] = fire


def compile_rule(
    rule: ir.Rule,
    program: ir.Program,
    *,
    match: Sequence[ir.Expr] | None = None,
    joins: bool = True,
    producers: bool = False,
    run: Sequence[ir.Expr] | None = None,
) -> CompiledRule:
    """Generate and compile the functions of one rule that a backend will call, and no others.

    - ``match``: conjuncts for ``match(f, n)`` (the durable backend's guard: the tests its network
      leaves over). With ``joins`` it also checks that every derived fact the rule reads exists
      for the subject (the durable network does that itself, so it passes ``joins=False``).
    - ``producers``: ``message(f, n)`` and ``derive(f, n)``, for a caller whose firing computes
      them (:func:`hcpcs_rules.facts.make_fire` called without them; the durable backend).
    - ``run``: conjuncts for ``run(f, subjects)``, the python backend's whole rule: a loop over
      the subjects it selected that computes the message and derived fields inline on a match
      (the caller leaves out what its indexes guarantee, such as the line's code).
    """
    emitter = _Emitter({f.name: f for f in program.facts})
    # Every derived fact the rule reads is a join (see ir.Rule.reads); exists()/not exists()
    # test presence themselves.
    joined = set(rule.reads)
    body: list[str] = []
    if match is not None:
        tests = " and ".join(emitter.test(c) for c in match) or "True"
        reads = emitter.take_reads(joined if joins else set())
        body += ["def match(f, n):", *_prologue(reads, joined if joins else set())]
        body.append(f"    return {tests}")
    if producers and rule.finding is not None and rule.finding.message:
        text = _message(emitter, rule.finding)
        body += ["", "def message(f, n):", *_prologue(emitter.take_reads(), set())]
        body.append(f"    return {text}")
    if producers and rule.derive is not None:
        fields = _derive(emitter, rule)
        body += ["", "def derive(f, n):", *_prologue(emitter.take_reads(), set())]
        body.append(f"    return {fields}")
    tests = () if rule.finding is None else rule.finding.reason_tests
    if tests:
        # One function for all of the rule's conditions: the i-th is tested, nothing else runs.
        branches = [
            f"    if i == {choice.test}:\n        return {' and '.join(emitter.test(c) for c in choice.when)}"
            for choice in tests
        ]
        body += ["", "def reason(f, n, i):", *_prologue(emitter.take_reads(), set()), *branches]
        body.append("    return False")
    if run is not None:
        condition = " and ".join(emitter.test(c) for c in run) or "True"
        produced = ", ".join(
            (
                _message(emitter, rule.finding)
                if rule.finding is not None and rule.finding.message
                else "None",
                _derive(emitter, rule) if rule.derive is not None else "None",
            )
        )
        reads = emitter.take_reads(joined)
        block = _run_block(rule, reads, joined, condition, produced)
        body += ["", "def run(f, subjects):", *(f"    {line}" for line in block)]
    source = "\n".join(body).lstrip("\n") + "\n"
    # The digest keeps engines of different rulesets alive at once from overwriting each
    # other's source of a rule in linecache (tracebacks would show the wrong lines).
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"<hcpcs_rules generated {rule.ruleset}:{rule.id} {digest}>"
    namespace: dict[str, Any] = {**RUNTIME, **emitter.constants}
    exec(compile(source, filename, "exec"), namespace)
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    return CompiledRule(
        rule=rule,
        match=namespace.get("match"),
        message=namespace.get("message"),
        derive=namespace.get("derive"),
        source=source,
        filename=filename,
        run=namespace.get("run"),
        namespace=namespace,
        reason=namespace.get("reason"),
    )


def _message(emitter: _Emitter, finding: ir.FindingSpec) -> str:
    """The finding's message template as one expression: literal text and formatted values.

    Written as adjacent string literals and f-strings (``'Billed ' f'{_fmt_int(x)}' ' units'``),
    which Python joins into one string without building a tuple; a value whose code could not
    sit inside an f-string (both quote kinds, a backslash, a brace or a ``#``) makes the whole message a join.
    """
    literal: list[str] = []
    values: list[str] = []
    for part in finding.message:
        if isinstance(part, str):
            literal.append(repr(part))
            values.append(repr(part))
            continue
        code = emitter.expr(part)
        if part.type == "str" and _SIMPLE.match(code):
            text = f"('none' if {code} is None else {code})"  # _fmt_str, written out
        else:
            text = f"{_FORMATTERS.get(part.type, '_fmt')}({code})"
        values.append(text)
        literal.append(_in_fstring(text))
    if all(piece is not None for piece in literal):
        return "(" + " ".join(literal) + ")" if literal else "''"
    return "''.join((" + ", ".join(values) + ",))"


def _in_fstring(code: str) -> str | None:
    """``code`` (a formatted value: a str) as an f-string, or None where it cannot be one."""
    # An f-string's expression may hold no backslash or comment (Python 3.11), and braces would
    # need doubling: such code (rare: a constant holding one) is joined instead.
    if any(c in code for c in "\\{}#"):
        return None
    if "'" not in code:
        return f"f'{{{code}}}'"
    if '"' not in code:
        return f'f"{{{code}}}"'
    return None


def _derive(emitter: _Emitter, rule: ir.Rule) -> str:
    """The derived fact's fields as one dict display."""
    items = [f"{name!r}: {emitter.expr(expr)}" for name, expr in rule.derive_fields]
    return "{" + ", ".join(items) + "}"


def _prologue(reads: _Reads, joined: set[str]) -> list[str]:
    """Bind the roots and derived facts a function reads; return False where a join fails."""
    lines = []
    for root in sorted(reads.roots):
        if root == "line":
            lines.append("    line = f.lines[n - 1]")
        else:
            lines.append(f"    {root} = f.{root}")
    for fact, per in sorted(reads.derived.items()):
        key = "n" if per == "line" else "0"
        lines.append(f"    d_{fact} = f.derived[{fact!r}].get({key})")
        if fact in joined:
            lines.append(f"    if d_{fact} is None:")
            lines.append("        return False")
    return lines


def _run_block(
    rule: ir.Rule, reads: _Reads, joined: set[str], condition: str, produced: str
) -> list[str]:
    """The body of ``run(f, subjects)``: test every subject, fire on each match.

    Everything per claim is hoisted out of the loop over subjects. On a match it hands ``_fire``
    the message and derived fields computed right there, from the names already bound
    (``produced``). A per-claim fact that is missing skips the rest (an ``if``, not a return).
    """
    out = [f"{root} = f.{root}" for root in sorted(reads.roots - {"line"})]
    indent = ""
    per_line = sorted(fact for fact, per in reads.derived.items() if per == "line")
    for fact, per in sorted(reads.derived.items()):
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
    if "line" in reads.roots:
        out.append(f"{indent}line = lines[n - 1]")
    for fact in per_line:
        out.append(f"{indent}d_{fact} = D_{fact}.get(n)")
        if fact in joined:
            out += [f"{indent}if d_{fact} is None:", f"{indent}    continue"]
    out += [f"{indent}if {condition}:", f"{indent}    _fire(f, n, {produced})"]
    return out
