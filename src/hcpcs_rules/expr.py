"""The condition language: text -> typed :mod:`~hcpcs_rules.ir` expressions.

Conditions look like Python expressions (``line.hcpcs == "J7632" and "GA" in line.modifiers``)
because billers and developers already read that, but they are *not* Python: the text is parsed
with :func:`ast.parse` (which never runs anything) and only a whitelist of node kinds is accepted.
Names resolve only to fact roots, declared constants and registered functions; attribute access
only to fields the schema declares. Nothing a ruleset says can reach an object, a module or a
builtin, so a ruleset file cannot run code.

What is accepted:

- literals: strings, integers, decimals (``1.1`` is the exact decimal 1.1, never a float),
  ``True``, ``False``, ``None``, ``date("2007-07-01")``, lists/sets of literals;
- paths: ``line.units``, ``supplier.accreditation.status``, ``units.expected_units``;
- ``== != < <= > >= in not in``, ``and or not``, ``+ - *``, ``a if test else b``;
- calls to the functions of :mod:`hcpcs_rules.functions`, and ``exists(fact)``;
- aggregates over the claim's lines, written as a generator over ``lines`` with an optional
  filter: ``count(l for l in lines if l.hcpcs == "Q0513")``, ``sum(l.units for l in lines)``,
  ``min(...)``, ``max(...)``, ``any(l.hcpcs == line.hcpcs and l.number != line.number for l in
  lines)``, ``all(...)`` (meaning in :mod:`hcpcs_rules.ir`);
- dates: ``date - date`` (days, an int), ``date + int`` and ``date - int`` (days later or
  earlier); strings: ``str + str``.

Division is left out on purpose: exact rounding is explicit (``ceil_div``, ``billing_units``).
"""

from __future__ import annotations

import ast
import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal

import attrs

from . import ir, schema
from .errors import did_you_mean
from .functions import CLAIM_BOUND, COUNT_BOUND, FUNCTIONS, Bound
from .limits import CEILING_COUNT
from .regex import regex_error
from .tables import call_type as table_call_type
from .units import EXACT_CONTEXT

__all__ = [
    "AGGREGATES",
    "MAX_AGGREGATES",
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_NODES",
    "MAX_TEXT",
    "Env",
    "ExprError",
    "ExprProblem",
    "digits_bound",
    "names_used",
    "parse_expr",
    "parse_template",
]

#: Longest condition, field expression or ``{...}`` part of a message, in characters (the shipped
#: rulesets' longest condition is about 200).
MAX_TEXT = 4_000
#: Deepest nesting of expression nodes (``not not x`` is 3 deep; the shipped rulesets reach 7).
#: Generated Python nests about two parentheses per level, and CPython's parser refuses 200
#: nested parentheses: every node kind at this depth still compiles on both backends
#: (tests/test_ruleset_limits.py builds each one).
MAX_DEPTH = 40
#: Most expression nodes in one expression (the shipped rulesets' largest has about 40).
MAX_NODES = 1_000
#: Most aggregates in one expression. Each walks every line, so a line rule's condition costs
#: lines x aggregates per claim: a few are plenty (the shipped rules use at most two).
MAX_AGGREGATES = 16
#: Most digits exact arithmetic may need: the precision of the context rules compute in, which
#: raises rather than rounds. Every arithmetic expression's worst case is bounded statically
#: (see :func:`digits_bound`) and refused at compile time beyond this.
MAX_DIGITS = EXACT_CONTEXT.prec

_CMP = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}

#: The aggregate names, each taking one generator over ``lines``. ``count`` and ``max`` are also
#: functions (of a list, of two numbers): a generator argument makes them aggregates.
AGGREGATES = ("count", "sum", "min", "max", "any", "all")
#: The most digits before the point a sum over the lines adds to its values': claims hold far
#: fewer than CEILING_COUNT lines (and exact arithmetic raises rather than round, past it).
_SUM_CARRY = len(str(CEILING_COUNT))
#: Days between two dates of the years 1 to 9999 fit in 7 digits.
_DAYS_BOUND: Bound = (7, 0)


@attrs.frozen
class ExprProblem:
    """One problem of an expression, located in the expression's own text as given.

    ``offset`` and ``end_offset`` are 0-based character offsets of the offending span in that
    text (end exclusive): what a caller maps through, to a TOML file's line and column or to a
    message template's part. ``line``/``column`` (from 1) and ``end_line``/``end_column`` (just
    after the span) are the same span counted in the text's own lines. All None when the problem
    is about the whole text (too long, nested too deeply).
    """

    message: str
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    offset: int | None = None
    end_offset: int | None = None

    @classmethod
    def at(cls, text: str, message: str, start: int, end: int) -> ExprProblem:
        """The problem ``message`` spanning ``text[start:end]``."""
        line, column = _line_column(text, start)
        end_line, end_column = _line_column(text, end)
        return cls(message, line, column, end_line, end_column, start, end)


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


