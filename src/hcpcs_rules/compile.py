"""Stage 2 of the pipeline: what ruleset files *mean* -> a validated, stratified :class:`~ir.Program`.

The compiler reads :class:`~hcpcs_rules.load.RulesetText` values and checks everything a ruleset
author can get wrong, collecting every problem (with file, line and rule id) before raising one
:class:`~hcpcs_rules.errors.RulesetError`: unknown keys, fields or functions (with "did you mean"),
wrong types, duplicate ids across rulesets, cycles between derived facts, examples that are not
claims.

It also *lowers* the catalogue vocabulary into plain conditions, so backends only ever see
conjunctions of expressions:

- ``codes = ["J7632"]``            -> ``line.hcpcs in ("J7632",)``
- ``scope = ["medicare", ...]``    -> a test on the claim's derived ``payer_scope`` fact
- ``effective = {from = ...}``     -> tests on the line's derived ``service.date``
- ``severity = {medicare = ...}``  -> a lookup by the claim's payer overlay at emit time

Two derived facts have a fixed meaning for that lowering and must be declared by some ruleset
(the built-in ``core`` does): ``payer_scope`` (per claim: ``overlay``, ``program``) and ``service``
(per line: ``date``, ``place``). Their names and the codes/scope conjuncts are defined in
:mod:`hcpcs_rules.ir`, which the backends read without importing this module.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from . import ir, load, schema
from .errors import RulesetError, RulesetProblem
from .expr import Env, ExprError, digits_bound, parse_expr, parse_template
from .functions import Bound

# The lowering's fixed facts and IR shapes are defined with the IR, where the backends read them
# too; imported here (and re-exported) because the lowering below writes them.
from .ir import SCOPE_FACT, SERVICE_FACT, codes_conjunct, scope_conjunct

__all__ = [
    "SCOPE_FACT",
    "SERVICE_FACT",
    "codes_conjunct",
    "compile_files",
    "compile_program",
    "scope_conjunct",
]

SEVERITIES = ("reject", "deny", "warn", "info")
PROGRAMS = ("medicare", "medicare_advantage", "commercial")

_RULE_KEYS = {
    "id",
    "title",
    "on",
    "codes",
    "scope",
    "severity",
    "effective",
    "when",
    "message",
    "derive",
    "per",
    "fields",
    "source",
    "example",
    "notes",
}
_EXAMPLE_KEYS = {"name", "base", "claim", "set", "unset", "fires", "line", "severity"}
_HEADER_KEYS = {"name", "version", "description", "requires"}
_RESERVED_FIELDS = {"t", "id", "sid", "key"}  # the engine's own keys on every fact
# Every name a ruleset gives is checked against one of these before anything uses it. They are
# ASCII-only (an explicit class, never \w), so a name is always a plain identifier or code that
# cannot carry a quote, a line break or a comment marker into generated code, a durable_rules
# definition or a terminal. docs/ruleset-format.md lists them.
_RULE_ID = re.compile(r"[A-Z0-9][A-Z0-9-]{0,63}\Z")
_FACT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")  # facts, fields, rulesets, overlays, constants
_CODE = re.compile(r"[A-Z0-9]{1,16}\Z")  # HCPCS / CPT codes in `codes`
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}\Z")

#: Longest text allowed per kind of ruleset string (characters). Far above what the shipped
#: rulesets use (in brackets), low enough that nothing downstream has to worry about size.
MAX_TEXT = {
    "title": 300,  # (75)
    "source": 4_000,  # (575)
    "notes": 20_000,  # (385)
    "description": 4_000,  # (221)
    "message": 2_000,  # (402)
    "example name": 300,  # (64)
    "string constant": 2_000,  # (a regex: 27)
}
#: Most items in a list constant or a `codes` / `scope` list.
MAX_LIST_ITEMS = 1_000
#: Integer constants are TOML's 64-bit integers; anything longer is not a real threshold.
MAX_INT_DIGITS = 18


def compile_files(selection: Iterable[str | Path] | None = None) -> ir.Program:
    """Resolve ruleset names/paths (plus what they require) and compile them."""
    # Once per build: names in the selection and in `requires` both use it. Entry points are
    # loaded only for the rulesets actually used.
    installed = load.Installed()
    files = load.resolve(selection, installed)
    texts: dict[str, load.RulesetText] = {}
    order: list[str] = []
    pending = [load.read_ruleset(f) for f in files]
    problems: list[RulesetProblem] = []
    while pending:
        text = pending.pop(0)
        if text.name in texts:
            if texts[text.name].file != text.file:
                problems.append(
                    text.problem(
                        text.header_line,
                        None,
                        f"ruleset {text.name!r} is also defined in {texts[text.name].file}",
                    )
                )
            continue
        texts[text.name] = text
        order.append(text.name)
        for required in text.header.get("requires", []) or []:
            if isinstance(required, str) and required not in texts and required in installed:
                try:
                    pending.append(load.read_ruleset(installed.path(required)))
                except RulesetError as exc:
                    problems.extend(exc.problems)
    if problems:
        raise RulesetError(problems)
    # Required rulesets come first, so their facts are declared before they are used.
    ranked = sorted(order, key=lambda n: (_depth(n, texts), order.index(n)))
    return compile_program([texts[n] for n in ranked])


def _depth(
    name: str, texts: dict[str, load.RulesetText], seen: frozenset[str] = frozenset()
) -> int:
    if name in seen or name not in texts:
        return 0
    requires = texts[name].header.get("requires", []) or []
    return 1 + max(
        (_depth(r, texts, seen | {name}) for r in requires if isinstance(r, str)), default=-1
    )


class _Compiler:
    def __init__(self, texts: Sequence[load.RulesetText]) -> None:
        self.texts = texts
        self.problems: list[RulesetProblem] = []
        self.facts: dict[str, ir.DerivedFact] = {}
        self.fact_fields: dict[str, dict[str, str]] = {}
        #: derived fact -> numeric field -> the digits its values can need (expr.digits_bound)
        self.fact_bounds: dict[str, dict[str, Bound]] = {}

    def error(
        self, text: load.RulesetText, line: int | None, rule_id: str | None, message: str
    ) -> None:
        self.problems.append(text.problem(line, rule_id, message))

    def expr_errors(
        self,
        text: load.RulesetText,
        rule: load.RuleText,
        key: str,
        value: str,
        exc: ExprError,
        prefix: str,
        *,
        line: int | None,
        shift: int = 0,
    ) -> None:
        """Report each problem of ``exc``, found in ``value`` (the string of rule key ``key``),
        at the file's own line and column where the string's kind allows (see
        :meth:`~hcpcs_rules.load.RulesetText.locate`); else at ``line``, the key's, saying where
        in the expression. ``shift`` is where the text that was parsed starts in ``value``.
        """
        at = rule.values.get(key)
        for problem in exc.problems:
            message = prefix + problem.message
            if problem.offset is None or problem.end_offset is None:
                self.error(text, line, rule.id, message)
                continue
            start, end = problem.offset + shift, problem.end_offset + shift
            where = text.locate(at, value, start, end) if at is not None else None
            if where is not None:
                self.problems.append(text.problem(where[0], rule.id, message, *where[1:]))
                continue
            # Written where the scanner cannot follow it (an inline table, say): the column is
            # the expression's own, and the message says so rather than point at the wrong place.
            within = f"line {problem.line}, " if problem.line != 1 else ""
            self.error(
                text,
                line,
                rule.id,
                f"{message} (at {within}column {problem.column} of the text, not of the file)",
            )

    # -- header and constants ------------------------------------------------------------

    def header(self, text: load.RulesetText) -> ir.RulesetInfo | None:
        h = text.header
        for key in sorted(set(h) - _HEADER_KEYS):
            self.error(
                text,
                text.header_line,
                None,
                f"unknown key {key!r} in [ruleset]{_hint(key, _HEADER_KEYS)}",
            )
        name, version = h.get("name"), h.get("version")
        if not isinstance(name, str) or not _FACT_NAME.match(name):
            self.error(
                text,
                text.header_line,
                None,
                "[ruleset] needs a name of lowercase letters, digits and _",
            )
            return None
        if not isinstance(version, str) or not _VERSION.match(version):
            self.error(
                text,
                text.header_line,
                None,
                '[ruleset] needs a version of letters, digits and . + _ - (at most 64), e.g. version = "1.0.0"',
            )
            return None
        description = h.get("description", "")
        if not isinstance(description, str):
            self.error(text, text.header_line, None, "[ruleset] description must be a string")
            description = ""
        self.check_length(text, text.header_line, None, "description", description)
        requires = h.get("requires", [])
        if not isinstance(requires, list) or not all(
            isinstance(r, str) and _FACT_NAME.match(r) for r in requires
        ):
            self.error(text, text.header_line, None, "requires must be a list of ruleset names")
        else:
            known = {t.name for t in self.texts}
            for required in requires:
                if required not in known:
                    self.error(
                        text,
                        text.header_line,
                        None,
                        f"requires ruleset {required!r}, which is not installed",
                    )
        return ir.RulesetInfo(name, version, text.file, description)

    def check_length(
        self, text: load.RulesetText, line: int | None, rid: str | None, kind: str, value: Any
    ) -> bool:
        """Whether ``value`` (a string) is within the length allowed for ``kind``."""
        limit = MAX_TEXT[kind]
        if isinstance(value, str) and len(value) > limit:
            self.error(
                text, line, rid, f"{kind} is {len(value):,} characters long; at most {limit:,}"
            )
            return False
        return True

    def constants(self, text: load.RulesetText) -> dict[str, ir.Const]:
        out: dict[str, ir.Const] = {}
        for name, value in text.constants.items():
            line = text.constant_lines.get(name)
            if not isinstance(name, str) or not _FACT_NAME.match(name):
                self.error(
                    text,
                    line,
                    None,
                    f"constant name {name!r}: use lowercase letters, digits and _ (at most 64)",
                )
                continue
            size = _constant_size_problem(value)
            if size is not None:
                self.error(text, line, None, f"constant {name!r}: {size}")
                continue
            const = _constant(value)
            if const is None:
                self.error(
                    text,
                    line,
                    None,
                    f"constant {name!r}: use a string, an integer, a date or a list of one of those (write decimal numbers in the condition text, where 1.1 is exact)",
                )
            elif name in schema.BASE_ROOTS or name in ("exists", "date"):
                self.error(text, line, None, f"constant {name!r} would hide a built-in name")
            else:
                out[name] = const
        return out

    # -- derived facts ---------------------------------------------------------------------

    def declare_facts(self, text: load.RulesetText, info: ir.RulesetInfo) -> None:
        for rule in text.rules:
            name = rule.data.get("derive")
            if name is None:
                continue
            rid = rule.id
            line = rule.line_of("derive")
            if not isinstance(name, str) or not _FACT_NAME.match(name):
                self.error(
                    text, line, rid, "derive must name a fact in lowercase letters, digits and _"
                )
                continue
            if name in schema.BASE_ROOTS:
                self.error(text, line, rid, f"derive {name!r}: that name is a base fact")
                continue
            if name in self.facts:
                other = self.facts[name]
                self.error(
                    text,
                    line,
                    rid,
                    f"fact {name!r} is already derived by {other.rule_id} ({other.ruleset}); each fact has one rule",
                )
                continue
            on = rule.data.get("on", "line")
            per = rule.data.get("per", on)
            if per not in ("line", "claim") or (on == "claim" and per == "line"):
                self.error(
                    text,
                    rule.line_of("per"),
                    rid,
                    "per must be 'line' or 'claim' (a claim rule derives per claim)",
                )
                continue
            self.facts[name] = ir.DerivedFact(name, per, (), rid or "?", info.name)
            self.fact_fields[name] = {}

    def type_fact_fields(self, envs: dict[str, Env]) -> dict[tuple[str, str], dict[str, ir.Expr]]:
        """Type every derived fact's fields, in dependency order (facts may build on facts)."""
        pending: list[tuple[load.RulesetText, load.RuleText]] = [
            (text, rule)
            for text in self.texts
            for rule in text.rules
            if isinstance(rule.data.get("derive"), str)
            and rule.data["derive"] in self.facts
            and self.facts[rule.data["derive"]].rule_id == rule.id
        ]
        typed: dict[tuple[str, str], dict[str, ir.Expr]] = {}
        unresolved = {rule.data["derive"] for _, rule in pending}
        while pending:
            progress = False
            for text, rule in list(pending):
                name = rule.data["derive"]
                fields = rule.data.get("fields", {})
                if not isinstance(fields, dict):
                    self.error(
                        text,
                        rule.line_of("fields"),
                        rule.id,
                        'fields must be a table of name = "expression"',
                    )
                    fields = {}
                fact = self.facts[name]
                if fields and fact.per == "claim" and rule.data.get("on", "line") == "line":
                    self.error(
                        text,
                        rule.line_of("fields"),
                        rule.id,
                        "a line rule deriving a per-claim fact derives a flag: it may not have fields (lines would disagree on their values)",
                    )
                    fields = {}
                env = envs[text.file]
                # Hide facts not typed yet, so their use defers this rule instead of failing.
                visible = {
                    k: v for k, v in self.fact_fields.items() if k not in unresolved or k == name
                }
                local_env = Env(env.roots, visible, env.constants, self.fact_bounds)
                exprs: dict[str, ir.Expr] = {}
                deferred = False
                # (message, or the field, its text and the expression's problems)
                errors: list[str | tuple[str, str, ExprError]] = []
                for field, source in fields.items():
                    if not _FACT_NAME.match(str(field)) or field in _RESERVED_FIELDS:
                        errors.append(
                            f"field name {field!r} must be lowercase letters, digits and _, and not one of {', '.join(sorted(_RESERVED_FIELDS))}"
                        )
                        continue
                    if not isinstance(source, str):
                        errors.append(f"field {field!r} must be an expression string")
                        continue
                    try:
                        exprs[field] = parse_expr(source, local_env, want_bool=False)
                    except ExprError as exc:
                        if any(_mentions_unresolved(m, unresolved - {name}) for m in exc.messages):
                            deferred = True
                            break
                        errors.append((str(field), source, exc))
                if deferred:
                    continue
                pending.remove((text, rule))
                unresolved.discard(name)
                progress = True
                for error in errors:
                    if isinstance(error, str):
                        self.error(text, rule.line_of("fields"), rule.id, error)
                        continue
                    field, source, exc = error
                    self.expr_errors(
                        text,
                        rule,
                        f"fields.{field}",
                        source,
                        exc,
                        f"field {field!r}: ",
                        line=rule.line_of("fields"),
                    )
                self.fact_fields[name] = {f: e.type for f, e in exprs.items()}
                # Rules reading these fields compute with them: carry each field's bound along.
                self.fact_bounds[name] = {f: digits_bound(e, local_env) for f, e in exprs.items()}
                self.facts[name] = ir.DerivedFact(
                    name,
                    fact.per,
                    tuple((f, e.type) for f, e in exprs.items()),
                    fact.rule_id,
                    fact.ruleset,
                )
                typed[(text.file, rule.id or "")] = exprs
            if not progress:
                for text, rule in pending:
                    self.error(
                        text,
                        rule.line_of("fields"),
                        rule.id,
                        f"derived fact {rule.data['derive']!r} depends on itself through other derived facts",
                    )
                break
        return typed

    # -- rules -------------------------------------------------------------------------------

    def rule(
        self,
        text: load.RulesetText,
        info: ir.RulesetInfo,
        rule: load.RuleText,
        env: Env,
        derived_exprs: dict[tuple[str, str], dict[str, ir.Expr]],
    ) -> ir.Rule | None:
        d = rule.data
        rid = rule.id
        before = len(self.problems)
        if rid is None or not _RULE_ID.match(rid):
            self.error(
                text,
                rule.line,
                rid,
                "a rule needs an id of capital letters, digits and '-', e.g. id = \"J7632-UNITS-MISMATCH\"",
            )
        for key in sorted(set(d) - _RULE_KEYS):
            self.error(text, rule.line_of(key), rid, f"unknown key {key!r}{_hint(key, _RULE_KEYS)}")
        title = d.get("title")
        if not isinstance(title, str) or not title.strip():
            self.error(text, rule.line, rid, "a rule needs a title")
        else:
            self.check_length(text, rule.line_of("title"), rid, "title", title)
        source = d.get("source")
        if not isinstance(source, str) or not source.strip():
            self.error(
                text,
                rule.line,
                rid,
                "a rule needs a source: the policy, article or regulation it rests on",
            )
        else:
            self.check_length(text, rule.line_of("source"), rid, "source", source)
        notes = d.get("notes")
        if notes is not None and not isinstance(notes, str):
            self.error(text, rule.line_of("notes"), rid, "notes must be a string")
        elif notes is not None:
            self.check_length(text, rule.line_of("notes"), rid, "notes", notes)
        on = d.get("on", "line")
        if on not in ("line", "claim"):
            self.error(text, rule.line_of("on"), rid, f"on must be 'line' or 'claim', not {on!r}")
            on = "line"
        roots = dict(env.roots)
        if on == "claim":
            roots.pop("line")  # a claim rule has no line to read
        rule_env = Env(roots, self.fact_fields, env.constants, self.fact_bounds)

        conjuncts: list[ir.Expr] = []
        conjuncts += self.codes(text, rule, on)
        scope = self.scope(text, rule, conjuncts)
        effective = self.effective(text, rule, on, conjuncts)
        when = d.get("when")
        if when is not None:
            if not isinstance(when, str):
                self.error(text, rule.line_of("when"), rid, "when must be a condition string")
            else:
                try:
                    conjuncts += _flatten(parse_expr(when, rule_env))
                except ExprError as exc:
                    self.expr_errors(
                        text, rule, "when", when, exc, "when: ", line=rule.line_of("when")
                    )

        finding = self.finding(text, rule, rule_env, scope)
        derive = d.get("derive")
        if derive is not None and not isinstance(derive, str):
            derive = ""  # not a name: declare_facts reported it; keep it hashable from here on
        derive_fields: tuple[tuple[str, ir.Expr], ...] = ()
        if derive is not None:
            derive_fields = tuple(derived_exprs.get((text.file, rid or ""), {}).items())
        if finding is None and derive is None and "message" not in d:
            self.error(
                text,
                rule.line,
                rid,
                "a rule must emit a finding (severity + message) or derive a fact (derive)",
            )

        reads, tested = set(), set()
        for expr in [*conjuncts, *(e for _, e in derive_fields), *_message_exprs(finding)]:
            for node in ir.walk(expr):
                if isinstance(node, ir.Path) and node.derived:
                    reads.add(node.root)
                elif isinstance(node, ir.Exists):
                    tested.add(node.fact)
        if finding is not None and len(finding.severity) > 1:
            reads.add(SCOPE_FACT)  # the severity is looked up by the claim's overlay
        for fact in sorted(reads | tested):
            if on == "claim" and fact in self.facts and self.facts[fact].per == "line":
                self.error(
                    text,
                    rule.line_of("when"),
                    rid,
                    f"a claim rule cannot read the per-line fact {fact!r}",
                )
        if derive is not None and derive in reads | tested:
            self.error(
                text,
                rule.line_of("derive"),
                rid,
                f"a rule cannot read the fact {derive!r} it derives",
            )

        examples = self.examples(text, rule)
        if len(self.problems) > before:
            return None
        return ir.Rule(
            id=rid or "?",
            ruleset=info.name,
            title=title.strip(),
            on=on,
            conjuncts=tuple(conjuncts),
            finding=finding,
            derive=derive,
            derive_fields=derive_fields,
            source=source.strip(),
            stratum=0,
            reads=tuple(sorted(reads)),
            depends=tuple(sorted(reads | tested)),
            file=text.file,
            file_line=rule.line,
            examples=examples,
            codes=tuple(d["codes"]) if on == "line" and _is_code_list(d.get("codes")) else (),
            scope=tuple(scope),
            doc={
                "scope": scope,
                "codes": list(d.get("codes", [])) if isinstance(d.get("codes"), list) else [],
                "effective": effective,
                "when": when,
                "message": d.get("message"),
                "notes": d.get("notes"),
            },
        )

    def codes(self, text: load.RulesetText, rule: load.RuleText, on: str) -> list[ir.Expr]:
        codes = rule.data.get("codes")
        if codes is None:
            return []
        if on != "line":
            self.error(
                text,
                rule.line_of("codes"),
                rule.id,
                "codes only applies to line rules; a claim rule can test a derived flag instead",
            )
            return []
        if (
            not isinstance(codes, list)
            or not codes
            or len(codes) > MAX_LIST_ITEMS
            or not all(isinstance(c, str) and _CODE.match(c) for c in codes)
        ):
            self.error(
                text,
                rule.line_of("codes"),
                rule.id,
                f"codes must be a non-empty list of HCPCS codes (capitals and digits, at most 16 each, at most {MAX_LIST_ITEMS:,} codes)",
            )
            return []
        return [codes_conjunct(tuple(codes))]

    def scope(
        self, text: load.RulesetText, rule: load.RuleText, conjuncts: list[ir.Expr]
    ) -> list[str]:
        scope = rule.data.get("scope", ["all"])
        if isinstance(scope, str):
            scope = [scope]
        if (
            not isinstance(scope, list)
            or not scope
            or len(scope) > MAX_LIST_ITEMS
            or not all(isinstance(s, str) and _FACT_NAME.match(s) for s in scope)
        ):
            self.error(
                text,
                rule.line_of("scope"),
                rule.id,
                'scope must be a list of payer overlays (lowercase letters, digits and _), e.g. ["medicare", "medicare_advantage"] or ["all"]',
            )
            return ["all"]
        if "all" in scope:
            if len(scope) > 1:
                self.error(
                    text,
                    rule.line_of("scope"),
                    rule.id,
                    "scope 'all' cannot be combined with other overlays",
                )
            return ["all"]
        if not self.require_fact(
            text, rule.line_of("scope"), rule.id, SCOPE_FACT, {"overlay", "program"}, "scope"
        ):
            return scope
        conjuncts.append(scope_conjunct(tuple(scope)))
        return scope

    def effective(
        self, text: load.RulesetText, rule: load.RuleText, on: str, conjuncts: list[ir.Expr]
    ) -> Any:
        effective = rule.data.get("effective")
        if effective is None:
            return None
        line, rid = rule.line_of("effective"), rule.id
        if on != "line":
            self.error(
                text,
                line,
                rid,
                "effective dates are judged on a line's date of service: use them on line rules",
            )
            return None
        if not isinstance(effective, dict) or not effective:
            self.error(
                text,
                line,
                rid,
                "effective must be a table: {from = 2007-07-01, to = ...} or one such table per overlay",
            )
            return None
        if not self.require_fact(text, line, rid, SERVICE_FACT, {"date"}, "effective"):
            return None
        dos = ir.Path(SERVICE_FACT, ("date",), "date", derived=True)
        if set(effective) <= {"from", "to"}:
            window = self.window(text, line, rid, effective, dos)
            conjuncts.extend(window)
            return effective
        if not self.require_fact(
            text, line, rid, SCOPE_FACT, {"overlay"}, "per-overlay effective dates"
        ):
            return None
        overlay = ir.Path(SCOPE_FACT, ("overlay",), "str", derived=True)
        alternatives: list[ir.Expr] = []
        for name, window_data in effective.items():
            if not _FACT_NAME.match(name):
                self.error(
                    text,
                    line,
                    rid,
                    f"effective: {name!r} is not an overlay name (lowercase letters, digits and _)",
                )
                continue
            if (
                not isinstance(window_data, dict)
                or not window_data
                or not set(window_data) <= {"from", "to"}
            ):
                self.error(
                    text, line, rid, f"effective.{name} must be a table {{from = ..., to = ...}}"
                )
                continue
            tests = self.window(text, line, rid, window_data, dos)
            alternatives.append(
                ir.BoolOp("and", (ir.Compare("==", overlay, ir.Const(name, "str")), *tests))
            )
        # Overlays with no window of their own are not date-limited.
        alternatives.append(ir.Compare("not in", overlay, ir.Const(tuple(effective), "set[str]")))
        conjuncts.append(ir.BoolOp("or", tuple(alternatives)))
        return effective

    def window(self, text, line, rid, window: dict[str, Any], dos: ir.Path) -> list[ir.Expr]:
        tests: list[ir.Expr] = []
        for key, op in (("from", ">="), ("to", "<=")):
            if key not in window:
                continue
            value = window[key]
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                self.error(
                    text,
                    line,
                    rid,
                    f"effective {key} must be a TOML date like 2007-07-01, not {value!r}",
                )
                continue
            tests.append(ir.Compare(op, dos, ir.Const(value, "date")))
        if (
            "from" in window
            and "to" in window
            and isinstance(window["from"], dt.date)
            and isinstance(window["to"], dt.date)
            and window["to"] < window["from"]
        ):
            self.error(text, line, rid, "effective 'to' is before 'from'")
        return tests

    def require_fact(self, text, line, rid, fact: str, fields: set[str], why: str) -> bool:
        have = self.fact_fields.get(fact)
        if have is None or not fields <= set(have):
            self.error(
                text,
                line,
                rid,
                f'{why} needs a derived fact {fact!r} with fields {", ".join(sorted(fields))} (the core ruleset declares it: add requires = ["core"])',
            )
            return False
        return True

    def finding(
        self, text: load.RulesetText, rule: load.RuleText, env: Env, scope: list[str]
    ) -> ir.FindingSpec | None:
        d, rid = rule.data, rule.id
        severity, message = d.get("severity"), d.get("message")
        if severity is None and message is None:
            return None
        if severity is None or message is None:
            self.error(text, rule.line, rid, "a finding needs both severity and message")
            return None
        pairs: list[tuple[str, str]] = []
        # The IR's "*" (any other overlay) as the author wrote it, for messages: "default" in a
        # table, nothing for a plain severity = "level".
        said_any = ""
        if isinstance(severity, str):
            pairs = [("*", severity)]
        elif isinstance(severity, dict):
            default = None
            for overlay, value in severity.items():
                if not _FACT_NAME.match(overlay):
                    self.error(
                        text,
                        rule.line_of("severity"),
                        rid,
                        f"severity: {overlay!r} is not an overlay name (lowercase letters, digits and _)",
                    )
                    continue
                if overlay == "default":
                    default = value
                else:
                    pairs.append((overlay, value))
            if default is not None:
                pairs.append(("*", default))
                said_any = " for default"
            elif "all" not in scope:
                missing = [s for s in scope if s not in dict(pairs)]
                if missing:
                    self.error(
                        text,
                        rule.line_of("severity"),
                        rid,
                        f"severity names no level for {', '.join(missing)} and has no default",
                    )
            else:
                self.error(
                    text,
                    rule.line_of("severity"),
                    rid,
                    "a per-payer severity needs a default for the other payers",
                )
        else:
            self.error(
                text,
                rule.line_of("severity"),
                rid,
                "severity must be a level or a table of levels per overlay",
            )
            return None
        for overlay, value in pairs:
            if value not in SEVERITIES:
                said = said_any if overlay == "*" else f" for {overlay}"
                self.error(
                    text,
                    rule.line_of("severity"),
                    rid,
                    f"severity {value!r}{said} is not one of {', '.join(SEVERITIES)}{_hint(str(value), SEVERITIES)}",
                )
        if "all" not in scope:
            for overlay, _ in pairs:
                if overlay != "*" and overlay not in scope:
                    self.error(
                        text,
                        rule.line_of("severity"),
                        rid,
                        f"severity names {overlay!r}, which is outside the rule's scope {scope}",
                    )
        if not isinstance(message, str) or not message.strip():
            self.error(
                text, rule.line_of("message"), rid, "message must be a non-empty template string"
            )
            return None
        if not self.check_length(text, rule.line_of("message"), rid, "message", message):
            return None
        try:
            parts = parse_template(message.strip(), env)
        except ExprError as exc:
            self.expr_errors(
                text,
                rule,
                "message",
                message,
                exc,
                "message: ",
                line=rule.line_of("message"),
                shift=len(message) - len(message.lstrip()),
            )
            return None
        return ir.FindingSpec(
            tuple(pairs), parts, payer_specific="all" not in scope or len(pairs) > 1
        )

    def examples(self, text: load.RulesetText, rule: load.RuleText) -> tuple[ir.Example, ...]:
        raw = rule.data.get("example", [])
        rid = rule.id
        if not isinstance(raw, list):
            self.error(text, rule.line, rid, "examples must be [[rule.example]] tables")
            return ()
        out = []
        for index, example in enumerate(raw):
            line = rule.example_lines[index] if index < len(rule.example_lines) else rule.line
            if not isinstance(example, dict):
                continue
            for key in sorted(set(example) - _EXAMPLE_KEYS):
                self.error(
                    text, line, rid, f"example: unknown key {key!r}{_hint(key, _EXAMPLE_KEYS)}"
                )
            name = example.get("name", f"example {index + 1}")
            if not isinstance(name, str):
                self.error(text, line, rid, "example name must be a string")
                continue
            if not self.check_length(text, line, rid, "example name", name):
                continue
            fires = example.get("fires")
            if not isinstance(fires, bool):
                self.error(text, line, rid, "example needs fires = true or fires = false")
                continue
            claim = self.example_claim(text, line, rid, example)
            if claim is None:
                continue
            expected_line = example.get("line")
            severity = example.get("severity")
            if expected_line is not None and not isinstance(expected_line, int):
                self.error(text, line, rid, "example line must be a line number")
            if severity is not None and severity not in SEVERITIES:
                self.error(
                    text, line, rid, f"example severity must be one of {', '.join(SEVERITIES)}"
                )
            out.append(ir.Example(str(name), claim, fires, expected_line, severity, line))
        return tuple(out)

    def example_claim(self, text, line, rid, example: dict[str, Any]) -> Any:
        if "claim" in example:
            claim = copy.deepcopy(example["claim"])
        else:
            base = example.get("base")
            if base not in text.claims:
                self.error(
                    text,
                    line,
                    rid,
                    f"example base {base!r} is not a claim in [claims]{_hint(str(base), list(text.claims))}",
                )
                return None
            claim = copy.deepcopy(text.claims[base])
        try:
            for path, value in (example.get("set") or {}).items():
                _patch(claim, path, copy.deepcopy(value))
            for path in example.get("unset") or []:
                _patch(claim, path, _UNSET)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            self.error(text, line, rid, f"example patch: {exc}")
            return None
        return claim  # TOML dates stay dates: the claim parser accepts datetime.date


