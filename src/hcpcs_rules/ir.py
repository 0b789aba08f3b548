"""The intermediate representation: what a ruleset *means*, independent of any engine.

The compiler (:mod:`hcpcs_rules.compile`) produces a :class:`Program` from ruleset files; each
backend turns the same Program into something that runs. Everything here is a frozen value, so a
Program can be shared by threads, hashed, dumped (:meth:`Program.dump`) and diffed.

Semantics every backend must honour, fixed here once:

- A field path whose value is absent (a missing optional field, or a field of a missing record)
  is *missing*. Comparisons ``< <= > >= !=`` and ``in`` with a missing operand are false;
  ``x == None`` and ``x != None`` test presence; arithmetic on a missing value is missing; a
  missing value is false in a boolean context. Functions receive missing values as ``None``.
- Reading a field of a derived fact joins the rule to that fact: the rule only matches a subject
  for which the fact exists. ``exists(F)`` / ``not exists(F)`` test it without reading it.
- Rules run in *strata*: a rule that reads facts derived by other rules runs only after every rule
  of a lower stratum has finished. Each derived fact is therefore complete before it is read,
  and ``not exists(F)`` is well defined.
- Each rule fires at most once per subject: once per claim (``on = "claim"``) or once per line.
- Aggregates (:class:`Aggregate`) range over every line of the claim, in line order, whatever
  the rule's subject; :class:`Each` reads a field of the line being aggregated. A line whose
  filter is missing or false is left out. Of the lines left: ``count`` is how many there are;
  ``sum`` adds the values that are not missing (missing values are left out, as in SQL), and the
  sum of no values is ``0``; ``min`` and ``max`` of no values are missing; ``any`` of no lines is
  false and ``all`` of no lines is true, and a missing condition counts as false in both (so a
  line whose value is missing makes ``all`` false). Aggregates do not nest, and read no per-line
  derived fact (of the subject or of the aggregated line): only base fields, constants and
  per-claim derived facts, which join as anywhere else.
- Dates: ``date - date`` is the whole number of days from the right date to the left one (an
  int, negative when the left date is earlier); ``date + int``, ``int + date`` and
  ``date - int`` move a date by a number of days. A result outside the years 1 to 9999 is an
  error of the rule (raised, never clamped). ``str + str`` concatenates. As for numbers, a
  missing operand makes the result missing.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

import attrs

__all__ = [
    "SCOPE_FACT",
    "SERVICE_FACT",
    "Aggregate",
    "Arith",
    "BoolOp",
    "Call",
    "Compare",
    "Cond",
    "Const",
    "DerivedFact",
    "Each",
    "Example",
    "Exists",
    "Expr",
    "FindingSpec",
    "Not",
    "Path",
    "Program",
    "Rule",
    "RuleDoc",
    "RulesetInfo",
    "Window",
    "codes_conjunct",
    "effective_conjuncts",
    "field_conjuncts",
    "scope_conjunct",
    "walk",
]

# Two derived facts have a fixed meaning: a rule's ``scope``, per-overlay severities and
# ``effective`` dates are judged on them (:func:`field_conjuncts` says how), so a rule with any of
# those joins them. Some ruleset must declare them (core does).
#: Per claim: ``overlay`` and ``program``, the payer as the scope and severity tables name it.
SCOPE_FACT = "payer_scope"
#: Per line: ``date`` (the line's date of service, else the claim's) and ``place``.
SERVICE_FACT = "service"

_node = attrs.frozen(slots=True)


@_node
class Const:
    value: Any  # str, int, Decimal, bool, date, None, or a frozenset/tuple of those
    type: str


@_node
class Path:
    root: str  # a base root ("line", "claim"...) or a derived fact name
    fields: tuple[str, ...]
    type: str
    derived: bool = False


@_node
class Compare:
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in"]
    left: Expr
    right: Expr
    type: str = "bool"


@_node
class BoolOp:
    op: Literal["and", "or"]
    values: tuple[Expr, ...]
    type: str = "bool"


@_node
class Not:
    value: Expr
    type: str = "bool"


@_node
class Arith:
    """``+ - *`` on numbers (exact); also dates (``date - date``: days, an int; ``date +/- int``:
    a date) and strings (``str + str``: concatenation). ``type`` is the result's type."""

    op: Literal["+", "-", "*"]
    left: Expr
    right: Expr
    type: str


@_node
class Call:
    name: str
    args: tuple[Expr, ...]
    type: str


@_node
class Cond:
    test: Expr
    body: Expr
    orelse: Expr
    type: str


@_node
class Exists:
    fact: str
    type: str = "bool"


@_node
class Each:
    """A field of the line an :class:`Aggregate` is at (``l.units`` in ``sum(l.units for l in
    lines)``); ``("number",)`` is that line's 1-based number. Only inside an Aggregate."""

    fields: tuple[str, ...]
    type: str