class ExprError(Exception):
    """Problems in one expression: ``problems`` lists them all as :class:`ExprProblem` records,
    ``messages`` their texts (without positions)."""

    def __init__(self, problems: Sequence[ExprProblem | str]) -> None:
        self.problems: list[ExprProblem] = [
            p if isinstance(p, ExprProblem) else ExprProblem(p) for p in problems
        ]
        self.messages: list[str] = [p.message for p in self.problems]
        super().__init__("; ".join(self.messages))


class Env:
    """What names an expression may use."""

    def __init__(
        self,
        roots: Mapping[str, Mapping[str, str]],
        derived: Mapping[str, Mapping[str, str]],
        constants: Mapping[str, ir.Const],
        bounds: Mapping[str, Mapping[str, Bound]] | None = None,
        per: Mapping[str, str] | None = None,
        *,
        records: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.roots = roots  # base fact roots
        self.derived = derived  # derived fact name -> fields
        self.constants = constants
        #: derived fact -> field -> the digits its values can need (numeric fields only); a
        #: field without a bound (not typed yet) counts as a claim value.
        self.bounds = bounds if bounds is not None else {}
        #: derived fact -> "line" | "claim", where known: aggregates refuse per-line facts.
        self.per = per if per is not None else {}
        #: record type -> fields: schema.RECORDS, with the extension fields this ruleset may read
        self.records = records if records is not None else schema.RECORDS

    def names(self) -> list[str]:
        return [
            *self.roots,
            *self.derived,
            *self.constants,
            *FUNCTIONS,
            *AGGREGATES,
            "exists",
            "date",
        ]


_hint = did_you_mean
_EXTENSION_TABLES = {record: on for on, record in schema.EXTENSION_RECORDS.items()}


#: What a node that failed checking stands for, so checking goes on with the rest of the
#: expression. Compared by identity: a node built on a failed one reports nothing more (its
#: problem is already reported once, where it is).
_FAILED = ir.Const(None, "any")


# CPython 3.11 keeps the depth counter of its AST object builder in interpreter-wide state, so
# two threads in ast.parse at once can trip its self-check and raise
# "SystemError: AST constructor recursion depth mismatch" (CPython issues 106905 and 95185; not
# seen on 3.12 or 3.13). Engines are built from many threads in a server: our own parses take
# turns under one lock, and a parse that still collides with another library's parse in some
# other thread is simply redone, as the tree it was building is thrown away whole.
_PARSE_LOCK = threading.Lock()
_PARSE_RETRIES = 5
_RACE = "recursion depth mismatch"


def _parse(text: str) -> ast.Expression:
    """``ast.parse(text, mode="eval")``, safe to call from many threads at once."""
    for _ in range(_PARSE_RETRIES - 1):
        try:
            with _PARSE_LOCK:
                return ast.parse(text, mode="eval")
        except SystemError as exc:
            if _RACE not in str(exc):
                raise
    with _PARSE_LOCK:
        return ast.parse(text, mode="eval")


def _failed(*values: ir.Expr) -> bool:
    return any(value is _FAILED for value in values)


class _Checker:
    """Types one parsed expression, collecting each problem once with the span it is about.

    ``text`` is what was parsed: one line (line breaks are spaces to the language), so an ast
    node's position is its ``col_offset``, counted in UTF-8 bytes; problems are kept as
    character offsets into ``text``.
    """

    def __init__(self, text: str, env: Env) -> None:
        self.text = text
        self.encoded = text.encode("utf-8")
        self.env = env
        self.errors: list[tuple[str, int, int]] = []
        #: id(IR node) -> (that node, the ast node it was built from), for the arithmetic and
        #: calls the digit bound may refuse after checking (the IR keeps no positions).
        self.origin: dict[int, tuple[ir.Expr, ast.AST]] = {}
        #: The loop variable of the aggregate being checked (None outside one).
        self.each: str | None = None
        self.aggregates = 0

    def span(self, node: ast.AST) -> tuple[int, int]:
        """``node``'s character offsets in ``text`` (ast counts UTF-8 bytes)."""
        start = len(self.encoded[: node.col_offset].decode("utf-8"))
        end_col = node.end_col_offset if node.end_col_offset is not None else node.col_offset
        end = len(self.encoded[:end_col].decode("utf-8"))
        return start, max(end, start + 1)

    def fail(self, node: ast.AST, message: str) -> ir.Const:
        self.errors.append((message, *self.span(node)))
        return _FAILED

    # -- dispatch ------------------------------------------------------------------------

    def visit(self, node: ast.AST) -> ir.Expr:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            return self.fail(node, f"{_describe_node(node)} is not allowed in a condition")
        result = method(node)
        if isinstance(result, ir.Arith | ir.Call | ir.Aggregate):
            self.origin.setdefault(id(result), (result, node))
        return result

    def visit_Constant(self, node: ast.Constant) -> ir.Expr:
        value = node.value
        if value is None:
            return ir.Const(None, "null")
        if isinstance(value, bool):
            return ir.Const(value, "bool")
        if isinstance(value, int):
            if abs(value) >= 10**MAX_DIGITS:
                return self.fail(node, f"an integer of more than {MAX_DIGITS} digits")
            return ir.Const(value, "int")
        if isinstance(value, float):
            # Take the digits as written, so 1.1 is exactly 1.1.
            text = ast.get_source_segment(self.text, node) or repr(value)
            try:
                number = Decimal(text.replace("_", ""))
            except ArithmeticError:
                return self.fail(node, f"not an exact decimal number: {text}")
            if not number.is_finite() or sum(_const_bound(number)) > MAX_DIGITS:
                return self.fail(
                    node, f"{text} needs more than {MAX_DIGITS} digits written out in full"
                )
            return ir.Const(number, "decimal")
        if isinstance(value, str):
            return ir.Const(value, "str")
        return self.fail(node, f"literal {value!r} is not allowed")

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ir.Expr:
        operand = self.visit(node.operand)
        if _failed(operand):
            return _FAILED
        if isinstance(node.op, ast.Not):
            return ir.Not(operand)
        if (
            isinstance(node.op, ast.USub)
            and isinstance(operand, ir.Const)
            and schema.numeric(operand.type)
        ):
            return ir.Const(-operand.value, operand.type)
        if isinstance(node.op, ast.USub) and schema.numeric(operand.type):
            return ir.Arith("-", ir.Const(0, "int"), operand, operand.type)
        return self.fail(node, f"operator {type(node.op).__name__} is not allowed here")

    def visit_BoolOp(self, node: ast.BoolOp) -> ir.Expr:
        op = "and" if isinstance(node.op, ast.And) else "or"
        values = []
        for value_node in node.values:
            value = self.visit(value_node)
            self.expect_bool(value_node, value)
            values.append(value)
        if _failed(*values):
            return _FAILED
        return ir.BoolOp(op, tuple(values))

    def visit_BinOp(self, node: ast.BinOp) -> ir.Expr:
        op = _ARITH.get(type(node.op))
        if op is None:
            extra = (
                " (use ceil_div or billing_units for exact division)"
                if isinstance(node.op, ast.Div | ast.FloorDiv)
                else ""
            )
            return self.fail(node, f"operator {type(node.op).__name__} is not allowed{extra}")
        left, right = self.visit(node.left), self.visit(node.right)
        if _failed(left, right):
            return _FAILED
        kinds = (left.type, right.type)
        if "date" in kinds or "str" in kinds:
            kind = _date_or_text(op, *kinds)
            if kind is None:
                return self.fail(node, _why_not(op, *kinds))
            return ir.Arith(op, left, right, kind)
        for side in (left, right):
            if side.type not in ("int", "decimal", "any"):
                return self.fail(node, f"arithmetic needs numbers, not {side.type}")
        kind = "int" if left.type == right.type == "int" else "decimal"
        return ir.Arith(op, left, right, kind)

    def visit_Compare(self, node: ast.Compare) -> ir.Expr:
        if len(node.ops) != 1:
            return self.fail(node, "chained comparisons are not allowed; join them with 'and'")
        op = _CMP.get(type(node.ops[0]))
        if op is None:
            return self.fail(
                node, f"comparison {type(node.ops[0]).__name__} is not allowed (use == None)"
            )
        left, right = self.visit(node.left), self.visit(node.comparators[0])
        if _failed(left, right):
            return _FAILED
        if op in ("in", "not in"):
            if right.type not in ("any", "null") and not schema.is_list(right.type):
                return self.fail(node, f"'{op}' needs a list or set on the right, not {right.type}")
            if schema.is_list(right.type) and not schema.comparable(
                left.type, schema.item_type(right.type)
            ):
                return self.fail(node, f"cannot look for {left.type} in {right.type}")
        elif op in ("==", "!="):
            if not schema.comparable(left.type, right.type):
                return self.fail(node, f"cannot compare {left.type} with {right.type}")
        else:
            ordered = (schema.numeric(left.type) and schema.numeric(right.type)) or (
                left.type == right.type and left.type in ("date", "str")
            )
            if not ordered and "any" not in (left.type, right.type):
                return self.fail(node, f"cannot order {left.type} and {right.type} with {op}")
        return ir.Compare(op, left, right)

    def visit_IfExp(self, node: ast.IfExp) -> ir.Expr:
        test = self.visit(node.test)
        self.expect_bool(node.test, test)
        body, orelse = self.visit(node.body), self.visit(node.orelse)
        if _failed(test, body, orelse):
            return _FAILED
        kind = _join_types(body.type, orelse.type)
        if kind is None:
            return self.fail(
                node, f"both branches must have one type, not {body.type} and {orelse.type}"
            )
        return ir.Cond(test, body, orelse, kind)

    def visit_List(self, node: ast.List | ast.Set | ast.Tuple) -> ir.Expr:
        items = [self.visit(e) for e in node.elts]
        if _failed(*items):
            return _FAILED
        if not all(isinstance(i, ir.Const) for i in items):
            return self.fail(node, "list and set literals may only hold constants")
        kinds = {i.type for i in items} - {"any"}
        if len(kinds) > 1 and kinds != {"int", "decimal"}:
            return self.fail(node, f"a literal list mixes types: {', '.join(sorted(kinds))}")
        kind = (kinds.pop() if len(kinds) == 1 else "decimal") if kinds else "any"
        return ir.Const(tuple(i.value for i in items), f"set[{kind}]")

    visit_Set = visit_Tuple = visit_List

    def visit_Name(self, node: ast.Name) -> ir.Expr:
        name = node.id
        if name == self.each:
            return self.fail(node, f"{name!r} is a line; name one of its fields, e.g. {name}.hcpcs")
        if name == "lines":
            return self.fail(
                node, "'lines' can only be aggregated, e.g. count(l for l in lines if ...)"
            )
        if name in self.env.constants:
            return self.env.constants[name]
        if name in self.env.roots or name in self.env.derived:
            return self.fail(
                node, f"{name!r} is a fact; name one of its fields, e.g. {name}.<field>"
            )
        if name in ("true", "false", "null", "none"):
            return self.fail(node, f"unknown name {name!r} (write True, False or None)")
        return self.fail(node, f"unknown name {name!r}{_hint(name, self.env.names())}")

    def visit_Attribute(self, node: ast.Attribute) -> ir.Expr:
        chain: list[str] = []
        current: ast.AST = node
        while isinstance(current, ast.Attribute):
            chain.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            return self.fail(node, "fields can only be read from a fact name")
        chain.reverse()
        root = current.id
        if root == self.each:
            return self.each_field(node, root, chain)
        if (
            self.each is not None
            and root in self.env.derived
            and root not in self.env.roots
            and self.env.per.get(root) == "line"
        ):
            return self.fail(node, _PER_LINE_IN_AGGREGATE.format(root))
        if root in self.env.roots:
            fields, derived = self.env.roots[root], False
        elif root in self.env.derived:
            fields, derived = self.env.derived[root], True
        else:
            options = [*self.env.roots, *self.env.derived]
            return self.fail(node, f"unknown fact {root!r}{_hint(root, options)}")
        return self.walk_fields(node, root, fields, chain, derived)

    def each_field(self, node: ast.Attribute, var: str, chain: list[str]) -> ir.Expr:
        """A field of the line being aggregated: any field ``line`` has."""
        found = self.walk_fields(node, var, _line_fields(self.env), chain, False)
        if isinstance(found, ir.Path):
            return ir.Each(found.fields, found.type)
        return found

    def walk_fields(
        self,
        node: ast.Attribute,
        root: str,
        fields: Mapping[str, str],
        chain: list[str],
        derived: bool,
    ) -> ir.Expr:
        kind = ""
        where = root
        for index, name in enumerate(chain):
            if name not in fields:
                declare = ""
                if kind in _EXTENSION_TABLES:  # say where a new one is declared
                    declare = f" (declare it under [ruleset.extensions.{_EXTENSION_TABLES[kind]}])"
                return self.fail(
                    node, f"{where} has no field {name!r}{_hint(name, list(fields))}{declare}"
                )
            kind = fields[name]
            where = f"{where}.{name}"
            if index < len(chain) - 1:
                if kind not in self.env.records:
                    return self.fail(node, f"{where} is {kind}, it has no fields")
                fields = self.env.records[kind]
        return ir.Path(root, tuple(chain), kind, derived)

    def visit_Call(self, node: ast.Call) -> ir.Expr:
        if not isinstance(node.func, ast.Name):
            return self.fail(node, "only named functions can be called")
        if node.keywords:
            return self.fail(node, "keyword arguments are not allowed")
        name = node.func.id
        if name in AGGREGATES and (
            name not in FUNCTIONS
            or (len(node.args) == 1 and isinstance(node.args[0], ast.GeneratorExp))
        ):
            return self.aggregate(node, name)
        if name == "exists":
            if len(node.args) != 1 or not isinstance(node.args[0], ast.Name):
                return self.fail(
                    node, "exists() takes the name of a derived fact, e.g. exists(units)"
                )
            fact = node.args[0].id
            if self.each is not None and self.env.per.get(fact) == "line":
                return self.fail(node, _PER_LINE_IN_AGGREGATE.format(fact))
            if fact not in self.env.derived:
                return self.fail(
                    node, f"exists(): no derived fact {fact!r}{_hint(fact, list(self.env.derived))}"
                )
            return ir.Exists(fact)
        if name == "date":
            arg = node.args[0] if len(node.args) == 1 else None
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                return self.fail(node, 'date() takes one ISO date string, e.g. date("2007-07-01")')
            try:
                return ir.Const(dt.date.fromisoformat(arg.value), "date")
            except ValueError:
                return self.fail(node, f"not an ISO date: {arg.value!r}")
        function = FUNCTIONS.get(name)
        if function is None:
            return self.fail(
                node,
                f"unknown function {name!r}{_hint(name, [*FUNCTIONS, *AGGREGATES, 'exists', 'date'])}",
            )
        if len(node.args) != len(function.params):
            return self.fail(
                node, f"{name}() takes {len(function.params)} argument(s), got {len(node.args)}"
            )
        args = tuple(self.visit(a) for a in node.args)
        if _failed(*args):
            return _FAILED
        before = len(self.errors)
        for index, (arg, want) in enumerate(zip(args, function.params, strict=True)):
            if want != "any" and not _accepts(want, arg.type):
                self.fail(
                    node.args[index],
                    f"{name}() argument {index + 1} must be {want}, not {arg.type}",
                )
            if index in function.constant_params and not isinstance(arg, ir.Const):
                self.fail(node.args[index], f"{name}() argument {index + 1} must be a constant")
            elif name == "matches" and index == 1 and isinstance(arg.value, str):
                # Patterns are compiled by RE2 (linear time, whatever the input): one it cannot
                # compile is an authoring error, found here rather than at the first claim.
                problem = regex_error(arg.value)
                if problem is not None:
                    self.fail(node.args[index], f"matches(): not a valid RE2 pattern: {problem}")
        returns = function.returns
        if returns == "$same":
            returns = _join_types(*(a.type for a in args)) or "any"
        elif returns == "$number":
            returns = "int" if all(a.type == "int" for a in args) else "decimal"
        elif returns == "$table":
            # A table lookup's key and value types are the table's own (hcpcs_rules.tables).
            typed = table_call_type(name, args) if len(self.errors) == before else "any"
            if isinstance(typed, tuple):
                return self.fail(node.args[typed[0]], typed[1])
            returns = typed
        return ir.Call(name, args, returns)

    def aggregate(self, node: ast.Call, name: str) -> ir.Expr:
        """``name(<value> for <var> in lines if <filter>...)``: an :class:`ir.Aggregate`."""
        example = {
            "count": 'count(l for l in lines if l.hcpcs == "Q0513")',
            "any": 'any(l.hcpcs == "Q0513" for l in lines)',
            "all": "all(l.units > 0 for l in lines)",
        }.get(name, f'{name}(l.units for l in lines if l.hcpcs == "J7632")')
        usage = f"{name}() takes one generator over the claim's lines, e.g. {example}"
        if node.keywords or len(node.args) != 1 or not isinstance(node.args[0], ast.GeneratorExp):
            return self.fail(node, usage)
        gen = node.args[0]
        if len(gen.generators) != 1 or gen.generators[0].is_async:
            return self.fail(gen, f"{name}(): one 'for ... in lines' only; {usage}")
        loop = gen.generators[0]
        if not isinstance(loop.target, ast.Name):
            return self.fail(loop.target, f"{name}(): the loop takes one name; {usage}")
        if not (isinstance(loop.iter, ast.Name) and loop.iter.id == "lines"):
            return self.fail(
                loop.iter, f"{name}(): aggregates range over 'lines' (the claim's lines); {usage}"
            )
        if self.each is not None:
            return self.fail(node, f"{name}(): aggregates cannot be nested")
        self.aggregates += 1
        if self.aggregates > MAX_AGGREGATES:
            return self.fail(
                node, f"{name}(): more than {MAX_AGGREGATES} aggregates in one expression"
            )
        var = loop.target.id
        taken = {*self.env.roots, *self.env.derived, *self.env.constants, "lines", "line"}
        if var in taken:
            return self.fail(
                loop.target,
                f"{name}(): the loop name {var!r} is already a name here; use another, e.g. l",
            )
        self.each = var
        try:
            where: ir.Expr | None = None
            tests = []
            for test_node in loop.ifs:
                test = self.visit(test_node)
                self.expect_bool(test_node, test)
                tests.append(test)
            if tests:
                where = tests[0] if len(tests) == 1 else ir.BoolOp("and", tuple(tests))
            value: ir.Expr | None
            if name == "count":
                value = None
                if not (isinstance(gen.elt, ast.Name) and gen.elt.id == var):
                    self.fail(
                        gen.elt,
                        f"count() counts lines: write count({var} for {var} in lines if ...)",
                    )
            else:
                value = self.visit(gen.elt)
        finally:
            self.each = None
        if self.errors and (_failed(*tests) or (value is not None and _failed(value))):
            return _FAILED
        if value is None:
            return ir.Aggregate("count", None, where, "int")
        if name in ("any", "all"):
            self.expect_bool(gen.elt, value)
            return ir.Aggregate(name, value, where, "bool")
        allowed = ("int", "decimal") if name == "sum" else ("int", "decimal", "date", "str")
        if value.type not in (*allowed, "any"):
            return self.fail(
                gen.elt, f"{name}() needs {' or '.join(allowed)} values, not {value.type}"
            )
        kind = "decimal" if value.type == "any" and name == "sum" else value.type
        return ir.Aggregate(name, value, where, kind)  # type: ignore[arg-type]

    def expect_bool(self, node: ast.AST, value: ir.Expr) -> None:
        if value.type not in ("bool", "any"):
            self.fail(node, f"expected a true/false condition, got {value.type}")


_PER_LINE_IN_AGGREGATE = (
    "an aggregate cannot read the per-line fact {0!r} (of any line): aggregate the line's own"
    " fields, or derive a per-claim fact"
)


def _line_fields(env: Env) -> Mapping[str, str]:
    # A claim rule's env has no `line` root, but its aggregates still read lines.
    return env.roots.get("line", schema.BASE_ROOTS["line"])


def _date_or_text(op: str, left: str, right: str) -> str | None:
    """The type of ``left op right`` where a date or a string is involved, or None if refused."""
    if op == "+" and left == right == "str":
        return "str"
    if op == "-" and left == right == "date":
        return "int"
    if op in ("+", "-") and left == "date" and right == "int":
        return "date"
    if op == "+" and left == "int" and right == "date":
        return "date"
    return None


def _why_not(op: str, left: str, right: str) -> str:
    if "str" in (left, right):
        if left == right == "str":
            return f"strings can only be joined with '+', not '{op}'"
        bad = left if left not in ("int", "decimal") else right
        return f"arithmetic needs numbers, not {bad}"
    if op == "*":
        return "dates cannot be multiplied"
    if op == "+" and left == right == "date":
        return "two dates cannot be added (date - date is the days between them)"
    return (
        f"cannot compute {left} {op} {right}: date - date (days), date + int or date - int (days)"
    )


def _accepts(want: str, got: str) -> bool:
    if want == "any" or got in ("any", "null") or want == got:
        return True
    if schema.numeric(want) and schema.numeric(got):
        return True
    if schema.is_list(want) and schema.is_list(got):
        return _accepts(schema.item_type(want), schema.item_type(got))
    return False


def _join_types(*kinds: str) -> str | None:
    real = {k for k in kinds if k not in ("null", "any")}
    if not real:
        return "null" if "null" in kinds else "any"
    if real <= {"int", "decimal"}:
        return "decimal" if "decimal" in real else "int"
    if len(real) == 1:
        return real.pop()
    return None


def _describe_node(node: ast.AST) -> str:
    names = {
        ast.Lambda: "a lambda",
        ast.Subscript: "indexing",
        ast.Starred: "unpacking",
        ast.NamedExpr: "assignment",
        ast.Dict: "a dict literal",
        ast.JoinedStr: "an f-string",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a generator (only as the argument of count, sum, min, max, any, all)",
        ast.Await: "await",
    }
    return names.get(type(node), f"'{type(node).__name__}'")


def _shape(tree: ast.AST) -> tuple[int, int]:
    """(deepest nesting of expression nodes, number of expression nodes), without recursion."""
    deepest = nodes = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ast.expr):
            depth += 1
            nodes += 1
            deepest = max(deepest, depth)
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))
    return deepest, nodes