_UNSET = object()
_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")


def _patch(data: Any, path: str, value: Any) -> None:
    """Set (or, with _UNSET, remove) ``path`` like ``lines[0].units`` inside ``data``."""
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
    if value is _UNSET:
        del target[last]
    elif isinstance(last, int) and isinstance(target, list) and last == len(target):
        target.append(value)
    else:
        target[last] = value


def _constant_size_problem(value: Any) -> str | None:
    """What makes a constant too large to accept, if anything."""
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_LIST_ITEMS:
        return f"a list of {len(items):,} items; at most {MAX_LIST_ITEMS:,}"
    for item in items:
        if isinstance(item, str) and len(item) > MAX_TEXT["string constant"]:
            return f"a string of {len(item):,} characters; at most {MAX_TEXT['string constant']:,}"
        if isinstance(item, int) and abs(item) >= 10**MAX_INT_DIGITS:
            return f"an integer of more than {MAX_INT_DIGITS} digits"
    return None


def _constant(value: Any) -> ir.Const | None:
    if isinstance(value, bool):
        return ir.Const(value, "bool")
    if isinstance(value, int):
        return ir.Const(value, "int")
    if isinstance(value, str):
        return ir.Const(value, "str")
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return ir.Const(value, "date")
    if isinstance(value, list) and value:
        items = [_constant(v) for v in value]
        kinds = {i.type for i in items if i is not None}
        if None in items or len(kinds) != 1 or kinds & {"bool"}:
            return None
        return ir.Const(tuple(i.value for i in items), f"set[{kinds.pop()}]")
    return None


