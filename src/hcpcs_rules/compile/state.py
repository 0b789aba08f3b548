"""The state the passes share: one :class:`Build`, and a :class:`RuleWork` per rule."""

from __future__ import annotations

import attrs

from .. import ir, load
from ..errors import RulesetProblem
from ..expr import Env
from ..functions import Bound
from ..reasons import DEFAULT_CODE_LIST, CodeList
from .context import PROGRAMS, Where
from .extensions import DeclaredExtension
from .specs import RuleSpec


@attrs.define(eq=False)
class RuleWork:
    """One ``[[rule]]`` on its way through the passes: what each pass found out about it."""

    where: Where
    ruleset: str
    #: The rule as read (read specs); a key that was wrong keeps its default.
    spec: RuleSpec
    #: The fact it derives: ``spec.derive``, or "" for a value that is not a name.
    derive: str | None = None
    #: Typed by the type-check pass: the ``when`` conjuncts, the message parts, derived fields.
    when: tuple[ir.Expr, ...] = ()
    message: tuple[str | ir.Expr, ...] | None = None
    fields: dict[str, ir.Expr] = attrs.field(factory=dict)
    #: The lowered rule, once the lower pass found nothing wrong with it.
    lowered: ir.Rule | None = None

    @property
    def rule(self) -> load.RuleText:
        assert self.where.rule is not None
        return self.where.rule

    @property
    def on(self) -> str:
        return self.spec.on

    @property
    def sound(self) -> bool:
        """Whether no problem has been reported for this rule so far."""
        return self.where.errors == 0


@attrs.define(eq=False)
class Build:
    """The state the passes share, filled in pass by pass."""

    texts: tuple[load.RulesetText, ...]
    problems: list[RulesetProblem] = attrs.field(factory=list)
    #: file -> its header (read specs)
    infos: dict[str, ir.RulesetInfo] = attrs.field(factory=dict)
    #: file -> what its expressions may name (read specs: constants; facts fill in later)
    envs: dict[str, Env] = attrs.field(factory=dict)
    #: every rule but duplicates, in file order (read specs)
    rules: list[RuleWork] = attrs.field(factory=list)
    #: derived facts by name, and each one's field types and digit bounds (resolve, type-check)
    facts: dict[str, ir.DerivedFact] = attrs.field(factory=dict)
    fact_fields: dict[str, dict[str, str]] = attrs.field(factory=dict)
    fact_bounds: dict[str, dict[str, Bound]] = attrs.field(factory=dict)
    #: fact-deriving rules, each after the rules deriving the facts its fields read (resolve)
    fact_order: list[RuleWork] = attrs.field(factory=list)
    #: extension fields declared, one entry per ruleset declaring one (read specs)
    extensions: list[DeclaredExtension] = attrs.field(factory=list)
    #: the lowered rules, stratified and in evaluation order (lower, stratify)
    program_rules: list[ir.Rule] = attrs.field(factory=list)
    #: ruleset name -> the rulesets it requires, and the payer ids it declares (read specs)
    requires: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    payers: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    #: the CARC/RARC list reason_codes are checked against (compile/reasons.py)
    code_list: CodeList = DEFAULT_CODE_LIST

    def visible(self, ruleset: str) -> frozenset[str]:
        """``ruleset`` and every ruleset it requires, directly or through another: the rulesets
        whose facts and payers it may use."""
        seen = {ruleset}
        stack = [ruleset]
        while stack:
            for required in self.requires.get(stack.pop(), ()):
                if required not in seen:
                    seen.add(required)
                    stack.append(required)
        return frozenset(seen)

    def overlays(self, ruleset: str) -> frozenset[str]:
        """The overlays ``ruleset`` may name in ``scope``, severities and effective dates: the
        programs, and the payers it or a ruleset it requires declares."""
        names = set(PROGRAMS)
        for name in self.visible(ruleset):
            names.update(self.payers.get(name, ()))
        return frozenset(names)

    def where(self, text: load.RulesetText, rule: load.RuleText | None = None) -> Where:
        return Where(text, rule, self.problems)

    def program(self) -> ir.Program:
        return ir.Program(
            rulesets=tuple(self.infos[t.file] for t in self.texts),
            facts=tuple(self.facts.values()),
            rules=tuple(self.program_rules),
            extensions=tuple(sorted({(d.on, d.name, d.type) for d in self.extensions})),
            payers=frozenset(p for names in self.payers.values() for p in names),
            overlays=frozenset(PROGRAMS).union(*self.payers.values()),
        )
