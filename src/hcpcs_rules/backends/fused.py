"""The python backend's fused program: every rule of a Program in one generated function.

The per-rule code (:mod:`hcpcs_rules.codegen`, one ``run`` per rule and a driver calling them)
pays a fixed price per rule and per derived fact on every claim: each ``run`` binds its roots,
looks its derived facts up in :class:`~hcpcs_rules.facts.Facts` dictionaries and loops over its
own subjects, every firing goes through :func:`~hcpcs_rules.facts.make_fire`, and the findings
are sorted at the end. This module writes what a person would write by hand instead:

- claim-level values (the claim's roots, the payer overlay and program, each scope's verdict)
  are locals bound once; derived facts are locals (``d_<fact>``), also stored in ``f.derived``
  for the Result and for the rare reason-code test that reads them from there;
- the rules are placed in *phases*: claim blocks and loops over the lines. A line rule joins
  the latest loop it can (so the loops merge: one pass over the lines runs every line rule whose
  inputs are complete), and only a claim fact derived from lines (``j7632_claim``: "some line is
  J7632") forces a loop before the rules that read it;
- inside a phase the rules that derive what others in the phase read run first (program
  order), then the rest in rule-id order, so findings come out in the Result's order (claim
  level first, then by line and rule id) and need no sort. When a program's shape does not allow
  that (a finding rule whose fact another rule of its loop reads, findings from two loops), the
  program says so (``ordered``) and the engine sorts as before.

Rule identity survives fusion: every rule's code starts with a ``# rule: ID`` comment, the source
is registered in :mod:`linecache` (tracebacks, pdb, ``inspect``), and :attr:`FusedProgram.rule_at`
maps each line of the source to the rule it belongs to, which is how an exception becomes a
:class:`~hcpcs_rules.errors.RuleExecutionError` naming the rule. ``explain=True`` traces and the
example checks run the per-rule code, whose firings record trace steps one by one.
"""

from __future__ import annotations

import hashlib
import linecache
import re
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .. import ir
from ..codegen import CompiledRule, _derive, _Emitter, _ident, _message
from ..facts import Facts, _codes
from ..functions import FUNCTIONS
from ..model import SEVERITY_RANK, STATUS_BY_RANK, Finding, LineResult
from ..runtime import RUNTIME, reason_for, slot_builder

__all__ = ["FUSED_NAME", "FusedProgram", "fuse"]

#: The start of every fused program's file name; the rest is a digest of its source, so that
#: engines of different programs alive at once each keep their own source in linecache.
FUSED_NAME = "<hcpcs_rules generated fused program"

# Ruleset text reaches generated source only as data (a repr, or a namespace constant); comments
# name rule ids and scopes, which the compiler validated against ASCII patterns. Checked again
# here, where the text meets the source: a comment can only end at a line break.
_COMMENT_SAFE = re.compile(r"[A-Za-z0-9_, -]*\Z")


def _comment(text: str) -> str:
    if not _COMMENT_SAFE.match(text):
        raise ValueError(f"refusing to write {text!r} into a generated comment")  # compiler bug
    return text


@attrs.frozen
class FusedProgram:
    """The generated function and what is needed to read it."""

    source: str
    #: Where tracebacks, pdb and ``inspect`` find :attr:`source` (registered in linecache).
    filename: str
    #: ``evaluate(f)``: fill ``f.findings`` (in the Result's order when :attr:`ordered`) and
    #: ``f.derived``; no trace.
    evaluate: Callable[[Facts], None]
    #: The rule each line of :attr:`source` belongs to (index 0 is line 1), None for the shared
    #: scaffolding (loops, index tests), which runs no rule's expressions.
    rule_at: tuple[str | None, ...]
    #: Whether findings come out in the Result's order (else the engine sorts them).
    ordered: bool
    #: Whether ``evaluate(f, True)`` also builds the claim's line results: it then returns
    #: ``(worst severity rank, payer overlay, LineResults)`` (see :func:`fuse`). False when the
    #: program's line findings come from more than one loop (a line's status is only known
    #: once every loop is over): the engine then assembles the Result itself.
    results: bool