def _is_code_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(c, str) for c in value)


def _flatten(expr: ir.Expr) -> list[ir.Expr]:
    if isinstance(expr, ir.BoolOp) and expr.op == "and":
        return [c for v in expr.values for c in _flatten(v)]
    return [expr]


def _message_exprs(finding: ir.FindingSpec | None) -> list[ir.Expr]:
    return [] if finding is None else [p for p in finding.message if not isinstance(p, str)]


def _mentions_unresolved(message: str, names: set[str]) -> bool:
    return any(
        f"unknown fact {n!r}" in message or f"no derived fact {n!r}" in message for n in names
    )


def _hint(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _stratify(
    rules: list[ir.Rule],
    facts: dict[str, ir.DerivedFact],
    problems: list[RulesetProblem],
    texts: dict[str, load.RulesetText],
) -> list[ir.Rule]:
    """stratum(rule) = 1 + the highest stratum of the rules deriving the facts it refers to."""
    by_id = {r.id: r for r in rules}
    memo: dict[str, int] = {}

    def stratum(rule: ir.Rule, trail: tuple[str, ...]) -> int:
        if rule.id in memo:
            return memo[rule.id]
        if rule.id in trail:
            raise _Cycle((*trail, rule.id))
        level = 0
        for fact in rule.depends:
            deriver = by_id.get(facts[fact].rule_id) if fact in facts else None
            if deriver is not None:
                level = max(level, 1 + stratum(deriver, (*trail, rule.id)))
        memo[rule.id] = level
        return level

    out = []
    for rule in rules:
        try:
            out.append(attrs.evolve(rule, stratum=stratum(rule, ())))
        except _Cycle as cycle:
            text = texts[rule.file]
            problems.append(
                text.problem(
                    rule.file_line,
                    rule.id,
                    f"derived facts form a cycle: {' -> '.join(cycle.trail)}",
                )
            )
    return out


class _Cycle(Exception):
    def __init__(self, trail: tuple[str, ...]) -> None:
        self.trail = trail


def compile_program(texts: Sequence[load.RulesetText]) -> ir.Program:
    """Compile already-read rulesets (in dependency order) into one Program."""
    compiler = _Compiler(texts)
    infos: dict[str, ir.RulesetInfo] = {}
    envs: dict[str, Env] = {}
    for text in texts:
        info = compiler.header(text)
        if info is not None:
            infos[text.file] = info
    if compiler.problems:
        raise RulesetError(compiler.problems)
    for text in texts:
        compiler.declare_facts(text, infos[text.file])
    # Constants are local to their file; facts are shared by every ruleset in the program.
    for text in texts:
        envs[text.file] = Env(
            schema.BASE_ROOTS, compiler.fact_fields, compiler.constants(text), compiler.fact_bounds
        )
    derived_exprs = compiler.type_fact_fields(envs)

    rules: list[ir.Rule] = []
    seen: dict[str, tuple[load.RulesetText, load.RuleText]] = {}
    for text in texts:
        for rule in text.rules:
            rid = rule.id
            if rid is not None and rid in seen:
                other_text, other = seen[rid]
                compiler.error(
                    text,
                    rule.line,
                    rid,
                    f"duplicate rule id {rid!r}: also defined at {other_text.file}:{other.line}",
                )
                continue
            if rid is not None:
                seen[rid] = (text, rule)
            compiled = compiler.rule(text, infos[text.file], rule, envs[text.file], derived_exprs)
            if compiled is not None:
                rules.append(compiled)
    by_file = {t.file: t for t in texts}
    rules = _stratify(rules, compiler.facts, compiler.problems, by_file)
    if compiler.problems:
        raise RulesetError(compiler.problems)
    file_order = {t.file: i for i, t in enumerate(texts)}
    rules.sort(key=lambda r: (r.stratum, file_order[r.file], r.file_line or 0))
    return ir.Program(
        rulesets=tuple(infos[t.file] for t in texts),
        facts=tuple(compiler.facts.values()),
        rules=tuple(rules),
    )