@_node
class Aggregate:
    """A value computed over every line of the claim (semantics in the module docstring).

    ``value`` is what each line contributes (None for ``count``; the condition for ``any`` and
    ``all``); ``where`` the filter a line must pass (None: every line).
    """

    op: Literal["count", "sum", "min", "max", "any", "all"]
    value: Expr | None
    where: Expr | None
    type: str


Expr = Const | Path | Compare | BoolOp | Not | Arith | Call | Cond | Exists | Each | Aggregate


def walk(expr: Expr):
    """Yield ``expr`` and every node below it, parents first."""
    yield expr
    if isinstance(expr, Compare | Arith):
        yield from walk(expr.left)
        yield from walk(expr.right)
    elif isinstance(expr, BoolOp):
        for value in expr.values:
            yield from walk(value)
    elif isinstance(expr, Not):
        yield from walk(expr.value)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from walk(arg)
    elif isinstance(expr, Cond):
        yield from walk(expr.test)
        yield from walk(expr.body)
        yield from walk(expr.orelse)
    elif isinstance(expr, Aggregate):
        if expr.value is not None:
            yield from walk(expr.value)
        if expr.where is not None:
            yield from walk(expr.where)


@_node
class Window:
    """A date-of-service window of a rule's ``effective`` dates: the line's ``service.date`` is
    on or after ``start`` and on or before ``end`` (a missing end is open)."""

    #: ``"*"``: the window holds for every claim; else the payer overlay it limits (a claim of
    #: an overlay no window names is not date-limited).
    overlay: str
    start: dt.date | None = None
    end: dt.date | None = None


# What a rule's codes, scope and effective dates mean, as ordinary conditions. The IR keeps them
# as fields of the Rule (a backend may index on them, as the python backend does on codes and
# scope); a backend that evaluates them as tests asks for these. Defined once, here, so every
# backend gives them the same meaning.


def codes_conjunct(codes: tuple[str, ...]) -> Expr:
    """``Rule.codes`` as a condition: the line's HCPCS code is one of them."""
    path = Path("line", ("hcpcs",), "str")
    if len(codes) == 1:
        return Compare("==", path, Const(codes[0], "str"))
    return Compare("in", path, Const(codes, "set[str]"))


def scope_conjunct(scope: tuple[str, ...]) -> Expr:
    """``Rule.scope`` (other than ``("all",)``) as a condition: the claim's payer overlay or
    program is one of them."""
    tokens = Const(scope, "set[str]")
    overlay = Path(SCOPE_FACT, ("overlay",), "str", derived=True)
    program = Path(SCOPE_FACT, ("program",), "str", derived=True)
    return BoolOp("or", (Compare("in", overlay, tokens), Compare("in", program, tokens)))


def effective_conjuncts(windows: tuple[Window, ...]) -> tuple[Expr, ...]:
    """``Rule.effective`` as conditions on the line's date of service: one test per end of an
    every-claim window, or one alternative per overlay window plus "any other overlay"."""
    dos = Path(SERVICE_FACT, ("date",), "date", derived=True)

    def within(window: Window) -> list[Expr]:
        tests: list[Expr] = []
        if window.start is not None:
            tests.append(Compare(">=", dos, Const(window.start, "date")))
        if window.end is not None:
            tests.append(Compare("<=", dos, Const(window.end, "date")))
        return tests

    if not windows:
        return ()
    if len(windows) == 1 and windows[0].overlay == "*":
        return tuple(within(windows[0]))
    overlay = Path(SCOPE_FACT, ("overlay",), "str", derived=True)
    alternatives: list[Expr] = [
        BoolOp("and", (Compare("==", overlay, Const(w.overlay, "str")), *within(w)))
        for w in windows
    ]
    names = tuple(w.overlay for w in windows)
    alternatives.append(Compare("not in", overlay, Const(names, "set[str]")))
    return (BoolOp("or", tuple(alternatives)),)


def field_conjuncts(
    rule: Rule, *, codes: bool = True, scope: bool = True, effective: bool = True
) -> tuple[Expr, ...]:
    """The conditions a rule's ``codes``, ``scope`` and ``effective`` fields stand for, in that
    order, leaving out the kinds a backend guarantees another way (an index)."""
    out: list[Expr] = []
    if codes and rule.codes:
        out.append(codes_conjunct(rule.codes))
    if scope and "all" not in rule.scope:
        out.append(scope_conjunct(rule.scope))
    if effective:
        out.extend(effective_conjuncts(rule.effective))
    return tuple(out)


@_node
class DerivedFact:
    """A fact type a rule derives: one per line (``per="line"``) or one per claim."""

    name: str
    per: Literal["line", "claim"]
    fields: tuple[tuple[str, str], ...]  # (field, type)
    rule_id: str
    ruleset: str


@_node
class ReasonChoice:
    """One suggested payer answer: group code, CARC, RARCs and the source of the choice.

    ``when`` (conjuncts, empty for "otherwise") picks it among an overlay's choices; ``test`` is
    its index among the rule's conditional choices (what the generated ``reason(f, n, i)``
    tests), -1 when it has no condition. ``when_text`` is the condition as written."""

    group: str
    carc: str
    rarc: tuple[str, ...]
    source: str
    when: tuple[Expr, ...] = ()
    test: int = -1
    when_text: str | None = None