class _FusedEmitter(_Emitter):
    """The shared emitter, with ``exists(F)`` read from the fused function's locals, and values
    a rule's condition computed reused by its message and derived fields (see :func:`_shared`).
    """

    def __init__(self, facts: dict[str, ir.DerivedFact]) -> None:
        super().__init__(facts)
        self.on = "line"  # the kind of rule being written: "line" or "claim"
        #: Occurrences (by identity) in the condition to bind to a name as they are computed.
        self.bind: dict[int, str] = {}
        #: Values (by equality) the message and fields read from those names instead.
        self.reuse: dict[ir.Expr, str] = {}

    def expr(self, node: ir.Expr) -> str:
        if self.reuse:
            name = self.reuse.get(node)
            if name is not None:
                return name
        code = super().expr(node)
        name = self.bind.get(id(node))
        return code if name is None else f"({name} := {code})"

    def visit_Exists(self, node: ir.Exists) -> str:
        per = self.facts[node.fact].per
        if per == "line" and self.on == "claim":
            # Whether a per-line fact exists "for the claim" (key 0): never, as the per-rule code
            # computes it; kept as that code writes it rather than special-cased.
            return super().visit_Exists(node)
        return f"(d_{_ident(node.fact)} is not None)"


def _unguarded(rule: ir.Rule) -> bool:
    """Whether the rule runs on every subject: no codes, scope or dates in front of it."""
    return not rule.codes and "all" in rule.scope and not rule.effective


def _pick(table: dict[str, Any], overlay: Any, program: Any, default: Any) -> Any:
    """A per-overlay value (severity) for the claim: by overlay, then program, then ``*``
    (:func:`hcpcs_rules.runtime.severity_for`'s lookup, with the table built once)."""
    if overlay in table:
        return table[overlay]
    if program in table:
        return table[program]
    return table.get("*", default)


def _reasons_of(
    rule: ir.Rule, test: Callable[[Any, int, int], bool] | None
) -> Callable[[Facts, int], Any]:
    """Reason codes chosen per firing (overlay, then conditions), as ``make_fire`` chooses them."""

    def codes(f: Facts, n: int) -> Any:
        choice = reason_for(rule, f, n, test)
        return None if choice is None else _codes(choice)

    return codes


class _Writer:
    """Source lines, each tagged with the rule it belongs to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.rules: list[str | None] = []

    def add(self, depth: int, text: str, rule: str | None = None) -> None:
        self.lines.append("    " * depth + text)
        self.rules.append(rule)


def _phases(program: ir.Program) -> dict[str, int]:
    """Each rule's phase: even numbers are claim blocks, odd ones loops over the lines.

    First the earliest phase each rule's inputs allow (a fact derived by a claim rule is ready
    in the same block, or in the next loop; a per-line fact in the same loop, same iteration; a
    claim fact derived from lines only once its loop is over). Then every line rule moves to the
    latest phase its readers allow, so the line rules share as few loops as possible (most land
    in the last one, where the findings are produced in order).
    """
    per = {f.name: f.per for f in program.facts}
    deriver = {f.name: f.rule_id for f in program.facts}
    by_id = {r.id: r for r in program.rules}
    phase: dict[str, int] = {}
    readers: dict[str, list[ir.Rule]] = {}

    def bound(fact: str, producer: ir.Rule, reader: ir.Rule, at: int) -> int:
        """The latest phase ``producer`` may take for ``reader`` (at phase ``at``) to see it."""
        if producer.on == "claim":
            if per[fact] == "line":
                raise ValueError(f"claim rule {producer.id} derives per-line fact {fact}")
            return at if reader.on == "claim" else at - 1
        if per[fact] == "line" and reader.on == "line":
            return at  # the same iteration: the producer runs first
        return at - 1 if reader.on == "claim" else at - 2  # only complete after its loop

    for rule in program.rules:  # stratum order: producers are placed before their readers
        at = 0 if rule.on == "claim" else 1
        for fact in _needs(rule, per):
            producer = by_id[deriver[fact]]
            if producer.id not in phase:
                raise ValueError(f"{rule.id} reads {fact} before {producer.id} derives it")
            readers.setdefault(producer.id, []).append(rule)
            low = phase[producer.id]
            while bound(fact, producer, rule, at) < low:
                at += 2  # the same kind of phase, one later
        phase[rule.id] = at
    last_loop = max((p for p in phase.values() if p % 2), default=1)
    for rule in reversed(program.rules):  # readers first: they are in later strata
        if rule.on != "line":
            continue
        latest = last_loop
        for reader in readers.get(rule.id, ()):
            latest = min(latest, bound(rule.derive, rule, reader, phase[reader.id]))  # type: ignore[arg-type]
        if latest % 2 == 0:
            latest -= 1
        phase[rule.id] = max(phase[rule.id], latest)
    return phase


def _needs(rule: ir.Rule, per: dict[str, str]) -> list[str]:
    """The derived facts a rule must see complete: what it depends on, and the payer scope when
    its scope, severity or reason codes are chosen by the claim's overlay."""
    facts = list(rule.depends)
    if ir.SCOPE_FACT in per and ir.SCOPE_FACT not in facts and _uses_overlay(rule):
        facts.append(ir.SCOPE_FACT)
    return facts


