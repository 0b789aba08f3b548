"""The typed claim (input) and result (output) of the public contract.

Every class is a frozen, slotted attrs class: values, not objects with behaviour. Turning
untrusted JSON-like data into these classes (with precise errors) is :mod:`hcpcs_rules.claims`'
job; this module declares the shapes, so it stays readable as a schema, plus the one converter
that turns them back into plain data (:func:`unstructure`, behind :meth:`Result.to_dict`).

Quantities and money are :class:`~decimal.Decimal`, dates are :class:`~datetime.date`, lists are
tuples (so a claim is hashable and cannot change while it is being evaluated).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, Literal, NewType

import attrs
import cattrs

from .units import format_decimal

__all__ = [
    "Accreditation",
    "Claim",
    "ClaimLine",
    "Compound",
    "Dispensed",
    "Enrollment",
    "Extensions",
    "Finding",
    "LineResult",
    "Location",
    "Order",
    "OrderingProvider",
    "Patient",
    "PharmacyLicense",
    "Provenance",
    "Result",
    "RulesetDigest",
    "Severity",
    "Status",
    "Supplier",
    "SuretyBond",
    "TraceStep",
]

# Field types with extra input rules; the converter in claims.py gives each its own hook.
PositiveDecimal = NewType("PositiveDecimal", Decimal)
PositiveInt = NewType("PositiveInt", int)
NonBlankStr = NewType("NonBlankStr", str)
PayerName = NewType("PayerName", str)

LineOfBusiness = Literal["commercial", "medicare_advantage"]
DispensedUnit = Literal["mg", "mcg", "ug", "g", "mL"]
AccreditationStatus = Literal["accredited", "exempt", "none"]
PharmacyLicenseStatus = Literal["licensed", "none"]
Attachment = Literal["operative_report", "clinical_notes", "other"]
#: SV103: the unit the line's ``units`` count, units or minutes (the only two the 837P allows).
UnitBasis = Literal["UN", "MJ"]
#: CLM05-3 claim frequency: the third digit of the NUBC type of bill (1 original, 7 replacement,
#: 8 void are the professional claim's usual ones).
ClaimFrequency = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
Severity = Literal["reject", "deny", "warn", "info"]
Status = Literal["reject", "deny", "warn", "clean"]

_attrs_frozen = attrs.frozen(kw_only=True, slots=True)


def _frozen(cls: type) -> Any:
    """An immutable record class (attrs, frozen, slots, keyword-only), pickled compactly.

    Claims go to worker processes and Results come back from them pickled
    (``evaluate_many(workers=N)``, Spark): per object, attrs' own pickling writes a dict of field
    names to values and sets them back one by one in Python. Here an object pickles as its class
    and a tuple of its values, read with one C-level getter and set back through the slots:
    about a third less time at both ends and smaller pickles. An object of a subclass pickles
    as attrs does.
    """
    cls = _attrs_frozen(cls)
    names = tuple(field.name for field in attrs.fields(cls))
    getter = operator.attrgetter(*names)
    single = len(names) == 1
    _SLOT_SETTERS[cls] = tuple(cls.__dict__[name].__set__ for name in names)
    default_reduce = cls.__reduce_ex__

    def __reduce_ex__(self: Any, protocol: int) -> Any:
        if type(self) is not cls:
            return default_reduce(self, protocol)
        values = getter(self)
        return (_rebuild, (cls, (values,) if single else values))

    cls.__reduce_ex__ = __reduce_ex__  # type: ignore[method-assign]
    return cls


def slot_setters(cls: type) -> dict[str, Any] | None:
    """Each field's slot setter, in field order, when setting every slot is all
    ``cls.__init__`` does; None otherwise.

    That is so for a frozen, slotted attrs class with no validators, converters, ``on_setattr``,
    ``init=False`` fields or init hooks: its ``__init__`` parses keywords and stores each value
    through ``object.__setattr__``, which the slot's own setter does without the parsing. The
    claim reader's fast path and the fused code's result builders set slots on that ground
    (:func:`hcpcs_rules.runtime.slot_builder`); a class that gains any of those keeps its
    ``__init__`` there.
    """
    if not attrs.has(cls) or any(
        hasattr(cls, hook) for hook in ("__attrs_post_init__", "__attrs_pre_init__")
    ):
        return None
    setters = {}
    for field in attrs.fields(cls):
        if field.validator is not None or field.converter is not None or not field.init:
            return None
        if field.on_setattr not in (None, attrs.setters.NO_OP):
            return None
        slot = cls.__dict__.get(field.name)
        if type(slot).__name__ != "member_descriptor":
            return None
        setters[field.name] = slot.__set__
    return setters


#: The slot setters of each record class, in field order (what :func:`_rebuild` sets).
_SLOT_SETTERS: dict[type, tuple[Any, ...]] = {}


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    """Unpickle a record: a new object with its slots set, as its frozen ``__init__`` would
    (the values were validated when the pickled object was made)."""
    obj = object.__new__(cls)
    for set_slot, value in zip(_SLOT_SETTERS[cls], values, strict=True):
        set_slot(obj, value)
    return obj


# ----------------------------------------------------------------------------------- input


class Extensions(Mapping[str, Any]):
    """The ``extensions`` of a claim or a line: fields that rulesets declare, read-only.

    A mapping of field name to value (only the fields the claim gives). Conditions read a field
    as ``line.extensions.order_date``: attribute access returns the value, or None (a missing
    value) for a field that is *declared* but absent; a name nobody declared is an
    AttributeError. Which fields are declared is the engine's business: only the claim parser
    (``claims.py``, under an engine's declarations) builds instances that declare any, so a
    hand-built ``Extensions(...)`` declares exactly the fields it holds.

    Immutable and hashable like the rest of a claim; equality is by values alone.
    """

    __slots__ = ("_declared", "_values")

    def __init__(
        self, values: Mapping[str, Any] | None = None, *, declared: frozenset[str] = frozenset()
    ) -> None:
        items = dict(values or {})
        object.__setattr__(self, "_values", items)
        object.__setattr__(self, "_declared", frozenset(declared) | frozenset(items))

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: Mapping's own methods always win, which is why
        # the compiler refuses extension fields named like them (keys, get, items...). Private
        # names are never fields (before __init__ ran, _declared itself is one of them).
        if not name.startswith("_") and name in self._declared:
            return self._values.get(name)
        raise AttributeError(f"no extension field {name!r} is declared")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Extensions are read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Extensions are read-only")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Extensions):
            return self._values == other._values
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._values.items()))

    def __repr__(self) -> str:
        return f"Extensions({self._values!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Explicit, so pickling (worker processes) never goes near __getattr__.
        return (_extensions, (self._values, self._declared))

    @property
    def declared(self) -> frozenset[str]:
        """The field names attribute access answers for (present or not)."""
        return self._declared


def _extensions(values: dict[str, Any], declared: frozenset[str]) -> Extensions:
    return Extensions(values, declared=declared)


#: What a claim or line without extensions has (one shared instance: it is immutable).
NO_EXTENSIONS = Extensions()


@_frozen
class Patient:
    snf_part_a_stay: bool | None = None  # in a Part A covered SNF stay on the date of service
    inpatient_stay: bool | None = None  # in an inpatient hospital stay on the date of service


@_frozen
class Enrollment:
    payer: NonBlankStr
    status: NonBlankStr  # "active" is the only status that lets a supplier bill
    effective: dt.date
    end: dt.date | None = None


@_frozen
class Accreditation:
    status: AccreditationStatus
    expires: dt.date | None = None


@_frozen
class SuretyBond:
    amount: Decimal
    expires: dt.date | None = None


@_frozen
class PharmacyLicense:
    state: NonBlankStr
    expires: dt.date | None = None
    # "none" records that the supplier is known to hold no licence in that state; without a
    # ``pharmacy_license`` at all the claim says nothing (unknown), which is not the same thing.
    status: PharmacyLicenseStatus = "licensed"


@_frozen
class Supplier:
    npi: str
    taxonomy: str | None = None
    ptan: str | None = None
    # None means unknown (not given: e.g. an 837 whose supplier has no directory entry) and
    # rules that need it do not fire; () means known to have no enrollment. Likewise
    # accreditation, surety_bond and pharmacy_license: None is unknown, and "known to have none"
    # is written as accreditation status "none", a surety bond of amount 0, or a licence with
    # status "none" (docs/claim-format.md).
    enrollments: tuple[Enrollment, ...] | None = None
    accreditation: Accreditation | None = None
    surety_bond: SuretyBond | None = None
    pharmacy_license: PharmacyLicense | None = None


@_frozen
class OrderingProvider:
    npi: str
    # None: PECOS status unknown (the 837 never carries it), so the PECOS rule does not fire.
    pecos_enrolled: bool | None = None


@_frozen
class Dispensed:
    """What was dispensed: a mass, or a volume with its concentration."""

    quantity: PositiveDecimal
    unit: DispensedUnit
    concentration_mg_per_ml: PositiveDecimal | None = None


@_frozen
class Order:
    """The prescription sig: dose per administration and how often."""

    dose_mg: PositiveDecimal
    times_per_day: PositiveInt


@_frozen
class Compound:
    """What the supplier says about a compounded product (commercial exclusions)."""

    bulk_ingredients: bool | None = None
    replicates_commercial_product: bool | None = None


@_frozen
class ClaimLine:
    hcpcs: str
    units: Decimal
    modifiers: tuple[str, ...] = ()
    date_of_service: dt.date | None = None
    place_of_service: str | None = None
    dispensed: Dispensed | None = None
    days_supply: PositiveInt | None = None
    order: Order | None = None
    ndc: str | None = None
    ndc_quantity: PositiveDecimal | None = None
    ndc_unit: str | None = None
    diagnosis_pointers: tuple[int, ...] = ()
    charge: Decimal | None = None
    note: str | None = None
    attachments: tuple[Attachment, ...] = ()
    compound: Compound | None = None
    extensions: Extensions = NO_EXTENSIONS
    # What an X12 837P line carries that the fields above have no home for (docs/x12.md).
    #: Last date of a date-of-service range (DTP*472*RD8); None for a single date. Needs the
    #: line's own ``date_of_service``, the range's first date, and is not before it.
    date_of_service_end: dt.date | None = None
    #: SV103 unit basis of ``units``: "UN" (units) or "MJ" (minutes); None: not stated.
    unit_basis: UnitBasis | None = None
    #: The line's own ordering provider (loop 2420E) and referring provider (2420F).
    ordering_provider: OrderingProvider | None = None
    referring_provider: OrderingProvider | None = None
    #: The prescription (Rx) number of the dispensed drug (2410 REF*XZ).
    prescription_number: str | None = None


@_frozen
class Claim:
    id: NonBlankStr
    payer: PayerName
    supplier: Supplier
    lines: tuple[ClaimLine, ...]
    line_of_business: LineOfBusiness = "commercial"
    date_of_service: dt.date | None = None
    place_of_service: str | None = None
    diagnoses: tuple[str, ...] = ()
    patient: Patient | None = None
    ordering_provider: OrderingProvider | None = None
    extensions: Extensions = NO_EXTENSIONS
    # What an X12 837P claim carries that the fields above have no home for (docs/x12.md).
    #: CLM05-3 claim frequency code, one digit: "1" original, "7" replacement, "8" void...
    frequency: ClaimFrequency | None = None
    #: The claim-level note (2300 NTE); lines have their own ``note``.
    note: str | None = None
    #: Claim-level attachments (2300 PWK); lines have their own ``attachments``.
    attachments: tuple[Attachment, ...] = ()


# ---------------------------------------------------------------------------------- output

#: Severity order, and the status each rank gives: info alone leaves a claim clean.
SEVERITY_RANK = {"info": 0, "warn": 1, "deny": 2, "reject": 3}
STATUS_BY_RANK: tuple[Status, ...] = ("clean", "warn", "deny", "reject")


@_frozen
class ReasonCodes:
    """The payer answer a finding suggests: an X12 group code (``CO``, ``PR``, ``OA``...), a
    claim adjustment reason code, remittance advice remark codes, and where the choice comes
    from. A suggestion for what a payer would say, not a payer's decision."""

    group: str
    carc: str
    rarc: tuple[str, ...] = ()
    source: str = ""


@_frozen
class Location:
    """Where something sits in the input, so a biller can find and fix it.

    For JSON input only ``json_path`` is set (``$.lines[0]``). For an X12 837P: the envelope's
    control numbers (ISA13, GS06, ST02), the claim id (CLM01), the service line number (LX01)
    when the finding is about a line, and the segment (its 1-based ordinal in the file and the
    byte offset where it starts).
    """

    json_path: str | None = None
    interchange: str | None = None  # ISA13
    group: str | None = None  # GS06
    transaction: str | None = None  # ST02
    claim: str | None = None  # CLM01
    lx: int | None = None  # LX01
    segment: int | None = None  # ordinal of the segment in the file, 1-based
    offset: int | None = None  # byte offset of the segment in the file, 0-based
    segment_id: str | None = None  # "CLM", "LX", "SV1"...


@_frozen
class Finding:
    rule_id: str
    severity: Severity
    line: int | None  # 1-based, None for a claim-level finding
    message: str
    source: str
    payer: str | None = None  # the payer overlay that produced it; None when payer-neutral
    #: The rule's own severity when the engine's policy overrode it (``severity`` is then the
    #: policy's); None when the rule's severity stands.
    rule_severity: Severity | None = None
    #: The rule's suggested reason codes for this claim's payer (and line); None when the rule
    #: declares none.
    reason_codes: ReasonCodes | None = None
    #: Where to fix it in the input (an X12 segment or a JSON path); None when not known.
    location: Location | None = None

    def sort_key(self) -> tuple[int, str]:
        """Stable order: claim-level findings first, then by line, then by rule id."""
        return (0 if self.line is None else self.line, self.rule_id)


@_frozen
class LineResult:
    line: int
    hcpcs: str
    billed_units: Decimal
    dispensed_mg: Decimal | None
    expected_units: int | None
    status: Status
    #: The date the line was served: its own date of service, else the claim's; None when
    #: neither is given. What reports group findings by month on.
    date_of_service: dt.date | None = None


@_frozen
class TraceStep:
    """One rule firing: which rule, on which facts, and what it produced."""

    step: int
    rule_id: str
    ruleset: str
    subject: str  # "claim" or "line N"
    matched: tuple[str, ...]  # ids of the facts the rule matched, e.g. ("line:1", "units:1")
    derived: tuple[str, ...]  # ids of the facts it derived
    finding: str | None  # the severity it emitted, if any (after the policy's override)
    #: The policy ignores this rule's findings: it fired, but its finding is in Result.ignored.
    ignored: bool = False


@_frozen
class RulesetDigest:
    """One ruleset an engine was built from, and the sha256 of its file's bytes."""

    name: str
    version: str
    sha256: str  # "sha256:<hex>"


@_frozen
class Provenance:
    """Exactly what produced a Result: the rulesets' contents and the policy (docs/policy.md)."""

    rulesets: tuple[RulesetDigest, ...]
    policy: str | None = None  # "sha256:<hex>" of the policy's normalized content; None: none
    #: ``(payer, overlay)`` when the policy's payer mapping had this claim evaluated as ``overlay``.
    payer_mapping: tuple[str, str] | None = None


@_frozen
class Result:
    claim_id: str
    status: Status
    findings: tuple[Finding, ...]
    lines: tuple[LineResult, ...]
    rulesets: tuple[str, ...]
    trace: tuple[TraceStep, ...] = ()
    #: Set by every Engine; None only for a Result built by hand.
    provenance: Provenance | None = None
    #: Findings the rules emitted that the engine's policy ignores (not counted in ``status``).
    ignored: tuple[Finding, ...] = ()
    #: Where the claim sits in the input (its CLM segment for an 837P); None when not known.
    location: Location | None = None
    #: The payer id the claim named (before a policy's payer mapping); None only for a Result
    #: built by hand.
    payer: str | None = None
    #: The payer overlay the rules applied (``payer_scope.overlay``: "medicare",
    #: "medicare_advantage", or the commercial payer), after any payer mapping; None when no
    #: selected ruleset derives one.
    overlay: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: decimals as strings, dates as ISO strings."""
        return unstructure(self)


# ---------------------------------------------------------------------------- unstructuring

# One converter for every model class going out as JSON-ready data (results, and claims written
# back out by claims.unstructure_claim). It lives with the shapes so that Result.to_dict needs
# nothing from claims.py, which imports this module to read claims in.
_converter = cattrs.Converter()
_converter.register_unstructure_hook(Decimal, format_decimal)
_converter.register_unstructure_hook(dt.date, dt.date.isoformat)
_converter.register_unstructure_hook(
    Extensions, lambda ext: {name: _converter.unstructure(v) for name, v in ext.items()}
)
# A licence's status is written only when it says "none": licences written before the field
# existed (directories, fixtures, golden outputs) read and print unchanged.
_converter.register_unstructure_hook(
    PharmacyLicense,
    lambda lic: {
        "state": lic.state,
        "expires": None if lic.expires is None else lic.expires.isoformat(),
        **({} if lic.status == "licensed" else {"status": lic.status}),
    },
)


def unstructure(value: Any) -> Any:
    """A model value (Result, Claim...) as plain JSON-ready data: decimals as strings (as
    :func:`~hcpcs_rules.units.format_decimal` prints them), dates as ISO strings, tuples as lists."""
    return _converter.unstructure(value)
