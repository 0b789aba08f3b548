"""The registry of named functions a ruleset condition may call.

A ruleset file cannot run code: the only calls it can make are to the functions registered here,
each with a declared signature that the compiler type-checks. Every function must accept missing
values (``None``) for any argument and answer without raising: a claim with a missing field is an
ordinary claim, and rules decide what a missing value means.

Which functions an Engine may call is decided when it is built (:mod:`hcpcs_rules.registry`): the
built-ins below, those registered process-wide with :func:`register` (the way plugins have always
done it, at import), the ``hcpcs_rules.functions`` entry points of the rulesets it selects, and the
providers given to ``Engine(functions=...)``. While an Engine is being built its table is the
*active* one (:func:`using`), and :data:`FUNCTIONS` reads it: the compiler and the code generator
look functions up through :data:`FUNCTIONS`, so two Engines can be built with different functions,
even at the same time in two threads. Generated code binds each function when it is built, so a
later registration never changes an Engine that already exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from string import Formatter
from typing import Any

import attrs

from . import tables, units, vocab
from .limits import CEILING_COUNT, CEILING_DECIMAL_PLACES, CEILING_INTEGER_DIGITS
from .model import Dispensed, Enrollment
from .regex import compile_pattern, fullmatch
from .units import EXACT_CONTEXT

__all__ = [
    "BUILTIN_ORIGIN",
    "CLAIM_BOUND",
    "COUNT_BOUND",
    "FUNCTIONS",
    "Bound",
    "Function",
    "make_function",
    "process_functions",
    "register",
    "unregister",
    "using",
]

#: The origin of the functions defined in this module.
BUILTIN_ORIGIN = "hcpcs_rules (built-in)"

#: Digits a number can need: (before the decimal point, after it). The compiler adds these up
#: through arithmetic and refuses any expression that could outgrow exact arithmetic's precision
#: (:data:`hcpcs_rules.units.EXACT_CONTEXT`, 60 digits).
Bound = tuple[int, int]
#: A claim's decimals: under 10**12, at most 6 decimal places (the ceilings every Limits keeps).
CLAIM_BOUND: Bound = (CEILING_INTEGER_DIGITS, CEILING_DECIMAL_PLACES)
#: A claim's counts: at most 1,000,000.
COUNT_BOUND: Bound = (len(str(CEILING_COUNT)), 0)
#: A count of things held in memory (items, words): under 10**10.
_SIZE_BOUND: Bound = (10, 0)


def _widest(args: Sequence[Bound]) -> Bound:
    return (max((a[0] for a in args), default=0), max((a[1] for a in args), default=0))


def _quotient(args: Sequence[Bound]) -> Bound:
    # a / b rounded up: b >= 10**-F(b) when b is positive, so the quotient is at most
    # a * 10**F(b), plus one for rounding up; it is a whole number.
    (ai, _af), (_bi, bf) = args
    return (ai + bf + 1, 0)


@attrs.frozen
class Function:
    name: str
    params: tuple[str, ...]  # schema types; "any" accepts anything
    returns: str  # a schema type; "$same": the arguments' type; "$number": int unless a decimal
    impl: Callable[..., Any]
    doc: str
    #: Indexes of parameters that must be constants (compiled once, e.g. a regex pattern).
    constant_params: tuple[int, ...] = ()
    #: For a numeric result, the most digits it can have: a fixed :data:`Bound`, or a callable
    #: from the arguments' bounds to the result's. None (a plugin that declares nothing): a
    #: claim value's bound, :data:`CLAIM_BOUND`.
    bound: Bound | Callable[[Sequence[Bound]], Bound] | None = None
    #: How generated code gets a constant argument (one of ``constant_params``): ``prepare``
    #: applied to it once, when the Engine is built, instead of on every call. ``matches``
    #: compiles its pattern this way. The impl must still accept the unprepared value too.
    prepare: Callable[[Any], Any] | None = None
    #: A Python expression the call is written as instead of calling ``impl`` (which must
    #: compute the same), with ``{0}``, ``{1}``... for the arguments' code: for a one-line
    #: function on the hot path, where a call costs more than the work. An argument written
    #: more than once must be cheap to repeat, so the call is used when it is not a name or a
    #: field read. ``coalesce`` is ``({0} if {0} is not None else {1})``.
    inline: str | None = None
    #: Who registered it: the built-ins, a module (``register``), a distribution's entry point or
    #: an ``Engine(functions=...)`` provider. Shown by ``hcpcs-rules functions`` and in errors.
    origin: str = ""

    @property
    def shown_returns(self) -> str:
        """The return type as a reader says it (``hcpcs-rules functions``): a type computed
        per call (``$same``, ``$number``, ``$table``) in words."""
        if self.returns == "$same":
            return "the arguments' type"
        if self.returns == "$number":
            return "int, or decimal if an argument is"
        if self.returns == "$table":
            return "bool" if self.name.startswith("in_table") else "the table's value type"
        return self.returns

    def result_bound(self, args: Sequence[Bound]) -> Bound:
        if self.bound is None:
            return CLAIM_BOUND
        if callable(self.bound):
            return self.bound(args)
        return self.bound


#: Every function registered in this process: the built-ins, then :func:`register`'s.
_PROCESS: dict[str, Function] = {}
#: The table of the Engine being built in this thread/context (None: no build under way).
_ACTIVE: ContextVar[Mapping[str, Function] | None] = ContextVar(
    "hcpcs_rules_functions", default=None
)
_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


class _CurrentFunctions(MutableMapping[str, Function]):
    """The functions in effect here: the active Engine build's table, else the process-wide one.

    Writing (``FUNCTIONS[name] = ...``, as tests do with ``monkeypatch.setitem``) changes the
    process-wide table, which later Engine builds start from.
    """

    def _table(self) -> Mapping[str, Function]:
        active = _ACTIVE.get()
        return _PROCESS if active is None else active

    def __getitem__(self, name: str) -> Function:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._table()))

    def __len__(self) -> int:
        return len(self._table())

    def __contains__(self, name: object) -> bool:
        return name in self._table()

    def __setitem__(self, name: str, function: Function) -> None:
        _PROCESS[name] = function

    def __delitem__(self, name: str) -> None:
        del _PROCESS[name]

    def __repr__(self) -> str:
        return f"FUNCTIONS({sorted(self._table())})"


#: The functions conditions may call, as the compiler sees them (see the module docstring).
FUNCTIONS: MutableMapping[str, Function] = _CurrentFunctions()


def process_functions() -> dict[str, Function]:
    """A copy of the process-wide table: the built-ins and every :func:`register` so far."""
    return dict(_PROCESS)


@contextmanager
def using(table: Mapping[str, Function]) -> Iterator[None]:
    """Make ``table`` the functions in effect in this thread/context for the ``with`` block."""
    token = _ACTIVE.set(table)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def make_function(
    name: str,
    params: Sequence[str],
    returns: str,
    impl: Callable[..., Any],
    *,
    doc: str,
    constant_params: Sequence[int] = (),
    bound: Bound | Callable[[Sequence[Bound]], Bound] | None = None,
    prepare: Callable[[Any], Any] | None = None,
    inline: str | None = None,
    origin: str = "",
) -> Function:
    """A checked :class:`Function` (ValueError for a bad name or hook): what :func:`register`
    and :class:`hcpcs_rules.registry.FunctionTable` store."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"a condition function name must be a lowercase identifier, not {name!r}")
    if prepare is not None and not constant_params:
        raise ValueError(f"{name}: prepare needs constant_params, the arguments it prepares")
    if inline is not None:
        _check_inline(name, inline, len(params))
    if not callable(impl):
        raise ValueError(f"{name}: the implementation must be callable, not {impl!r}")
    return Function(
        name,
        tuple(params),
        returns,
        impl,
        doc,
        tuple(constant_params),
        bound,
        prepare=prepare,
        inline=inline,
        origin=origin or _module_of(impl),
    )