def parse_expr(text: str, env: Env, *, want_bool: bool = True) -> ir.Expr:
    """Parse and type-check one expression, or raise :class:`ExprError` listing every problem.

    Each problem is reported once, located in ``text`` as given (see :class:`ExprProblem`).
    """
    if not isinstance(text, str) or not text.strip():
        raise ExprError(["the expression is empty"])
    given = text
    lead = len(text) - len(text.lstrip())  # positions count in the text as given
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise ExprError([f"the expression is {len(text):,} characters long; at most {MAX_TEXT:,}"])
    # A condition may be wrapped over lines (TOML multi-line strings): line breaks and tabs are
    # spaces to the language. One character for one keeps every offset right, and the text is
    # one line for the parser, so an expression over several lines needs no parentheses.
    text = text.replace("\n", " ").replace("\t", " ").replace("\r", " ")

    def located(message: str, start: int, end: int) -> ExprProblem:
        return ExprProblem.at(given, message, lead + start, lead + end)

    try:
        tree = _parse(text)
    except SyntaxError as exc:
        # offset/end_offset count characters from 1, end exclusive; 0 or None where the parser
        # knows no place (an expression that stops short): then the last character.
        start = min(max((exc.offset or len(text)) - 1, 0), len(text) - 1)
        end = exc.end_offset - 1 if exc.end_lineno == exc.lineno and exc.end_offset else start + 1
        end = min(max(end, start + 1), len(text))
        raise ExprError([located(f"syntax error: {exc.msg}", start, end)]) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        # CPython's parser gives up on some hostile texts with these instead of SyntaxError:
        # integers over 4,300 digits (ValueError), nesting beyond its own limits.
        why = "nested too deeply" if isinstance(exc, RecursionError | MemoryError) else str(exc)
        raise ExprError([f"cannot parse: {why}"]) from None
    depth, nodes = _shape(tree.body)
    if depth > MAX_DEPTH:
        raise ExprError([f"the expression nests {depth} deep; at most {MAX_DEPTH}"])
    if nodes > MAX_NODES:
        raise ExprError([f"the expression has {nodes:,} parts; at most {MAX_NODES:,}"])
    checker = _Checker(text, env)
    result = checker.visit(tree.body)
    if want_bool:
        checker.expect_bool(tree.body, result)
    if not checker.errors:
        # Exact arithmetic raises instead of rounding: refuse now any expression that could
        # need more digits than the context holds, rather than fail on some claim later.
        for node, bound in _bounded_nodes(result, env):
            if sum(bound) > MAX_DIGITS:
                what = (
                    f"{node.name}()"
                    if isinstance(node, ir.Call)
                    else f"{node.op}()"
                    if isinstance(node, ir.Aggregate)
                    else f"'{node.op}'"
                )
                source = checker.origin.get(id(node))
                start, end = checker.span(source[1]) if source else (0, len(text))
                checker.errors.append(
                    (
                        f"{what} could need up to {sum(bound)} digits ({bound[0]} before the decimal point, {bound[1]} after); exact arithmetic holds {MAX_DIGITS}: use smaller constants or fewer factors",
                        start,
                        end,
                    )
                )
                break
    if checker.errors:
        raise ExprError([located(*error) for error in checker.errors])
    return result