@_node
class FindingSpec:
    #: ``(overlay, severity)`` pairs tried in order against the claim's payer overlay and
    #: program; ``("*", s)`` is the default. A single pair ``("*", s)`` is payer-neutral.
    severity: tuple[tuple[str, str], ...]
    message: tuple[str | Expr, ...]  # literal text and expressions to format
    payer_specific: bool  # findings name the claim's payer (Finding.payer)
    #: ``(overlay, choices)`` pairs, looked up like ``severity`` ("*" the default); within an
    #: overlay the first choice whose ``when`` holds wins (the last has none). Empty: the rule
    #: suggests no reason codes.
    reasons: tuple[tuple[str, tuple[ReasonChoice, ...]], ...] = ()

    @property
    def reason_tests(self) -> tuple[ReasonChoice, ...]:
        """The conditional choices, in ``test`` order."""
        found = {c.test: c for _, choices in self.reasons for c in choices if c.test >= 0}
        return tuple(found[i] for i in sorted(found))


@_node
class Example:
    name: str
    claim: Any  # JSON-like claim data, already patched
    fires: bool
    line: int | None = None
    severity: str | None = None
    file_line: int | None = None


@_node
class RuleDoc:
    """A rule's catalogue text as written: for :mod:`hcpcs_rules.reference`, not for evaluation
    (which reads the lowered fields of :class:`Rule`)."""

    scope: tuple[str, ...] = ("all",)
    codes: tuple[str, ...] = ()
    #: ``{"from": date, "to": date}`` (either may be missing), or one such table per overlay;
    #: None when the rule is not date-limited. A plain dict as TOML gave it.
    effective: Any = None
    when: str | None = None
    message: str | None = None
    notes: str | None = None


@_node
class Rule:
    id: str
    ruleset: str
    title: str
    on: Literal["claim", "line"]
    #: The ``when`` condition as a conjunction: every conjunct must hold, and so must the
    #: ``codes``, ``scope`` and ``effective`` fields below (:func:`field_conjuncts`).
    conjuncts: tuple[Expr, ...]
    finding: FindingSpec | None
    derive: str | None  # name of the DerivedFact it produces
    derive_fields: tuple[tuple[str, Expr], ...]
    source: str
    stratum: int
    #: Derived facts whose fields it reads: implicit joins, the rule only matches a subject for
    #: which each exists. ``exists(F)`` alone is not a read: it tests presence itself.
    reads: tuple[str, ...]
    #: Every derived fact it refers to (reads plus exists tests): what orders it into a stratum.
    depends: tuple[str, ...]
    file: str
    file_line: int | None
    examples: tuple[Example, ...] = ()
    #: A line rule's HCPCS codes: the line's code is one of them (empty: any code).
    codes: tuple[str, ...] = ()
    #: The payer overlays or programs the rule applies to; ``("all",)``: every claim.
    scope: tuple[str, ...] = ("all",)
    #: A line rule's date-of-service windows (empty: not date-limited); see :class:`Window`.
    effective: tuple[Window, ...] = ()
    #: What the rule reference prints, as the author wrote it (never read to evaluate).
    doc: RuleDoc = attrs.field(factory=lambda: RuleDoc())


@_node
class RulesetInfo:
    name: str
    version: str
    file: str
    description: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


@_node
class Program:
    """Every rule of the selected rulesets, validated and stratified."""

    rulesets: tuple[RulesetInfo, ...]
    facts: tuple[DerivedFact, ...]
    rules: tuple[Rule, ...]  # ordered by (stratum, ruleset order, file order)
    #: Extension fields the rulesets declare, ``(on, name, type)`` with ``on`` "claim" or "line",
    #: sorted: what claims are parsed against (a field two rulesets share is listed once).
    extensions: tuple[tuple[str, str, str], ...] = ()
    #: The payer ids the rulesets declare (``[ruleset] payers``; core declares medicare and the
    #: commercial payers it ships rules for): the payers a claim may name.
    payers: frozenset[str] = frozenset()
    #: What ``scope``, severities and effective dates may name: :attr:`payers` and the programs
    #: (medicare, medicare_advantage, commercial).
    overlays: frozenset[str] = frozenset()

    @property
    def strata(self) -> int:
        return 1 + max((r.stratum for r in self.rules), default=0)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError if none)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def dump(self) -> str:
        """A readable JSON rendering of the whole IR (stable, diffable)."""
        return json.dumps(_plain(self), indent=2, sort_keys=False, default=str)


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        out = {"node": type(value).__name__}
        for field in attrs.fields(type(value)):
            # payers/overlays restate the rulesets' headers; the dump shows what rules do
            if field.name in ("doc", "payers", "overlays"):
                continue
            out[field.name] = _plain(getattr(value, field.name))
        return out
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
