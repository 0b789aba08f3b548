"""Stage 4, the engine: :class:`Engine` and :func:`evaluate`.

Building an Engine loads, validates and compiles the rulesets once, builds the chosen backend and
runs every ruleset's examples through it (a ruleset whose examples disagree with what it does is
refused with a :class:`RulesetError`). Evaluating a claim then only parses the claim, runs the
backend on a fresh :class:`~hcpcs_rules.facts.Facts` and assembles the :class:`Result`.

An Engine is immutable once built and may be shared by any number of threads.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from . import functions as _functions
from . import ir
from .backends import Backend, make_backend
from .claims import ClaimSchema, parse_claim_with
from .compile import compile_files
from .errors import (
    BackendError,
    ClaimError,
    EngineClosed,
    RuleExecutionError,
    RulesetError,
    RulesetProblem,
)
from .facts import Facts
from .failure import EvaluationFailure
from .limits import DEFAULT_LIMITS, Limits
from .model import (
    SEVERITY_RANK,
    STATUS_BY_RANK,
    Claim,
    Finding,
    LineResult,
    Provenance,
    Result,
    RulesetDigest,
)
from .policy import BoundPolicy, Policy, bind, load_policy
from .reader import DEFAULT_MAX_RECORD_BYTES, decode_claim
from .reasons import load_code_list
from .runtime import slot_builder

__all__ = [
    "CORE_PAYERS",
    "DEFAULT_BACKEND",
    "Engine",
    "EngineConfig",
    "evaluate",
    "evaluate_json",
    "reload_default_engine",
    "reset_default_engine",
]

#: The python backend is the default: proven identical to durable_rules (tests/test_differential.py),
#: 5-10x faster per claim, concurrent under threads, and it runs on every Python >= 3.11.
DEFAULT_BACKEND = "python"

#: The payers the claim contract names (docs/claim-format.md): Medicare fee-for-service, whose
#: name core's payer_scope tests, and the commercial payers the shipped rulesets have overlays
#: for. A claim naming any other payer is a ClaimError unless a ruleset or the engine's
#: ``payers`` adds it (see :attr:`Engine.payers`).
CORE_PAYERS = frozenset({"medicare", "aetna", "bcbs", "cigna", "uhc"})
# Lines of business, not payers (claims.py refuses them as a payer with its own message).
_NOT_PAYERS = frozenset({"medicare_advantage", "commercial"})


@attrs.frozen
class EngineConfig:
    """Everything an :class:`Engine` was built with, as picklable, hashable data.

    Worker processes of :func:`~hcpcs_rules.evaluate_many` rebuild the caller's engine from it
    (``config.build()``), so a new ``Engine.__init__`` parameter only needs a field here (same name,
    same default) and a line in ``Engine.__init__`` to reach the workers too.
    """

    rulesets: tuple[str | Path, ...] | None = None
    backend: str = "python"
    check_examples: bool = True
    limits: Limits = DEFAULT_LIMITS
    payers: tuple[str, ...] = ()
    #: ``Engine(functions=...)``'s providers (see :mod:`hcpcs_rules.registry`).
    functions: tuple[Any, ...] = ()
    policy: Policy | None = None
    #: ``Engine(reason_codes=...)``: a user's CARC/RARC list (a path), None for the shipped one.
    reason_codes: str | None = None

    def build(self, **overrides: Any) -> Engine:
        """A new Engine with this configuration (``overrides`` replace fields, by name)."""
        return Engine(**{**attrs.asdict(self, recurse=False), **overrides})


def _selection(rulesets: Any) -> Any:
    """The rulesets argument as a tuple of picklable items, read once (it may be a generator).

    A bare string or path is passed through so that compile_files refuses it as it always has.
    Other path-like objects become Paths: still paths for ``resolve``, and picklable.
    """
    if rulesets is None or isinstance(rulesets, str | os.PathLike):
        return rulesets
    return tuple(
        r if isinstance(r, str | Path) or not isinstance(r, os.PathLike) else Path(r)
        for r in rulesets
    )


class Engine:
    """Compiled rulesets plus a backend, ready to evaluate claims.

    ``rulesets``: installed ruleset names and/or paths to ``.toml`` files (default: every installed
    ruleset); rulesets they ``require`` are added. ``backend``: ``"python"`` (default) or
    ``"durable"`` (durable_rules; CPython 3.11/3.12 only).
    ``check_examples``: run every rule's examples at build time (default on).
    ``limits``: the bounds on each claim (:class:`~hcpcs_rules.limits.Limits`; default
    ``Limits()``); a claim beyond them is a :class:`ClaimError` naming the limit.
    ``payers``: payer names this engine accepts besides :attr:`payers` the rulesets know (a
    claim whose payer nobody knows is a :class:`ClaimError`).
    ``functions``: more condition functions for this Engine only: providers, each a callable
    taking a :class:`~hcpcs_rules.registry.FunctionTable` or its ``"module:callable"`` path
    (:mod:`hcpcs_rules.registry`). ``engine.functions`` is the table the Engine was built with.
    ``policy``: an organisation's select/ignore, severity overrides and payer mapping
    (:class:`~hcpcs_rules.policy.Policy`, a path to ``hcpcs-rules.toml`` or a ``pyproject.toml``
    with ``[tool.hcpcs-rules]``, or a dict; see docs/policy.md), checked against the rulesets
    here (:class:`~hcpcs_rules.policy.PolicyError`). None (default): the rulesets as written;
    the working directory is never consulted.
    ``reason_codes``: a CSV of CARCs and RARCs (``list,code,start,stop,description``) that
    replaces the shipped list the rules' ``reason_codes`` are checked against.

    After :meth:`close`, every evaluation raises :class:`~hcpcs_rules.errors.EngineClosed`.

    ``payers`` (attribute): every payer name a claim may give here (:func:`known_payers`).
    ``claim_schema``: how claims are read (:meth:`parse_claim`): the extension fields the
    rulesets declare, and those payers.
    """

    def __init__(
        self,
        rulesets: Iterable[str | os.PathLike[str]] | None = None,
        *,
        backend: str = DEFAULT_BACKEND,
        check_examples: bool = True,
        limits: Limits | None = None,
        payers: Iterable[str] = (),
        functions: Iterable[Any] = (),
        policy: Policy | str | os.PathLike[str] | Mapping[str, Any] | None = None,
        reason_codes: str | os.PathLike[str] | None = None,
    ) -> None:
        from .registry import build_functions  # the registry imports load, not the engine

        if limits is None:
            limits = DEFAULT_LIMITS
        elif type(limits) is not Limits:
            raise TypeError(f"limits must be a hcpcs_rules.Limits, not {type(limits).__name__}")
        self._closed = False
        rulesets = _selection(rulesets)
        extra_payers = _payer_names(payers)
        self.policy: Policy | None = load_policy(policy)
        self.config = EngineConfig(
            rulesets=rulesets if isinstance(rulesets, tuple) else None,
            backend=backend,
            check_examples=check_examples,
            limits=limits,
            payers=extra_payers,
            functions=tuple(functions),
            policy=self.policy,
            reason_codes=None if reason_codes is None else os.fspath(reason_codes),
        )
        self.functions = build_functions(rulesets, self.config.functions)
        # The compiler and code generator look functions up in the active table (functions.using):
        # this build's, not whatever another thread is building with. Generated code binds them.
        with _functions.using(self.functions):
            self._build(rulesets, backend, check_examples)
        self.limits = limits

    def _build(self, rulesets: Any, backend: str, check_examples: bool) -> None:
        # A user's full reason code list replaces the shipped one (docs/ruleset-format.md).
        codes = self.config.reason_codes
        self.program: ir.Program = compile_files(
            rulesets, None if codes is None else load_code_list(codes)
        )
        # A policy's mapped payer ids are payers too: a claim may name them.
        mapped = () if self.policy is None else tuple(name for name, _ in self.policy.payers)
        self.payers: frozenset[str] = known_payers(self.program, (*self.config.payers, *mapped))
        #: How this engine reads a claim: its rulesets' extension fields, and known payers.
        self.claim_schema = ClaimSchema(
            claim_extensions=tuple((n, t) for on, n, t in self.program.extensions if on == "claim"),
            line_extensions=tuple((n, t) for on, n, t in self.program.extensions if on == "line"),
            payers=self.payers,
        )
        # Checked before the backend is built: a policy naming no rule fails fast and cheaply.
        self._policy: BoundPolicy | None = (
            None if self.policy is None else bind(self.policy, self.program)
        )
        self.digests: tuple[RulesetDigest, ...] = _digests(self.program)
        self._provenance = Provenance(
            rulesets=self.digests,
            policy=None if self._policy is None else self._policy.digest,
        )
        self.backend: Backend = make_backend(backend, self.program)
        self.rulesets: tuple[str, ...] = tuple(r.label for r in self.program.rulesets)
        self._fact_names = tuple(f.name for f in self.program.facts)
        line_facts = [f for f in self.program.facts if f.per == "line"]
        self._mg_facts = tuple(f.name for f in line_facts if "dispensed_mg" in dict(f.fields))
        self._units_facts = tuple(f.name for f in line_facts if "expected_units" in dict(f.fields))
        # Claims evaluated without a trace: the backend's rules build the LineResults and
        # statuses as they go (the python backend's fused function), when it can; the engine's
        # policy is applied to that Result after (see evaluate).
        self._fast: Callable[[Facts], tuple[int, Any, tuple[LineResult, ...]]] | None = getattr(
            self.backend, "evaluate_result", None
        )
        # Examples are part of the ruleset, written against the documented default limits: the
        # engine's own limits (stricter, say) must not make a correct ruleset fail to build.
        self.limits: Limits = DEFAULT_LIMITS
        if check_examples:
            try:
                check_examples_of(self)
            except BaseException:
                self.backend.close()  # a refused build frees durable_rules' ruleset at once
                raise

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def parse_claim(self, claim: Mapping[str, Any] | Claim) -> Claim:
        """Read ``claim`` as this engine does before evaluating it, or raise :class:`ClaimError`.

        Like :func:`hcpcs_rules.parse_claim`, within this engine's limits, and also: the
        ``extensions`` of the claim and its lines may hold the fields its rulesets declare (any
        other is a ClaimError with its path), and the payer must be one of :attr:`payers`. A claim
        this engine parsed is evaluated without being read again; a ``Claim`` read for another
        engine is read again, field by field, against this one's declarations.
        """
        return parse_claim_with(claim, self.limits, self.claim_schema)

    def evaluate(self, claim: Mapping[str, Any] | Claim, *, explain: bool = False) -> Result:
        """Check one claim. Raises :class:`ClaimError` if it does not fit the input shape or the
        engine's limits, :class:`~hcpcs_rules.errors.EngineClosed` once the engine is closed."""
        fast = self._fast
        if fast is None or explain:
            return self._evaluate(claim, explain, self._policy)
        # _evaluate and _result without a policy, the Result's lines and statuses built by the
        # fused rules: what most calls are, with one call layer and one pass less.
        if self._closed:
            raise EngineClosed("this Engine was closed; build a new one to evaluate claims")
        typed = parse_claim_with(claim, self.limits, self.claim_schema)
        policy = self._policy
        if policy is not None:
            return self._fast_with_policy(typed, policy, fast)
        facts = Facts(typed, self._fact_names, False)
        worst, overlay, lines = fast(facts)
        findings = facts.findings
        if not facts.ordered:
            findings.sort(key=_finding_order)
        # No trace, nothing ignored: those fields keep their defaults.
        values = (
            typed.id,
            STATUS_BY_RANK[worst],
            tuple(findings),
            lines,
            self.rulesets,
            self._provenance,
            typed.payer,
            overlay,
        )
        if _RESULT is not None:
            return _RESULT(*values)
        return Result(**dict(zip(_RESULT_ARGS, values, strict=True)))

    def _fast_with_policy(
        self,
        typed: Claim,
        policy: BoundPolicy,
        fast: Callable[[Facts], tuple[int, Any, tuple[LineResult, ...]]],
    ) -> Result:
        """The one-pass Result with the engine's policy applied after: what :meth:`_result`
        gives for the same claim, without its second pass over the derived facts. A policy
        that changes no finding of the claim leaves the statuses the rules computed; one that
        does gives the claim and the lines it touched their statuses from what remains."""
        mapping = None
        if policy.payers:
            typed, mapping = policy.map_claim(typed)
        facts = Facts(typed, self._fact_names, False)
        worst, overlay, lines = fast(facts)
        findings = facts.findings
        if not facts.ordered:
            findings.sort(key=_finding_order)
        scope = facts.derived.get(ir.SCOPE_FACT, {}).get(0) or {}
        kept, ignored = policy.apply(findings, overlay, scope.get("program"))
        # Unchanged findings are the same objects: the list comparison is identity, in C.
        if ignored or kept != findings:
            worst, lines = _statuses(kept, lines)
        values = (
            typed.id,
            STATUS_BY_RANK[worst],
            tuple(kept),
            lines,
            self.rulesets,
            self._provenance_of(policy, mapping),
            typed.payer if mapping is None else mapping[0],
            overlay,
            tuple(ignored),
        )
        if _RESULT_IGNORED is not None:
            return _RESULT_IGNORED(*values)
        return Result(**dict(zip((*_RESULT_ARGS, "ignored"), values, strict=True)))

    def evaluate_json(
        self,
        text: str | bytes,
        *,
        explain: bool = False,
        max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> Result:
        """Check one claim given as JSON text (``str``, or UTF-8 ``bytes`` as a request body
        holds it), decoded as ``hcpcs-rules check`` decodes a record.

        Raises :class:`ClaimError` for text that is not a claim: at ``$`` when it is not UTF-8
        JSON (invalid bytes, a byte order mark, bad syntax, more than ``max_bytes`` bytes), at
        the value's path for duplicate keys, integers of over 100 digits, nesting deeper than 64
        levels, floats and everything :meth:`evaluate` refuses. The same ClaimErrors as the
        command gives for the same text. Uses msgspec when installed (the ``fast`` extra), with
        identical results.
        """
        return self.evaluate(decode_claim(text, max_bytes=max_bytes), explain=explain)

    def _evaluate(
        self,
        claim: Mapping[str, Any] | Claim,
        explain: bool,
        policy: BoundPolicy | None,
    ) -> Result:
        """Evaluate under ``policy`` (None: the rulesets as written, as examples are checked)."""
        if self._closed:
            raise EngineClosed("this Engine was closed; build a new one to evaluate claims")
        schema = self.claim_schema
        if policy is not None and policy is not self._policy and policy.payers:
            # A policy given per call (evaluate(..., policy=)) maps payer ids this engine was not
            # built with: a claim may name them.
            known = (schema.payers or frozenset()) | frozenset(policy.payers)
            schema = attrs.evolve(schema, payers=known)
        typed = parse_claim_with(claim, self.limits, schema)
        mapping = None
        if policy is not None and policy.payers:
            typed, mapping = policy.map_claim(typed)
        facts = Facts(typed, self._fact_names, explain)
        self.backend.evaluate(facts)
        return self._result(typed, facts, policy, mapping)

    def evaluate_many(
        self, claims: Iterable[Any], *, explain: bool = False
    ) -> Iterator[Result | ClaimError | EvaluationFailure]:
        """Evaluate claims lazily, in order, in this process; an invalid claim yields its
        ClaimError in place, a claim whose evaluation failed its EvaluationFailure.

        The same as ``hcpcs_rules.evaluate_many(claims, engine=self)`` with one worker (the
        batch module, which imports this one, adds worker processes).
        """
        for index, claim in enumerate(claims):
            yield evaluate_outcome(self, claim, explain, index)

    def dump(self, what: str = "ir") -> str:
        """The compiled artefacts as text: ``"ir"``, or ``"backend"`` (durable JSON / Python source)."""
        if what == "ir":
            return self.program.dump()
        if what in ("backend", self.backend.name):
            return self.backend.dump()
        raise ValueError(f"nothing to dump named {what!r}; use 'ir' or 'backend'")

    def close(self) -> None:
        """Release the backend's resources now (durable_rules' C ruleset); idempotent.

        Evaluations running in other threads finish first; later ones raise EngineClosed.
        """
        self._closed = True
        self.backend.close()

    def _result(
        self,
        claim: Claim,
        f: Facts,
        policy: BoundPolicy | None = None,
        mapping: tuple[str, str] | None = None,
    ) -> Result:
        findings = f.findings
        if not f.ordered:
            findings.sort(key=_finding_order)
        ignored: list[Finding] = []
        trace = tuple(f.trace) if f.trace is not None else ()
        scope = f.derived.get(ir.SCOPE_FACT, {}).get(0) or {}
        overlay, program = scope.get("overlay"), scope.get("program")
        if policy is not None:
            findings, ignored = policy.apply(findings, overlay, program)
            if trace:
                trace = policy.apply_trace(trace, overlay, program)
        worst, worst_by_line = _worst_ranks(findings)
        derived = f.derived
        lines = []
        for n, line in enumerate(claim.lines, start=1):
            # dispensed_mg / expected_units come from whichever per-line facts derive them.
            dispensed_mg = expected_units = None
            for fact in self._mg_facts:
                fields = derived[fact].get(n)
                if fields is not None:
                    dispensed_mg = fields["dispensed_mg"]
            for fact in self._units_facts:
                fields = derived[fact].get(n)
                if fields is not None:
                    expected_units = fields["expected_units"]
            lines.append(
                LineResult(
                    line=n,
                    hcpcs=line.hcpcs,
                    billed_units=line.units,
                    dispensed_mg=dispensed_mg,
                    expected_units=expected_units,
                    status=STATUS_BY_RANK[worst_by_line.get(n, 0)],
                    date_of_service=line.date_of_service or claim.date_of_service,
                )
            )
        return Result(
            claim_id=claim.id,
            status=STATUS_BY_RANK[worst],
            findings=tuple(findings),
            lines=tuple(lines),
            rulesets=self.rulesets,
            trace=trace,
            provenance=self._provenance_of(policy, mapping),
            ignored=tuple(ignored),
            payer=claim.payer if mapping is None else mapping[0],
            overlay=overlay,
        )

    def _provenance_of(
        self, policy: BoundPolicy | None, mapping: tuple[str, str] | None
    ) -> Provenance:
        if policy is self._policy and mapping is None:
            return self._provenance  # the common case: one value per Engine
        return Provenance(
            rulesets=self.digests,
            policy=None if policy is None else policy.digest,
            payer_mapping=mapping,
        )


def _digests(program: ir.Program) -> tuple[RulesetDigest, ...]:
    """Each ruleset's name, version and the sha256 of its file, read once per Engine."""
    out = []
    for info in program.rulesets:
        try:
            data = Path(info.file).read_bytes()
        except OSError as exc:  # removed between compiling and hashing: not what was compiled
            raise RulesetError(
                [RulesetProblem(info.file, None, None, f"cannot read to hash it: {exc}")]
            ) from None
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        out.append(RulesetDigest(name=info.name, version=info.version, sha256=digest))
    return tuple(out)


def known_payers(program: ir.Program, extra: Iterable[str] = ()) -> frozenset[str]:
    """The payers a claim may name on an engine of ``program``: the contract's
    (:data:`CORE_PAYERS`), those its rulesets declare (``Program.payers``, where present) and
    ``extra`` (the engine's ``payers``: a policy's payer mapping, say). The one place the set is
    made."""
    return CORE_PAYERS | frozenset(getattr(program, "payers", ())) | frozenset(extra)


def _payer_names(payers: Any) -> tuple[str, ...]:
    """``payers`` as a sorted tuple of names, or TypeError/ValueError saying what is wrong."""
    if isinstance(payers, str | bytes) or not isinstance(payers, Iterable):
        raise TypeError(f"payers must be a list of payer names, not {type(payers).__name__}")
    names = tuple(payers)
    for name in names:
        if type(name) is not str or not name.strip() or len(name) > 64:
            raise ValueError(f"payers: {name!r} is not a payer name (a non-blank string)")
        if name in _NOT_PAYERS:
            raise ValueError(f"payers: {name!r} is a line of business, not a payer")
    return tuple(sorted(set(names)))


def evaluate_outcome(
    engine: Engine, claim: Any, explain: bool, index: int
) -> Result | ClaimError | EvaluationFailure:
    """One claim of a batch (``index``: its position) as a value: its Result, its ClaimError, or
    the EvaluationFailure of evaluating it. Never raises for a claim."""
    try:
        return engine.evaluate(claim, explain=explain)
    except ClaimError as exc:
        return exc
    # Anything else is the library's (or a plugin's) failure on this claim, not the batch's.
    except Exception as exc:
        return EvaluationFailure.from_exception(index, claim, exc)


#: What Engine.evaluate's one-pass Result passes to :data:`_RESULT`, in this order.
_RESULT_ARGS = (
    "claim_id",
    "status",
    "findings",
    "lines",
    "rulesets",
    "provenance",
    "payer",
    "overlay",
)
#: The Result built by setting its slots (None if its __init__ ever does more; see slot_builder).
_RESULT = slot_builder(Result, _RESULT_ARGS)
#: The same with the findings a policy ignored.
_RESULT_IGNORED = slot_builder(Result, (*_RESULT_ARGS, "ignored"))


def _worst_ranks(findings: list[Finding]) -> tuple[int, dict[int, int]]:
    """The worst severity rank of ``findings``, for the claim and for each line that has one
    (info ranks as clean)."""
    worst = 0
    by_line: dict[int, int] = {}
    for finding in findings:
        rank = SEVERITY_RANK[finding.severity]
        if rank > worst:
            worst = rank
        if finding.line is not None and rank > by_line.get(finding.line, 0):
            by_line[finding.line] = rank
    return worst, by_line


def _statuses(
    findings: list[Finding], lines: tuple[LineResult, ...]
) -> tuple[int, tuple[LineResult, ...]]:
    """The claim's worst rank and its lines with their statuses, from ``findings`` (a policy's
    kept findings): as :meth:`Engine._result` computes them, each line rebuilt only if its
    status changed."""
    worst, by_line = _worst_ranks(findings)
    out = []
    for line in lines:
        status = STATUS_BY_RANK[by_line.get(line.line, 0)]
        out.append(line if line.status == status else attrs.evolve(line, status=status))
    return worst, tuple(out)


def _finding_order(finding: Finding) -> tuple[int, str]:
    return (0 if finding.line is None else finding.line, finding.rule_id)


def check_examples_of(engine: Engine) -> None:
    """Run every rule's examples; raise RulesetError listing each one that disagrees.

    Finding rules must have at least one example that fires and one near miss that does not.

    Cost: each example runs only the rule it belongs to plus the rules deriving the facts that
    rule depends on (see :meth:`_Closures.closure`), on backends that can run a subset of the program
    (python). Checking is then linear in rules plus examples instead of their product. The
    durable backend runs each example through its whole network.
    """
    problems: list[RulesetProblem] = []
    closures = _Closures(engine)
    failed: set[str] = set()  # rules that raised: reported once, on the rule that raised
    for rule in engine.program.rules:
        if rule.finding is not None and not (
            any(e.fires for e in rule.examples) and any(not e.fires for e in rule.examples)
        ):
            problems.append(
                RulesetProblem(
                    rule.file,
                    rule.file_line,
                    rule.id,
                    "every rule that emits findings needs an example that fires it and a near miss that does not",
                )
            )
        evaluate = closures.evaluator(rule) if rule.examples else None
        for example in rule.examples:
            try:
                outcome = _outcome(engine, rule, example, evaluate)
                if outcome is not None and evaluate is not None:
                    # Same verdict by construction; the whole program says what else the claim
                    # got, as the message always has.
                    outcome = _outcome(engine, rule, example, None)
            except RuleExecutionError as exc:
                # A rule raising on an example claim is a broken ruleset (or plugin function):
                # say so with the other problems, once, on the rule that raised.
                # Reported where the example is written (the claim that made it raise), naming
                # the rule that raised and where that rule is.
                if exc.rule_id not in failed:
                    failed.add(exc.rule_id)
                    culprit = closures.by_id.get(exc.rule_id, rule)
                    cause = exc.__cause__ if exc.__cause__ is not None else exc
                    at = (
                        f"{culprit.file}:{culprit.file_line}" if culprit.file_line else culprit.file
                    )
                    problems.append(
                        RulesetProblem(
                            rule.file,
                            example.file_line,
                            culprit.id,
                            f"rule {culprit.id} ({at}) raised {type(cause).__name__}: {cause} "
                            f"while running example {example.name!r} of {rule.id}"
                            + _function_hint(culprit, engine.functions),
                        )
                    )
                continue
            except BackendError as exc:
                # The engine underneath failed, not a rule: once is enough to refuse the build
                # (the other examples' verdicts are unknown, and the same failure would repeat).
                if "<backend>" in failed:
                    continue
                failed.add("<backend>")
                outcome = f"evaluating the example failed: {exc}"
            if outcome is not None:
                problems.append(
                    RulesetProblem(
                        rule.file,
                        example.file_line,
                        rule.id,
                        f"example {example.name!r}: {outcome}",
                    )
                )
    if problems:
        raise RulesetError(problems)


def _function_hint(rule: ir.Rule, table: Mapping[str, Any]) -> str:
    """Which plugin functions the rule calls (from the Engine's table), and whose they are: the
    usual suspects when a rule raises."""
    exprs = [*rule.conjuncts, *(e for _, e in rule.derive_fields)]
    called = sorted({n.name for e in exprs for n in ir.walk(e) if isinstance(n, ir.Call)})
    plugins = [
        f"{name} (from {table[name].origin})"
        for name in called
        if name in table and table[name].origin != _functions.BUILTIN_ORIGIN
    ]
    return f"; the plugin functions it calls: {', '.join(plugins)}" if plugins else ""


class _Closures:
    """Per-closure evaluators for example checks, built once per distinct closure."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.subset = getattr(engine.backend, "subset", None)
        self.by_id = {r.id: r for r in engine.program.rules}
        self.deriver = {f.name: f.rule_id for f in engine.program.facts}
        self.cache: dict[frozenset[str], Callable[[Facts], None]] = {}

    def closure(self, rule: ir.Rule) -> frozenset[str]:
        """The rule and every rule deriving a fact it depends on, transitively (no recursion)."""
        seen = {rule.id}
        stack = [rule]
        while stack:
            for fact in stack.pop().depends:
                deriver = self.by_id.get(self.deriver.get(fact, ""))
                if deriver is not None and deriver.id not in seen:
                    seen.add(deriver.id)
                    stack.append(deriver)
        return frozenset(seen)

    def evaluator(self, rule: ir.Rule) -> Callable[[Facts], None] | None:
        if self.subset is None:
            return None
        key = self.closure(rule)
        if key not in self.cache:
            self.cache[key] = self.subset(key)
        return self.cache[key]


def run_example(
    engine: Engine,
    rule: ir.Rule,
    example: ir.Example,
    *,
    evaluate: Callable[[Facts], None] | None = None,
) -> str | None:
    """None when the example behaves as it says, else what went wrong.

    ``evaluate``: run the claim's facts through this instead of the whole backend (a subset
    holding the rule and what it depends on; see :func:`check_examples_of`).
    """
    try:
        return _outcome(engine, rule, example, evaluate)
    except (RuleExecutionError, BackendError) as exc:
        return f"evaluating the example failed: {exc}"


def _outcome(
    engine: Engine,
    rule: ir.Rule,
    example: ir.Example,
    evaluate: Callable[[Facts], None] | None,
) -> str | None:
    try:
        # Examples say what the rulesets do as written: never under the engine's policy.
        if evaluate is None:
            result = engine._evaluate(example.claim, True, None)
        else:
            typed = engine.parse_claim(example.claim)
            facts = Facts(typed, engine._fact_names, True)
            evaluate(facts)
            result = engine._result(typed, facts)
    except ClaimError as exc:
        return f"the example claim is not a valid claim: {exc}"
    if rule.finding is not None:
        hits = [x for x in result.findings if x.rule_id == rule.id]
        if example.line is not None:
            hits = [x for x in hits if x.line == example.line]
    else:
        hits = [s for s in result.trace if s.rule_id == rule.id]
    if example.fires and not hits:
        where = f" on line {example.line}" if example.line is not None else ""
        got = ", ".join(sorted({x.rule_id for x in result.findings})) or "nothing"
        return f"expected the rule to fire{where}, it did not (the claim got: {got})"
    if not example.fires and hits:
        return f"expected the rule not to fire, it did: {hits[0]}"
    if example.fires and example.severity is not None and rule.finding is not None:
        severities = {x.severity for x in hits}
        if example.severity not in severities:
            return f"expected severity {example.severity}, got {', '.join(sorted(severities))}"
    return None


_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The process-wide engine :func:`evaluate` uses, built on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Engine()
    return _default


def reset_default_engine() -> None:
    """Forget the default engine: the next :func:`evaluate` builds a new one over what is
    installed then. Evaluations already running finish on the engine they started with."""
    global _default
    with _default_lock:
        _default = None


def reload_default_engine(**engine_args: Any) -> Engine:
    """Build a new default engine now (``engine_args``: :class:`Engine`'s) and make it the one
    :func:`evaluate` uses; returns it. If the build fails, the current default engine stays and
    the error is raised. Evaluations already running finish on the engine they started with."""
    global _default
    new = Engine(**engine_args)  # built outside the lock: evaluate() never waits on a build
    with _default_lock:
        _default = new
    return new


def evaluate(
    claim: Mapping[str, Any] | Claim,
    *,
    explain: bool = False,
    policy: Policy | str | os.PathLike[str] | Mapping[str, Any] | None = None,
) -> Result:
    """Check one claim against every installed ruleset (see :class:`Engine`).

    ``policy`` (as ``Engine(policy=...)`` takes it) is read and checked against the default
    engine's rulesets on every call; a service applying one policy to many claims should build
    ``Engine(policy=...)`` once instead.
    """
    if policy is None:
        return default_engine().evaluate(claim, explain=explain)
    engine = default_engine()
    bound = bind(load_policy(policy), engine.program)  # type: ignore[arg-type]
    return engine._evaluate(claim, explain, bound)


def evaluate_json(
    text: str | bytes,
    *,
    explain: bool = False,
    policy: Policy | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Result:
    """Check one claim given as JSON text against every installed ruleset: :func:`evaluate`
    after decoding as :meth:`Engine.evaluate_json` does (a :class:`ClaimError` for text that is
    not a claim)."""
    return evaluate(decode_claim(text, max_bytes=max_bytes), explain=explain, policy=policy)


# Re-exported for callers that catch them from here.
__all__ += ["ClaimError", "EngineClosed", "RulesetError"]
