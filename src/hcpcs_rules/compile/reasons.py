"""Part of pass 4, lower: a rule's ``reason_codes`` (the payer answer its findings suggest)
into :attr:`hcpcs_rules.ir.FindingSpec.reasons`.

Written either payer-neutral::

    reason_codes = { group = "CO", carc = "16", rarc = ["M53"], source = "RARC M53 text" }

or per overlay (as ``severity``), each overlay one choice or a list of choices tried in order,
where a choice may have a ``when`` condition and the last one may not::

    [rule.reason_codes]
    source = "LCD L33370; ..."            # for every choice that does not give its own
    medicare = [
      { when = "'GA' in line.modifiers", group = "PR", carc = "50" },
      { group = "CO", carc = "50", rarc = ["N115"] },
    ]
    default = { group = "CO", carc = "50" }

Every code is checked against the build's code list (:mod:`hcpcs_rules.reasons`): unknown codes,
and codes stopped before the ruleset's ``released`` date, are refused here, at the rule.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .. import ir
from ..expr import ExprError, parse_expr
from ..reasons import GROUP_CODES, CodeList
from .context import FACT_NAME, hint
from .state import Build, RuleWork
from .typecheck import _flatten, _rule_env

KEY = "reason_codes"
_CHOICE_KEYS = ("when", "group", "carc", "rarc", "source")
#: At most this many remark codes per choice (an 835's LQ / MOA room is the practical bound).
MAX_RARCS = 5
_MAX_CHOICES = 20


def lower_reasons(
    build: Build,
    work: RuleWork,
    scope: list[str],
    known: frozenset[str] | None,
    reads: set[str],
) -> tuple[tuple[tuple[str, tuple[ir.ReasonChoice, ...]], ...], set[str]]:
    """The rule's reason choices per overlay, and the derived facts their conditions test with
    ``exists()`` (the caller adds them to the rule's dependencies). Problems are reported on the
    rule's ``where``; an unusable table gives no choices."""
    where = work.where
    written = work.rule.data.get(KEY)
    if written is None:
        return (), set()
    if not isinstance(written, dict) or not written:
        where.error(
            f"{KEY} must be a table: {{ group = ..., carc = ..., rarc = [...], source = ... }}"
            " or one entry per overlay (see docs/ruleset-format.md)",
            key=KEY,
        )
        return (), set()
    state = _State(build, work, reads)
    if {"group", "carc"} & set(written):
        choice = state.choice(written, "", None, last=True)
        pairs = [] if choice is None else [("*", (choice,))]
    else:
        pairs = state.per_overlay(written, scope, known)
    state.check_dates()
    return tuple(pairs), state.tested


class _State:
    def __init__(self, build: Build, work: RuleWork, reads: set[str]) -> None:
        self.build, self.work, self.where = build, work, work.where
        self.reads = reads
        self.codes: CodeList = build.code_list
        self.tests = 0
        self.tested: set[str] = set()
        self.cited: list[tuple[str, str, str]] = []  # (list, code, what) for the date check

    def line(self, overlay: str) -> int | None:
        """The line where ``overlay = ...`` is written inside ``[rule.reason_codes]``, else the
        key's line."""
        start = self.where.line(KEY)
        if overlay and start is not None:
            pattern = re.compile(rf"\s*{re.escape(overlay)}\s*=")
            lines = self.where.text.lines
            for number in range(start, min(len(lines), start + 200)):
                text = lines[number]
                if text.lstrip().startswith("["):
                    break
                if pattern.match(text):
                    return number + 1
        return start

    def error(self, message: str, overlay: str = "") -> None:
        self.where.error(f"{KEY}: {message}", line=self.line(overlay))

    def per_overlay(
        self, written: dict[str, Any], scope: list[str], known: frozenset[str] | None
    ) -> list[tuple[str, tuple[ir.ReasonChoice, ...]]]:
        source = written.get("source")
        if source is not None and (not isinstance(source, str) or not source.strip()):
            self.error("source must be a non-empty string", "source")
            source = None
        pairs: list[tuple[str, tuple[ir.ReasonChoice, ...]]] = []
        default = None
        for overlay, value in written.items():
            if overlay == "source":
                continue
            if not FACT_NAME.match(overlay):
                self.error(
                    f"{overlay!r} is neither a choice key ({', '.join(_CHOICE_KEYS)}) nor an"
                    " overlay name",
                    overlay,
                )
                continue
            if overlay != "default" and known is not None and overlay not in known:
                self.error(
                    f"unknown overlay {overlay!r}{hint(overlay, sorted(known))} (a program, or"
                    " a payer declared in [ruleset] payers of this ruleset or one it requires)",
                    overlay,
                )
                continue
            if overlay != "default" and "all" not in scope and overlay not in scope:
                self.error(f"names {overlay!r}, which is outside the rule's scope {scope}", overlay)
                continue
            items = value if isinstance(value, list) else [value]
            if not items or len(items) > _MAX_CHOICES:
                self.error(f"{overlay}: give 1 to {_MAX_CHOICES} choices", overlay)
                continue
            choices = []
            for i, item in enumerate(items):
                choice = self.choice(item, overlay, source, last=i == len(items) - 1)
                if choice is not None:
                    choices.append(choice)
            if len(choices) != len(items):
                continue
            if overlay == "default":
                default = tuple(choices)
            else:
                pairs.append((overlay, tuple(choices)))
        if default is not None:
            pairs.append(("*", default))
        elif "all" in scope:
            self.error("a per-overlay table needs a default for the other payers")
        else:
            missing = [s for s in scope if s not in dict(pairs)]
            if missing:
                self.error(f"names no codes for {', '.join(missing)} and has no default")
        return pairs

    def choice(
        self, item: Any, overlay: str, source: str | None, *, last: bool
    ) -> ir.ReasonChoice | None:
        said = f"{overlay}: " if overlay and overlay != "" else ""
        if not isinstance(item, dict):
            self.error(
                f"{said}a choice must be a table {{ group = ..., carc = ..., ... }}", overlay
            )
            return None
        unknown = sorted(set(item) - set(_CHOICE_KEYS))
        for name in unknown:
            self.error(f"{said}unknown key {name!r}{hint(name, list(_CHOICE_KEYS))}", overlay)
        group, carc = item.get("group"), item.get("carc")
        rarc = item.get("rarc", [])
        ok = not unknown
        if not isinstance(group, str) or group not in GROUP_CODES:
            self.error(
                f"{said}group must be one of {', '.join(GROUP_CODES)}, not {group!r}", overlay
            )
            ok = False
        if not isinstance(carc, str) or not carc:
            self.error(f'{said}carc must be a code string, e.g. carc = "16"', overlay)
            ok = False
        elif not self.known("carc", carc, said, overlay):
            ok = False
        if (
            not isinstance(rarc, list)
            or len(rarc) > MAX_RARCS
            or not all(isinstance(r, str) and r for r in rarc)
        ):
            self.error(
                f'{said}rarc must be a list of at most {MAX_RARCS} code strings, e.g. rarc = ["M53"]',
                overlay,
            )
            ok = False
        else:
            for code in rarc:
                ok = self.known("rarc", code, said, overlay) and ok
            if len(set(rarc)) != len(rarc):
                self.error(f"{said}rarc lists a code twice", overlay)
                ok = False
        own = item.get("source")
        if own is not None and (not isinstance(own, str) or not own.strip()):
            self.error(f"{said}source must be a non-empty string", overlay)
            ok = False
        chosen = own if isinstance(own, str) else source
        if ok and chosen is None:
            self.error(
                f"{said}needs a source: where the code choice comes from (source = ...)", overlay
            )
            ok = False
        when = item.get("when")
        conjuncts: tuple[ir.Expr, ...] = ()
        if when is not None:
            if last:
                self.error(
                    f"{said}the last choice must have no 'when': it is what applies otherwise",
                    overlay,
                )
                ok = False
            elif not isinstance(when, str) or not when.strip():
                self.error(f"{said}when must be a condition string", overlay)
                ok = False
            else:
                conjuncts = self.condition(when, said, overlay)
                ok = ok and bool(conjuncts)
        elif not last:
            self.error(
                f"{said}only the last choice may go without a 'when' (later ones could never apply)",
                overlay,
            )
            ok = False
        if not ok:
            return None
        test = -1
        if conjuncts:
            test, self.tests = self.tests, self.tests + 1
        return ir.ReasonChoice(
            group=group,
            carc=carc,
            rarc=tuple(rarc),
            source=chosen.strip(),  # type: ignore[union-attr]
            when=conjuncts,
            test=test,
            when_text=when.strip() if isinstance(when, str) else None,
        )

    def known(self, kind: str, code: str, said: str, overlay: str) -> bool:
        if self.codes.get(kind, code) is None:
            self.error(
                f"{said}unknown {kind.upper()} {code!r}{hint(code, self.codes.names(kind))}"
                f" (not in the reason code list {self.codes.origin})",
                overlay,
            )
            return False
        self.cited.append((kind, code, overlay))
        return True

    def condition(self, when: str, said: str, overlay: str) -> tuple[ir.Expr, ...]:
        env = _rule_env(self.build, self.work)
        try:
            expr = parse_expr(when, env)
        except ExprError as exc:
            for problem in exc.problems:
                at = "" if problem.column is None else f" (at column {problem.column} of the text)"
                self.error(f"{said}when: {problem.message}{at}", overlay)
            return ()
        for node in ir.walk(expr):
            if isinstance(node, ir.Path) and node.derived and node.root not in self.reads:
                # The rule does not join this fact, so it may be missing when the rule fires;
                # reading it would be a crash, not a condition.
                self.error(
                    f"{said}when reads the fact {node.root!r}, which the rule's own condition"
                    " does not read: test it with exists() or read it in 'when' too",
                    overlay,
                )
                return ()
            if isinstance(node, ir.Exists):
                self.tested.add(node.fact)
        return tuple(_flatten(expr))

    def check_dates(self) -> None:
        """Refuse codes stopped before the ruleset's release date (which must be given)."""
        if not self.cited:
            return
        released = self.where.text.header.get("released")
        if not isinstance(released, dt.date) or isinstance(released, dt.datetime):
            self.error(
                "a ruleset whose rules cite reason codes needs a release date in its header"
                " ([ruleset] released = 2026-07-01), against which the codes' stop dates are"
                " checked"
            )
            return
        for kind, code, overlay in self.cited:
            entry = self.codes.get(kind, code)
            assert entry is not None
            if entry.stop is not None and entry.stop < released:
                self.error(
                    f"{kind.upper()} {code!r} stopped on {entry.stop}, before the ruleset's"
                    f" release date {released} (reason code list {self.codes.origin})",
                    overlay,
                )