def names_used(text: str) -> frozenset[str]:
    """The bare names ``text`` mentions (fact roots, ``exists`` arguments, constants, functions).

    What the compiler orders derived facts by before typing any of them. A text that does not
    parse names nothing here; :func:`parse_expr` reports why when the text is type-checked.
    """
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return frozenset()
    flat = text.strip().replace("\n", " ").replace("\t", " ").replace("\r", " ")
    try:
        tree = _parse(flat)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset()
    return frozenset(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))


def _const_bound(value: Decimal | int) -> Bound:
    """Digits a literal needs, as written: (before the decimal point, after it)."""
    if isinstance(value, int):
        return (len(str(abs(value))), 0)
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    if exponent >= 0:
        return (len(digits) + exponent, 0)
    return (max(len(digits) + exponent, 0), -exponent)


def digits_bound(expr: ir.Expr, env: Env) -> Bound:
    """The most digits (before, after the decimal point) a numeric expression's value can have.

    Claim decimals have at most 12 digits before the point and 6 after, counts at most 7 digits
    (the claim parser's bounds); literals count as written; ``a * b`` adds both sides' digits,
    ``a + b`` and ``a - b`` take the larger of each plus one carry digit; a function's result is
    what it declares (:data:`hcpcs_rules.functions.Function.bound`); a derived fact's field
    carries the bound of the expression that computed it.
    """
    return _bounded_nodes(expr, env, collect=False)[-1][1] if _is_numeric(expr) else (0, 0)