def _uses_overlay(rule: ir.Rule) -> bool:
    if "all" not in rule.scope:
        return True
    spec = rule.finding
    return spec is not None and (len(spec.severity) > 1 or len(spec.reasons) > 1)


def _emits(rule: ir.Rule) -> bool:
    return rule.finding is not None and bool(rule.finding.message)


def _sure(node: ir.Expr, truth: bool | None) -> list[ir.Expr]:
    """The sub-expressions of ``node`` that were certainly computed once ``node`` has been
    computed with the outcome ``truth`` (None: either), as the emitter writes them: a true
    ``and`` computed all its operands, a call (not written inline) its arguments, a true
    comparison both sides. Aggregates are not entered (their names live in a generator)."""
    out = [node]
    if isinstance(node, ir.BoolOp):
        if (node.op == "and") == bool(truth) and truth is not None:
            # A true `and` / a false `or`: every operand, each with that outcome.
            for value in node.values:
                out += _sure(value, truth)
        else:
            out += _sure(node.values[0], None)
    elif isinstance(node, ir.Not):
        out += _sure(node.value, None if truth is None else not truth)
    elif isinstance(node, ir.Compare):
        if truth:
            out += _sure(node.left, None) + _sure(node.right, None)
    elif isinstance(node, ir.Call):
        if FUNCTIONS[node.name].inline is None:
            for arg in node.args:
                out += _sure(arg, None)
    elif isinstance(node, ir.Arith):
        out += _sure(node.left, None) + _sure(node.right, None)
    elif isinstance(node, ir.Cond):
        out += _sure(node.test, None)
    return out


def _costly(node: ir.Expr) -> bool:
    """Worth keeping in a name: more than a field read or a constant."""
    if isinstance(node, ir.Call | ir.Arith | ir.Aggregate | ir.Cond):
        return True
    return isinstance(node, ir.Path) and not node.derived and len(node.fields) > 1


def _shared(rule: ir.Rule, conjuncts: Sequence[ir.Expr]) -> tuple[dict[int, str], list[ir.Expr]]:
    """What the rule's message and derived fields can take from its condition: values the
    condition certainly computed when it holds (``_sure``), which they compute again.
    Returns the occurrences to bind (by identity) and the values, in order."""
    produced: list[ir.Expr] = []
    if rule.finding is not None:
        produced += [part for part in rule.finding.message if not isinstance(part, str)]
    produced += [expr for _, expr in rule.derive_fields]
    wanted: set[Any] = set()
    for expr in produced:
        for node in ir.walk(expr):
            if _costly(node):
                try:
                    wanted.add(node)
                except TypeError:  # a value that cannot be hashed: not shared
                    continue
    bind: dict[int, str] = {}
    values: list[ir.Expr] = []
    for conjunct in conjuncts:
        for node in _sure(conjunct, True):
            try:
                hit = _costly(node) and node in wanted and node not in values
            except TypeError:
                hit = False
            if hit:
                bind[id(node)] = ""
                values.append(node)
    return bind, values