def _module_of(impl: Callable[..., Any]) -> str:
    module = getattr(impl, "__module__", None)
    return module if isinstance(module, str) else "?"


def register(
    name: str,
    params: Sequence[str],
    returns: str,
    *,
    doc: str,
    constant_params: Sequence[int] = (),
    bound: Bound | Callable[[Sequence[Bound]], Bound] | None = None,
    prepare: Callable[[Any], Any] | None = None,
    inline: str | None = None,
    replace: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``impl`` process-wide under ``name`` for use in conditions (decorator).

    Engines built afterwards may call it (see :mod:`hcpcs_rules.registry` for functions that
    belong to one Engine only). ``bound``: for a function returning a number, the most digits
    its result can have (see :class:`Function`); without one the result counts as a claim value
    (12 digits before the decimal point, 6 after). ``prepare`` and ``inline``: how generated code
    calls it (see :class:`Function`). ``replace``: replace an earlier registration of ``name``
    (a reloaded plugin module); without it a second, different function of that name is a
    ValueError. A built-in cannot be replaced.
    """
    # Checked now, not when decorating: a bad registration fails at the line that wrote it.
    make_function(
        name, params, returns, _check_only, doc=doc, constant_params=constant_params,
        bound=bound, prepare=prepare, inline=inline,
    )  # fmt: skip

    def decorate(impl: Callable[..., Any]) -> Callable[..., Any]:
        known = _PROCESS.get(name)
        if known is not None and known.impl is not impl:
            if known.origin == BUILTIN_ORIGIN:
                raise ValueError(
                    f"{name!r} is a built-in condition function; it cannot be replaced"
                )
            if not replace:
                raise ValueError(
                    f"a condition function named {name!r} is already registered (by "
                    f"{known.origin}); pass replace=True to replace it"
                )
        _PROCESS[name] = make_function(
            name,
            params,
            returns,
            impl,
            doc=doc,
            constant_params=constant_params,
            bound=bound,
            prepare=prepare,
            inline=inline,
            origin=BUILTIN_ORIGIN if _defining_builtins else _module_of(impl),
        )
        return impl

    return decorate


def unregister(name: str) -> None:
    """Remove a function :func:`register` added (KeyError if there is none; ValueError for a
    built-in). Engines built before keep it."""
    known = _PROCESS[name]
    if known.origin == BUILTIN_ORIGIN:
        raise ValueError(f"{name!r} is a built-in condition function; it cannot be removed")
    del _PROCESS[name]


def _check_only(*_: Any) -> None:
    """Stands in for the implementation while a registration's arguments are checked."""


# The definitions below are the built-ins; the flag is cleared at the end of this module.
_defining_builtins = True


def _check_inline(name: str, template: str, arity: int) -> None:
    """Refuse an inline template that would not format to an expression of the arguments."""
    try:
        fields = [
            (field, spec, conversion)
            for _, field, spec, conversion in Formatter().parse(template)
            if field is not None
        ]
    except ValueError as exc:
        raise ValueError(f"{name}: inline template {template!r}: {exc}") from None
    for field, spec, conversion in fields:
        # Only plain positional fields: "{0}", never "{x.attr}", "{0!r}" or "{0:>4}".
        if not field.isdigit() or int(field) >= arity or spec or conversion:
            raise ValueError(
                f"{name}: inline template {template!r} may only use {{0}}..{{{arity - 1}}}"
            )


# --------------------------------------------------------------------- identifiers and codes


@register(
    "npi_valid",
    ["str"],
    "bool",
    doc="10 digits, starts with 1 or 2, Luhn check digit (80840 prefix).",
)
def _npi_valid(value: str | None) -> bool:
    return vocab.npi_is_valid(value)


@register(
    "pos_valid", ["str"], "bool", doc="A two-digit code of the CMS place-of-service code set."
)
def _pos_valid(value: str | None) -> bool:
    return vocab.pos_is_valid(value)


@register(
    "ndc_normalized",
    ["str"],
    "str",
    doc="The 11-digit (5-4-2) NDC, or none if it cannot be normalised.",
)
def _ndc_normalized(value: str | None) -> str | None:
    return vocab.normalize_ndc(value)


@register(
    "icd10_any",
    ["list[str]", "list[str]"],
    "bool",
    doc="Any code starts with any of the ICD-10-CM prefixes (dot optional, 'J45.*' allowed).",
)
def _icd10_any(codes: Iterable[str] | None, prefixes: Iterable[str] | None) -> bool:
    if not codes or not prefixes:
        return False
    prefixes = tuple(prefixes)
    return any(vocab.icd10_in(code, prefixes) for code in codes)


@register(
    "matches",
    ["str", "str"],
    "bool",
    doc="The whole string matches the regular expression.",
    constant_params=(1,),
    prepare=compile_pattern,
)
def _matches(value: str | None, pattern: Any) -> bool:
    # ``pattern`` is compiled once at build (``prepare``): RE2, or Python's re for a plain
    # pattern where both agree and re cannot backtrack (hcpcs_rules.regex). A string is compiled
    # here, for callers outside generated code.
    if not isinstance(value, str) or pattern is None:
        return False
    if isinstance(pattern, str):
        pattern = compile_pattern(pattern)
    return fullmatch(pattern, value)


# ----------------------------------------------------------------------------- text and lists


@register(
    "blank",
    ["str"],
    "bool",
    doc="Missing, empty or only white space.",
    # Called on most lines by the shipped rules: written out, no call (issue 13).
    inline="({0} is None or not {0}.strip())",
)
def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


@register(
    "word_count",
    ["str"],
    "int",
    doc="Number of words separated by white space (0 when missing).",
    bound=_SIZE_BOUND,
    inline="(0 if {0} is None else len({0}.split()))",
)
def _word_count(value: str | None) -> int:
    return 0 if value is None else len(value.split())


@register(
    # A list of anything, not "any": len() of a date or a number raised at evaluation (found
    # by tests/test_ruleset_fuzz.py), and len() of a string is not a count of items.
    "count",
    ["list[any]"],
    "int",
    doc="Number of items in a list (0 when missing).",
    bound=_SIZE_BOUND,
    inline="(0 if {0} is None else len({0}))",
)
def _count(value: Sequence[Any] | None) -> int:
    return 0 if value is None else len(value)


@register(
    "any_in",
    ["list[str]", "list[str]"],
    "bool",
    doc="The list holds at least one of the values.",
)
def _any_in(values: Sequence[str] | None, wanted: Sequence[str] | None) -> bool:
    if not values or not wanted:
        return False
    if len(wanted) > 8:  # a set pays off for longer lists; a few items are scanned faster
        return not set(wanted).isdisjoint(values)
    # The usual call: a line's modifiers against a few constant codes. A loop, not any() over a
    # generator: the generator costs more than the few comparisons.
    for value in values:  # noqa: SIM110
        if value in wanted:
            return True
    return False


@register(
    "pointers_valid",
    ["list[int]", "list[str]"],
    "bool",
    doc="At least one pointer, each within 1..len(diagnoses).",
)
def _pointers_valid(pointers: Sequence[int] | None, diagnoses: Sequence[str] | None) -> bool:
    if not pointers:
        return False
    n = len(diagnoses or ())
    # A loop, not all() over a generator: a line has one to four pointers.
    for p in pointers:  # noqa: SIM110
        if p < 1 or p > n:
            return False
    return True


@register(
    "pointed_diagnoses",
    ["list[int]", "list[str]"],
    "list[str]",
    doc="The diagnoses the line's pointers point to (pointers out of range are skipped).",
)
def _pointed_diagnoses(
    pointers: Sequence[int] | None, diagnoses: Sequence[str] | None
) -> tuple[str, ...]:
    diagnoses = diagnoses or ()
    return tuple(diagnoses[p - 1] for p in pointers or () if 1 <= p <= len(diagnoses))


# ------------------------------------------------------------------------------ quantities


@register("whole_positive", ["decimal"], "bool", doc="A whole number of at least 1.")
def _whole_positive(value: Decimal | None) -> bool:
    # An integer argument is a number too (`whole_positive(1)`): it has no to_integral_value.
    if value is None or value < 1:
        return False
    return isinstance(value, int) or value == value.to_integral_value()


@register(
    "dispensed_mg",
    ["Dispensed"],
    "decimal",
    doc="Exact milligrams dispensed (mass units, or mL x concentration); none when not computable.",
    # mL x concentration, both claim decimals, is the largest: (12, 6) x (12, 6).
    bound=(24, 12),
)
def _dispensed_mg(dispensed: Dispensed | None) -> Decimal | None:
    if dispensed is None:
        return None
    return units.to_milligrams(
        dispensed.quantity, dispensed.unit, dispensed.concentration_mg_per_ml
    )


@register(
    "billing_units",
    ["decimal", "decimal"],
    "int",
    doc="Milligrams / milligrams per unit, rounded up to a whole unit.",
    bound=_quotient,
)
def _billing_units(milligrams: Decimal | None, mg_per_unit: Decimal | None) -> int | None:
    if milligrams is None or mg_per_unit is None or milligrams < 0 or mg_per_unit <= 0:
        return None
    return units.billing_units(milligrams, mg_per_unit)


@register(
    "ceil_div", ["decimal", "decimal"], "int", doc="a / b rounded up, exactly.", bound=_quotient
)
def _ceil_div(a: Decimal | int | None, b: Decimal | int | None) -> int | None:
    if a is None or b is None or b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return -(-a // b)
    # Decimal division truncates toward zero: step up when a remainder is left on the positive side.
    quotient, remainder = EXACT_CONTEXT.divmod(Decimal(a), Decimal(b))
    if remainder and (remainder > 0) == (b > 0):
        quotient += 1
    return int(quotient)


@register(
    "max",
    ["decimal", "decimal"],
    "$number",
    doc="The larger of two numbers (none if either is missing).",
    bound=_widest,
)
def _max(a: Any, b: Any) -> Any:
    return None if a is None or b is None else max(a, b)


@register(
    "coalesce",
    ["any", "any"],
    "$same",
    doc="The first value that is not missing.",
    bound=_widest,
    # The commonest call (a line's value, else the claim's): written out, no call.
    inline="({0} if {0} is not None else {1})",
)
def _coalesce(a: Any, b: Any) -> Any:
    return b if a is None else a


# ------------------------------------------------------------------------------- enrollment


@register(
    "enrolled_on",
    ["list[Enrollment]", "str", "date"],
    "bool",
    doc="An 'active' enrollment with the payer, valid on the date (effective <= date <= end).",
)
def _enrolled_on(enrollments: Iterable[Enrollment] | None, payer: str | None, day: Any) -> bool:
    if not enrollments or payer is None or day is None:
        return False
    return any(
        e.payer == payer
        and e.status == "active"
        and e.effective <= day
        and (e.end is None or day <= e.end)
        for e in enrollments
    )


# ------------------------------------------------------------------------------------ tables

# Lookups in the tables a ruleset declares (hcpcs_rules.tables). The table argument is a
# constant (the Table, built once per Engine, immutable, shared by threads); the compiler takes
# each call's types from the table itself ("$table": key type, value type, dated or not).
for _name, (_impl, _params, _dated, _doc) in tables.TABLE_FUNCTIONS.items():
    register(_name, _params, "$table", doc=_doc, constant_params=(0,))(_impl)


# Every later registration is a plugin's.
_defining_builtins = False