def _is_numeric(expr: ir.Expr) -> bool:
    return expr.type in ("int", "decimal")


def _bounded_nodes(expr: ir.Expr, env: Env, *, collect: bool = True) -> list[tuple[ir.Expr, Bound]]:
    """Bounds of the arithmetic and call nodes of ``expr``, children before parents.

    Depth is bounded by :data:`MAX_DEPTH` before this runs, so recursion is safe here.
    """
    out: list[tuple[ir.Expr, Bound]] = []

    def bound(node: ir.Expr) -> Bound:
        if isinstance(node, ir.Const):
            if isinstance(node.value, Decimal | int) and not isinstance(node.value, bool):
                return _const_bound(node.value)
            return (0, 0)
        if isinstance(node, ir.Each):
            return COUNT_BOUND if node.type == "int" else CLAIM_BOUND
        if isinstance(node, ir.Aggregate):
            inner = (0, 0)
            if node.where is not None:
                bound(node.where)
            if node.value is not None:
                inner = bound(node.value)
            if node.op == "count":
                result = COUNT_BOUND
            elif node.op == "sum":
                result = (inner[0] + _SUM_CARRY, inner[1])
            elif _is_numeric(node):
                result = inner
            else:
                return (0, 0)
            out.append((node, result))
            return result
        if isinstance(node, ir.Path):
            if node.derived:
                return env.bounds.get(node.root, {}).get(node.fields[-1], CLAIM_BOUND)
            return COUNT_BOUND if node.type == "int" else CLAIM_BOUND
        if isinstance(node, ir.Arith) and {node.left.type, node.right.type} & {"date", "str"}:
            bound(node.left)
            bound(node.right)
            return _DAYS_BOUND if node.type == "int" else (0, 0)  # date - date, or not numeric
        if isinstance(node, ir.Arith):
            (li, lf), (ri, rf) = bound(node.left), bound(node.right)
            result = (li + ri, lf + rf) if node.op == "*" else (max(li, ri) + 1, max(lf, rf))
            out.append((node, result))
            return result
        if isinstance(node, ir.Cond):
            bound(node.test)
            (bi, bf), (oi, of) = bound(node.body), bound(node.orelse)
            return (max(bi, oi), max(bf, of))
        if isinstance(node, ir.Call):
            args = tuple(bound(a) for a in node.args)
            function = FUNCTIONS[node.name]
            result = function.result_bound(args) if _is_numeric(node) else (0, 0)
            out.append((node, result))
            return result
        if isinstance(node, ir.Compare):
            bound(node.left)
            bound(node.right)
        elif isinstance(node, ir.BoolOp):
            for value in node.values:
                bound(value)
        elif isinstance(node, ir.Not):
            bound(node.value)
        return (0, 0)

    top = bound(expr)
    if not collect:
        return [(expr, top)]
    return out