class _Fuser:
    def __init__(self, program: ir.Program, compiled: Sequence[CompiledRule]) -> None:
        self.program = program
        self.per = {f.name: f.per for f in program.facts}
        self.compiled = {c.rule.id: c for c in compiled}
        self.emitter = _FusedEmitter({f.name: f for f in program.facts})
        self.out = _Writer()
        self.namespace: dict[str, Any] = {
            **RUNTIME,
            "Finding": Finding,
            "LineResult": LineResult,
            "_pick": _pick,
            "_F": _FINDING,
            "_L": _LINE_RESULT,
            "_RANK": SEVERITY_RANK,
            "_STATUS": STATUS_BY_RANK,
        }
        self.scopes: dict[frozenset[str], str] = {}  # scope -> the local holding its verdict
        self.scope_ready = ir.SCOPE_FACT not in self.per  # no scope fact: nothing to set up
        self.always: set[str] = set()  # facts derived for every subject, whatever the claim
        self.shared = 0  # names of values shared between a condition and what it produces
        #: The loop that builds each line's LineResult at the end of its iteration (the last
        #: one), None when the program has no loop; set by build().
        self.results_loop: int | None = None
        self.sev = 0  # names of severities chosen per claim (a payer table)
        self.at = 0  # the phase being written

    def const(self, key: tuple[str, Any], value: Any) -> str:
        return self.emitter._named(key, lambda: value)

    # ------------------------------------------------------------------------------ the whole
    def build(self) -> FusedProgram:
        program = self.program
        phase = _phases(program)
        by_phase: dict[int, list[ir.Rule]] = {}
        for rule in program.rules:
            by_phase.setdefault(phase[rule.id], []).append(rule)
        for rule in program.rules:
            if "all" not in rule.scope:
                scope = frozenset(rule.scope)
                self.scopes.setdefault(scope, f"in_scope_{len(self.scopes)}")
        out = self.out
        order: list[tuple[int, ir.Rule]] = []  # (phase, rule) for each finding, as emitted
        derived_line: dict[str, int] = {}  # per-line fact -> the loop deriving it
        loops = [at for at in by_phase if at % 2]
        self.results_loop = max(loops, default=None)
        # A line's status is its worst finding's: known at the end of its iteration of the last
        # loop only if no earlier loop emits line findings (the phases put finding rules in the
        # last loop unless a later rule reads what they derive).
        results = all(
            phase[r.id] == self.results_loop for r in program.rules if r.on == "line" and _emits(r)
        )
        for at in sorted(by_phase):
            rules = self._in_order(by_phase[at])
            order += [(at, r) for r in rules if _emits(r)]
            if at % 2 == 0:
                self._claim_block(at, rules)
            else:
                self._loop(at, rules, derived_line)
        if self.results_loop is None:  # no line rules: a loop for the LineResults alone
            out.add(1, "if build:")
            out.add(2, "for n, line in enumerate(lines, 1):")
            self._line_result(3, "0")
        out.add(1, "if build:")
        scope = f"d_{ir.SCOPE_FACT}" if ir.SCOPE_FACT in self.per else None
        overlay = (
            "None" if scope is None else f"None if {scope} is None else {scope}.get('overlay')"
        )
        out.add(2, f"return worst, {overlay}, tuple(line_results)")
        # The function's head: what every phase shares, bound once per claim.
        head = _Writer()
        head.add(0, "def evaluate(f, build=False):")
        head.add(1, "claim = f.claim")
        head.add(1, "dos = claim.date_of_service")
        head.add(1, "worst = 0  # the worst finding's severity rank")
        head.add(1, "line_results = []")
        head.add(1, "keep = line_results.append")
        head.add(1, "lines = f.lines")
        for root in sorted(self.emitter.roots - {"line", "claim"}):
            head.add(1, f"{root} = f.{_ident(root)}")
        head.add(1, "derived = f.derived")
        for fact in program.facts:
            name = _ident(fact.name)
            head.add(1, f"D_{name} = derived[{fact.name!r}]")
            if fact.per == "claim":
                head.add(1, f"d_{name} = None")
        head.add(1, "findings = f.findings")
        head.add(1, "emit = findings.append")
        head.add(1, "n = 0")
        if ir.SCOPE_FACT in self.per:
            head.add(1, "overlay = program = None")
        for local in self.scopes.values():
            head.add(1, f"{local} = False")
        lines = [*head.lines, *out.lines]
        rule_at = (*head.rules, *out.rules)
        source = "\n".join(lines) + "\n"
        digest = hashlib.sha256(source.encode()).hexdigest()[:12]
        filename = f"{FUSED_NAME} {digest}>"
        namespace = {**self.namespace, **self.emitter.constants}
        exec(compile(source, filename, "exec"), namespace)
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        return FusedProgram(
            source, filename, namespace["evaluate"], rule_at, _ordered(order), results
        )

    def _line_result(self, depth: int, rank: str) -> None:
        """Line ``n``'s LineResult, its status the rank ``rank`` holds: dispensed mg and
        expected units from the per-line facts deriving them (the last such fact in program
        order that exists on the line, as Engine._result reads them)."""
        out = self.out
        for field, local in (("dispensed_mg", "mg"), ("expected_units", "eu")):
            out.add(depth, f"{local} = None")
            for fact in self._result_facts(field):
                name = _ident(fact)
                out.add(depth, f"if d_{name} is not None:")
                out.add(depth + 1, f"{local} = d_{name}[{field!r}]")
        values = f"n, line.hcpcs, line.units, mg, eu, _STATUS[{rank}], line.date_of_service or dos"
        if _LINE_RESULT is not None:  # positional, in _LINE_RESULT_ARGS' order
            out.add(depth, f"keep(_L({values}))")
            return
        keywords = ", ".join(
            f"{name}={value}"
            for name, value in zip(_LINE_RESULT_ARGS, values.split(", "), strict=True)
        )
        out.add(depth, f"keep(LineResult({keywords}))")

    def _result_facts(self, field: str) -> list[str]:
        return [f.name for f in self.program.facts if f.per == "line" and field in dict(f.fields)]

    def _in_order(self, rules: list[ir.Rule]) -> list[ir.Rule]:
        """Rules whose derived fact another rule of the phase reads first (program order, which
        is stratum order), then the others by rule id: the order findings are reported in."""
        made_here = {r.derive for r in rules if r.derive is not None}
        read_here = {fact for r in rules for fact in _needs(r, self.per) if fact in made_here}
        first = [r for r in rules if r.derive is not None and r.derive in read_here]
        early = {r.id for r in first}  # by id: comparing rules themselves compares whole trees
        rest = sorted((r for r in rules if r.id not in early), key=lambda r: r.id)
        return [*first, *rest]

    # ------------------------------------------------------------------------------- phases
    def _claim_block(self, at: int, rules: list[ir.Rule]) -> None:
        out = self.out
        out.add(1, f"# phase {at}: claim rules")
        if at > 0:
            out.add(1, "n = 0")
        self.emitter.on = "claim"
        current_scope: str | None = None
        for rule in rules:
            if not self.scope_ready and _uses_overlay(rule):
                self._scope_setup(1)  # the rule depends on the scope fact: derived by now
                current_scope = None
            scope = self._scope_test(rule)
            depth = 1
            if scope is not None:
                if scope != current_scope:
                    out.add(1, f"if {scope}:")
                current_scope = scope
                depth = 2
            else:
                current_scope = None
            self._rule(rule, depth)

    def _loop(self, at: int, rules: list[ir.Rule], derived_line: dict[str, int]) -> None:
        out = self.out
        self.emitter.on = "line"
        self.at = at
        if not self.scope_ready and any(_uses_overlay(r) for r in rules):
            self._scope_setup(1)  # the scope fact was derived by an earlier loop
        out.add(1, f"# phase {at}: one pass over the lines")
        out.add(1, "for n, line in enumerate(lines, 1):")
        if any(r.codes for r in rules):
            out.add(2, "code = line.hcpcs")
        here = {r.derive for r in rules if r.derive is not None and self.per[r.derive] == "line"}
        earlier = sorted(
            {
                fact
                for r in rules
                for fact in r.depends
                if self.per[fact] == "line" and fact not in here
            }
        )
        if at == self.results_loop:  # the LineResult reads these too
            earlier = sorted(
                {
                    *earlier,
                    *(
                        fact
                        for field in ("dispensed_mg", "expected_units")
                        for fact in self._result_facts(field)
                        if fact not in here
                    ),
                }
            )
            out.add(2, "w = 0  # the line's worst finding's severity rank")
        for fact in earlier:  # per-line facts an earlier loop derived, for this line
            out.add(2, f"d_{_ident(fact)} = D_{_ident(fact)}.get(n)")
        for fact in sorted(here):  # derived in this iteration, if at all
            derived_line[fact] = at
            if not self._always_derives(fact, rules):
                out.add(2, f"d_{_ident(fact)} = None")
        current: tuple[str | None, str | None] = (None, None)
        for rule in rules:
            code = self._code_test(rule)
            scope = self._scope_test(rule)
            if code != current[0]:
                if code is not None:
                    out.add(2, f"if {code}:")
                current = (code, None)
            depth = 2 + (code is not None)
            if scope != current[1]:
                if scope is not None:
                    out.add(depth, f"if {scope}:")
                current = (code, scope)
            depth += scope is not None
            self._rule(rule, depth)
        if at == self.results_loop:
            out.add(2, "if w > worst:")
            out.add(3, "worst = w")
            out.add(2, "if build:")
            self._line_result(3, "w")

    def _always_derives(self, fact: str, rules: list[ir.Rule]) -> bool:
        """Whether ``fact``'s rule derives it on every line, with nothing to test first."""
        rule = next(r for r in rules if r.derive == fact)
        conjuncts = (*ir.field_conjuncts(rule, codes=False, scope=False), *rule.conjuncts)
        joins = [f for f in rule.reads if f not in self.always]
        return _unguarded(rule) and not conjuncts and not joins

    def _scope_setup(self, depth: int) -> None:
        """The claim's overlay and program, and every scope's verdict: once per claim."""
        out = self.out
        out.add(depth, f"if d_{ir.SCOPE_FACT} is not None:")
        out.add(depth + 1, f"overlay = d_{ir.SCOPE_FACT}.get('overlay')")
        out.add(depth + 1, f"program = d_{ir.SCOPE_FACT}.get('program')")
        for scope, local in self.scopes.items():
            name = self.const(("scope", scope), scope)
            out.add(
                depth + 1,
                f"{local} = overlay in {name} or program in {name}"
                f"  # scope: {_comment(', '.join(sorted(scope)))}",
            )
        self.scope_ready = True

    def _scope_test(self, rule: ir.Rule) -> str | None:
        return None if "all" in rule.scope else self.scopes[frozenset(rule.scope)]

    def _code_test(self, rule: ir.Rule) -> str | None:
        if rule.on == "claim" or not rule.codes:
            return None
        if len(rule.codes) == 1:
            return f"code == {rule.codes[0]!r}"
        return f"code in {self.const(('codes', frozenset(rule.codes)), frozenset(rule.codes))}"

    # --------------------------------------------------------------------------------- a rule
    def _rule(self, rule: ir.Rule, depth: int) -> None:
        """One rule's test and what its firing produces, at ``depth``, tagged with its id."""
        out, emitter, rule_id = self.out, self.emitter, _comment(rule.id)
        if rule.on == "claim":
            for fact in rule.reads:
                if self.per[fact] == "line":
                    raise ValueError(f"claim rule {rule.id} reads per-line fact {fact}")
        # The joins: a fact derived on every subject before this rule runs needs no test.
        tests = [f"d_{_ident(f)} is not None" for f in rule.reads if f not in self.always]
        fact = rule.derive
        once = fact is not None and self.per[fact] == "claim" and rule.on == "line"
        if once and not _emits(rule):
            tests.insert(0, f"d_{_ident(fact)} is None")  # derived already: nothing to do
        conjuncts = (*ir.field_conjuncts(rule, codes=False, scope=False), *rule.conjuncts)
        bind, values = _shared(rule, conjuncts)
        names = {}
        for node in values:
            self.shared += 1
            names[node] = f"_c{self.shared}"
        emitter.bind = {key: names[node] for key, node in zip(bind, values, strict=True)}
        tests += [emitter.test(c) for c in conjuncts]
        emitter.bind, emitter.reuse = {}, names
        body: list[str] = []
        if _emits(rule):
            body += self._emit(rule)
        if fact is not None:
            name = _ident(fact)
            fields = _derive(emitter, rule)
            key = "n" if self.per[fact] == "line" else "0"
            store = f"D_{name}[{key}] = d_{name} = {fields}"
            if once and _emits(rule):
                body += [f"if d_{name} is None:", f"    {store}"]
            else:
                body.append(store)
        emitter.reuse = {}
        if fact is not None and not tests and not once and _unguarded(rule):
            self.always.add(fact)  # derived on every subject, unconditionally
        out.add(depth, f"# rule: {rule_id}", rule.id)
        if not body:
            body.append("pass")  # a finding without a message: nothing to report
        if not tests:
            for line in body:
                out.add(depth, line, rule.id)
            return
        out.add(depth, f"if {' and '.join(tests)}:", rule.id)
        for line in body:
            out.add(depth + 1, line, rule.id)

    def _emit(self, rule: ir.Rule) -> list[str]:
        """The finding, and the worst rank seen kept up to date: the line's (``w``) for a line
        rule, the claim's (``worst``) for a claim rule (a line's rank reaches ``worst`` at the
        end of its iteration)."""
        spec = rule.finding
        assert spec is not None
        rank = "w" if rule.on == "line" else "worst"
        # Line findings of an earlier loop: the program has no line results (build() says so).
        track = rule.on == "claim" or self.at == self.results_loop
        if len(spec.severity) == 1:
            severity = spec.severity[0][1]
            code = [f"emit({self._finding(rule, repr(severity))})"]
            if track and SEVERITY_RANK[severity]:  # info ranks as clean: nothing to keep
                level = SEVERITY_RANK[severity]
                code += [f"if {rank} < {level}:", f"    {rank} = {level}"]
            return code
        table = self.const(("severity", rule.id), dict(spec.severity))
        self.sev += 1
        sev = f"_s{self.sev}"
        code = [
            f"{sev} = _pick({table}, overlay, program, {spec.severity[-1][1]!r})",
            f"emit({self._finding(rule, sev)})",
        ]
        if track:
            code += [f"if {rank} < _RANK[{sev}]:", f"    {rank} = _RANK[{sev}]"]
        return code

    def _finding(self, rule: ir.Rule, severity: str) -> str:
        spec = rule.finding
        assert spec is not None
        reasons = spec.reasons
        if not reasons:
            codes = "None"
        elif len(reasons) == 1 and len(reasons[0][1]) == 1:
            codes = self.const(("codes_of", rule.id), _codes(reasons[0][1][0]))
        else:
            chooser = self.const(
                ("reasons_of", rule.id), _reasons_of(rule, self.compiled[rule.id].reason)
            )
            codes = f"{chooser}(f, n)"
        source = self.const(("source", rule.source), rule.source)
        line = "n" if rule.on == "line" else "None"
        payer = "claim.payer" if spec.payer_specific else "None"
        message = _message(self.emitter, spec)
        if _FINDING is not None:  # positional, in _FINDING_ARGS' order
            return f"_F({rule.id!r}, {severity}, {line}, {message}, {source}, {payer}, {codes})"
        return (
            f"Finding(rule_id={rule.id!r}, severity={severity}, line={line}, message={message}, "
            f"source={source}, payer={payer}, reason_codes={codes})"
        )


#: What generated code passes to :data:`_FINDING` and :data:`_LINE_RESULT`, in this order.
_FINDING_ARGS = ("rule_id", "severity", "line", "message", "source", "payer", "reason_codes")
_LINE_RESULT_ARGS = (
    "line",
    "hcpcs",
    "billed_units",
    "dispensed_mg",
    "expected_units",
    "status",
    "date_of_service",
)


_FINDING = slot_builder(Finding, _FINDING_ARGS)
_LINE_RESULT = slot_builder(LineResult, _LINE_RESULT_ARGS)


def _ordered(order: list[tuple[int, ir.Rule]]) -> bool:
    """Whether findings appended in this order are already in the Result's order: claim-level
    ones by rule id, all before any line finding; line ones from a single loop, by rule id
    (every line's findings are then together, lines in order)."""
    claims = [(at, r.id) for at, r in order if r.on == "claim"]
    lines = [(at, r.id) for at, r in order if r.on == "line"]
    if [i for _, i in claims] != sorted(i for _, i in claims):
        return False
    if len({at for at, _ in lines}) > 1:
        return False
    if claims and lines and max(at for at, _ in claims) > lines[0][0]:
        return False
    ids = [i for _, i in lines]
    return ids == sorted(ids)


def fuse(program: ir.Program, compiled: Sequence[CompiledRule]) -> FusedProgram:
    """Generate and compile the fused function of ``program`` (``compiled``: its per-rule code,
    whose conditional reason-code tests the fused code reuses)."""
    return _Fuser(program, compiled).build()