def parse_template(text: str, env: Env) -> tuple[str | ir.Expr, ...]:
    """Split a message template into literal text and ``{expression}`` parts.

    ``{{`` and ``}}`` stand for literal braces. Expressions are type-checked like conditions;
    their problems are located in the template (``ExprProblem.offset`` counts from its start).
    """
    parts: list[str | ir.Expr] = []
    errors: list[ExprProblem] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i : i + 2] in ("{{", "}}"):
            literal.append(ch)
            i += 2
            continue
        if ch == "}":
            errors.append(ExprProblem.at(text, "unmatched '}' (write }} for a brace)", i, i + 1))
            i += 1
            continue
        if ch == "{":
            end = text.find("}", i)
            if end < 0:
                errors.append(ExprProblem.at(text, "unclosed '{' (write {{ for a brace)", i, i + 1))
                break
            if literal:
                parts.append("".join(literal))
                literal = []
            source = text[i + 1 : end]
            try:
                parts.append(parse_expr(source, env, want_bool=False))
            except ExprError as exc:
                for problem in exc.problems:
                    message = f"in {{{source}}}: {problem.message}"
                    if problem.offset is None or problem.end_offset is None:
                        # About the whole part (empty, too long): the braces and all.
                        errors.append(ExprProblem.at(text, message, i, end + 1))
                    else:
                        start = i + 1 + problem.offset
                        errors.append(
                            ExprProblem.at(text, message, start, i + 1 + problem.end_offset)
                        )
            i = end + 1
            continue
        literal.append(ch)
        i += 1
    if literal:
        parts.append("".join(literal))
    if errors:
        raise ExprError(errors)
    return tuple(parts)
