"""Stage 1 of the pipeline: find ruleset files and read what they *say*.

Rulesets are found through the entry-point group ``hcpcs_rules.rulesets``; the built-in ones
register through the same group, so a plugin's ruleset is found exactly like ours. An entry
point names a callable (or a path) giving the ruleset's TOML file.

Reading keeps positions: TOML parsers forget line numbers, so :func:`read_ruleset` maps each rule
(and each of its keys and examples) back to the line it was written on, and each string value of a
rule to where its text starts (:class:`ValueAt`). Every later error can then name file, line and
rule id, and an expression's error the line and column of the offending characters
(:meth:`RulesetText.locate`). Meaning (types, names, strata) is :mod:`hcpcs_rules.compile`'s job.
"""

from __future__ import annotations

import bisect
import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .errors import UNPRINTABLE as _CONTROL
from .errors import RulesetError, RulesetProblem, did_you_mean, printable

__all__ = [
    "ENTRY_POINT_GROUP",
    "MAX_FILE_BYTES",
    "MAX_TOML_DEPTH",
    "Installed",
    "RuleText",
    "RulesetText",
    "ValueAt",
    "discover",
    "library_version_problem",
    "read_ruleset",
    "resolve",
]

ENTRY_POINT_GROUP = "hcpcs_rules.rulesets"


#: The TOML string kinds, by opening delimiter.
STRING_KINDS = {
    '"""': "multiline-basic",
    "'''": "multiline-literal",
    '"': "basic",
    "'": "literal",
}


@attrs.frozen
class ValueAt:
    """Where a string value is written: its kind and where its opening delimiter ends.

    ``offset`` is the character offset in the file just after the opening quote(s); ``line`` and
    ``column`` (from 1) are those of the value's first character, past the line break TOML drops
    right after the opening delimiter of a multi-line string.
    """

    kind: str  # one of STRING_KINDS' values
    offset: int
    line: int
    column: int


@attrs.frozen
class RuleText:
    """One ``[[rule]]`` table as written, with the line of each key.

    ``values`` says where each string value starts (``"when"``, ``"message"``, ``"fields.x"`` for
    a ``[rule.fields]`` entry), for the keys written ``key = "..."`` on a line of their own.
    """

    data: dict[str, Any]
    line: int | None
    key_lines: dict[str, int]
    example_lines: tuple[int, ...]
    values: dict[str, ValueAt] = attrs.field(factory=dict)

    @property
    def id(self) -> str | None:
        value = self.data.get("id")
        return value if isinstance(value, str) else None

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)


@attrs.frozen
class RulesetText:
    """A ruleset file as written: header, constants, example claims and rules."""

    file: str
    header: dict[str, Any]
    constants: dict[str, Any]
    claims: dict[str, Any]
    rules: tuple[RuleText, ...]
    lines: tuple[str, ...]  # the file's text, to quote offending lines
    header_line: int | None
    constant_lines: dict[str, int]
    raw: str = ""  # the file's text as read, to map a string value's characters back to it
    line_starts: tuple[int, ...] = ()  # where each line of ``raw`` starts
    #: ``[tables.<name>]`` as written (hcpcs_rules.tables reads them), and per table the line of
    #: its header (key ``""``) and of each of its keys.
    tables: dict[str, Any] = attrs.field(factory=dict)
    table_lines: dict[str, dict[str, int]] = attrs.field(factory=dict)
    #: the line of each ``[ruleset]`` key (``requires``, ``payers``...), for its problems
    header_lines: dict[str, int] = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        return str(self.header.get("name", ""))

    def locate(self, at: ValueAt, value: str, start: int, end: int) -> tuple[int, int, int] | None:
        """``value[start:end]`` (a string written at ``at``) as (line, column, end column) in
        the file, or None when that cannot be told exactly.

        The string is decoded again from the file, keeping where each character came from: an
        escape (``\\"``, ``\\u00e9``) maps to where it is written, and the line-ending ``\\``
        of a multi-line basic string joins lines, so a character after it maps to its own line.
        The decoded text must equal the value TOML gave, or nothing is claimed. The end column is
        just after the span on the start's line; past the end of that line when the span goes on.
        """
        decoded = _decode(self.raw, at.offset, at.kind)
        if decoded is None or decoded[0] != value or not 0 <= start < end <= len(value):
            return None
        spans = decoded[1]
        line, column = _line_column(self.line_starts, spans[start][0])
        end_line, end_column = _line_column(self.line_starts, spans[end - 1][1])
        if end_line != line:
            end_column = len(self.lines[line - 1].rstrip("\r")) + 1
        return line, column, end_column

    def quote(self, line: int | None) -> str | None:
        if line is None or not 1 <= line <= len(self.lines):
            return None
        return self.lines[line - 1]

    def problem(
        self,
        line: int | None,
        rule_id: str | None,
        message: str,
        column: int | None = None,
        end_column: int | None = None,
    ) -> RulesetProblem:
        return RulesetProblem(
            self.file, line, rule_id, message, self.quote(line), column, end_column
        )


class Installed:
    """The installed rulesets by name, from the ``hcpcs_rules.rulesets`` entry points.

    Listing names loads nothing: an entry point is imported only when its ruleset is asked for
    (:meth:`path`), so one broken plugin cannot stop engines that do not select it. Each load is
    done once per instance.
    """

    def __init__(self) -> None:
        self._points: dict[str, list[metadata.EntryPoint]] = {}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            self._points.setdefault(ep.name, []).append(ep)
        self._paths: dict[str, Path] = {}

    def names(self) -> list[str]:
        return sorted(self._points)

    def __contains__(self, name: object) -> bool:
        return name in self._points

    def path(self, name: str) -> Path:
        """The ruleset file of ``name``, loading its entry point(s); RulesetError if broken."""
        if name in self._paths:
            return self._paths[name]
        found: Path | None = None
        problems: list[RulesetProblem] = []
        for ep in self._points[name]:
            try:
                target = ep.load()
                path = Path(target() if callable(target) else target)
            except Exception as exc:  # a broken plugin must name itself, not crash the host
                problems.append(
                    RulesetProblem(
                        f"<entry point {ep.name} = {ep.value}>",
                        None,
                        None,
                        f"cannot load: {type(exc).__name__}: {exc}",
                    )
                )
                continue
            if found is not None and found != path:
                problems.append(
                    RulesetProblem(
                        str(path),
                        None,
                        None,
                        f"two plugins register a ruleset named {name!r}: {found} and {path}",
                    )
                )
                continue
            found = path
        if problems or found is None:
            raise RulesetError(problems)
        self._paths[name] = found
        return found

    def all_paths(self) -> dict[str, Path]:
        """Every installed ruleset loaded: RulesetError naming every plugin that fails."""
        out: dict[str, Path] = {}
        problems: list[RulesetProblem] = []
        for name in self.names():
            try:
                out[name] = self.path(name)
            except RulesetError as exc:
                problems.extend(exc.problems)
        if problems:
            raise RulesetError(problems)
        return out


def discover() -> dict[str, Path]:
    """Every installed ruleset by name (loads every entry point; see :class:`Installed`)."""
    return Installed().all_paths()


def resolve(
    selection: Iterable[str | os.PathLike[str]] | None,
    installed: Installed | dict[str, Path] | None = None,
) -> list[Path]:
    """Ruleset names (installed) or paths (``.toml`` files) -> files, in the given order.

    Only the entry points of the names selected are loaded; with no selection, all of them.
    """
    if installed is None:
        installed = Installed()
    if isinstance(installed, dict):
        paths = dict(installed)
        installed_names = list(paths)
        load_path = paths.__getitem__
    else:
        installed_names = installed.names()
        load_path = installed.path
    if selection is None:
        if isinstance(installed, Installed):
            return list(installed.all_paths().values())
        return [load_path(name) for name in installed_names]
    if isinstance(selection, str | os.PathLike):
        raise TypeError("rulesets must be a list of names or paths, e.g. rulesets=['j7632']")
    files: list[Path] = []
    problems: list[RulesetProblem] = []
    for item in selection:
        if isinstance(item, os.PathLike) or (isinstance(item, str) and item.endswith(".toml")):
            files.append(Path(item))
        elif isinstance(item, str) and item in installed_names:
            try:
                files.append(load_path(item))
            except RulesetError as exc:
                problems.extend(exc.problems)
        else:
            more = did_you_mean(str(item), installed_names)
            problems.append(
                RulesetProblem(
                    f"<ruleset {item!r}>",
                    None,
                    None,
                    f"no installed ruleset named {item!r}{more}; installed: {', '.join(installed_names) or 'none'}",
                )
            )
    if problems:
        raise RulesetError(problems)
    return files


_TABLE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*(\]\]?)\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\"'-]+)\s*=[ \t]*")


def _positions(
    lines: list[str], raw: str, starts: list[int]
) -> tuple[
    list[dict[str, Any]], int | None, dict[str, int], dict[str, dict[str, int]], dict[str, int]
]:
    """Where each ``[[rule]]`` starts, where each of its keys, examples and string values is;
    where ``[ruleset]`` starts, and where each constant and each ``[ruleset]`` key is.

    ``lines`` is ``raw`` split at each line break. A multi-line string's body is skipped, so a
    line of a condition or a note is never taken for a key or a table.
    """
    rules: list[dict[str, Any]] = []
    header_line: int | None = None
    constant_lines: dict[str, int] = {}
    table_lines: dict[str, dict[str, int]] = {}
    header_lines: dict[str, int] = {}
    section: str | None = None
    subtable = ""
    skip_to = 0  # last line of a multi-line string being skipped
    for number, text in enumerate(lines, start=1):
        if number <= skip_to:
            continue
        table = _TABLE.match(text)
        if table:
            name = table.group(2).replace(" ", "")
            if table.group(1) == "[[" and name == "rule":
                rules.append({"line": number, "keys": {}, "examples": [], "values": {}})
                section = "rule"
            elif name == "rule.example" and rules:
                rules[-1]["examples"].append(number)
                section = "example"
            elif name.startswith("rule.") and rules:
                subtable = name.split(".", 1)[1]
                rules[-1]["keys"].setdefault(subtable, number)
                section = "rule-sub"
            elif name == "ruleset":
                header_line, section = number, "ruleset"
            elif name == "constants":
                section = "constants"
            elif name.startswith("tables.") and name.count(".") == 1:
                section = name
                table_lines.setdefault(name[7:].strip("\"'"), {}).setdefault("", number)
            else:
                section = name
            continue
        key = _KEY.match(text)
        if not key:
            continue
        name = key.group(1).strip("\"'")
        at = _string_at(raw, starts, number, key.end(), text)
        if at is not None and at[0].kind.startswith("multiline"):
            skip_to = at[1]
        if section == "rule" and rules:  # `[rule]` (not `[[rule]]`) starts no rule
            rules[-1]["keys"].setdefault(name, number)
            if at is not None:
                rules[-1]["values"].setdefault(name, at[0])
        elif section == "rule-sub" and rules and at is not None:
            rules[-1]["values"].setdefault(f"{subtable}.{name}", at[0])
        elif section == "constants":
            constant_lines.setdefault(name, number)
        elif section is not None and section.startswith("tables."):
            table_lines.setdefault(section[7:].strip("\"'"), {}).setdefault(name, number)
        elif section == "ruleset":
            header_lines.setdefault(name, number)
    return rules, header_line, constant_lines, table_lines, header_lines


def _line_starts(raw: str) -> list[int]:
    """The offset in ``raw`` where each line starts (lines end at ``\\n``, as TOML counts)."""
    starts = [0]
    index = raw.find("\n")
    while index >= 0:
        starts.append(index + 1)
        index = raw.find("\n", index + 1)
    return starts


def _line_column(starts: Sequence[int], offset: int) -> tuple[int, int]:
    """(line, column) of the character at ``offset``, both from 1, columns in characters;
    ``starts`` are the lines' offsets (:func:`_line_starts`). A binary search: the scanner asks
    once per string value, and a file may hold tens of thousands."""
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def _string_at(
    raw: str, starts: list[int], number: int, column: int, text: str
) -> tuple[ValueAt, int] | None:
    """The string value starting at ``text[column:]`` (line ``number``) and its last line."""
    for delimiter, kind in STRING_KINDS.items():
        if text.startswith(delimiter, column):
            offset = starts[number - 1] + column + len(delimiter)
            decoded = _decode(raw, offset, kind)
            if decoded is None:
                return None  # not a string TOML took: nothing to point into
            _, spans, end = decoded
            first = spans[0][0] if spans else offset
            line, col = _line_column(starts, first)
            return ValueAt(kind, offset, line, col), _line_column(starts, end)[0]
    return None


_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _decode(raw: str, offset: int, kind: str) -> tuple[str, list[tuple[int, int]], int] | None:
    """The TOML string of ``kind`` whose text starts at ``raw[offset]`` (past its opening quotes):
    (value, where each value character is written as (start, end) offsets in ``raw``, the offset
    just past the closing quotes); None if it is not a well-formed string of that kind.

    TOML 1.0's rules: literal strings keep every character; basic strings have escapes; a
    multi-line string drops a line break right after its opening delimiter, reads CRLF as LF,
    and may end with one or two quotes just before its closing delimiter; in a multi-line basic
    string a ``\\`` ending a line removes the line break and all whitespace after it.
    """
    multiline = kind.startswith("multiline")
    literal = kind.endswith("literal")
    quote = "'" if literal else '"'
    closing = quote * (3 if multiline else 1)
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    i = offset
    if multiline:
        for line_break in ("\r\n", "\n"):
            if raw.startswith(line_break, i):
                i += len(line_break)
                break
    while i < len(raw):
        if raw.startswith(closing, i):
            run = len(closing)
            while multiline and run < 5 and raw.startswith(quote, i + run):
                run += 1
            for k in range(run - len(closing)):  # quotes that belong to the text
                chars.append(quote)
                spans.append((i + k, i + k + 1))
            return "".join(chars), spans, i + run
        char = raw[i]
        if char == "\\" and not literal:
            follows = raw[i + 1 : i + 2]
            if multiline:
                j = i + 1
                while j < len(raw) and raw[j] in " \t":
                    j += 1
                if raw.startswith(("\n", "\r\n"), j):  # a line-ending backslash: join lines
                    while j < len(raw) and raw[j] in " \t\r\n":
                        j += 1
                    i = j
                    continue
            if follows in _ESCAPES:
                chars.append(_ESCAPES[follows])
                spans.append((i, i + 2))
                i += 2
                continue
            if follows in ("u", "U"):
                width = 4 if follows == "u" else 8
                digits = raw[i + 2 : i + 2 + width]
                if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    return None
                code = int(digits, 16)
                if code > 0x10FFFF:
                    return None
                chars.append(chr(code))
                spans.append((i, i + 2 + width))
                i += 2 + width
                continue
            return None
        if multiline and raw.startswith("\r\n", i):
            chars.append("\n")
            spans.append((i, i + 2))
            i += 2
            continue
        if char == "\n" and not multiline:
            return None
        chars.append(char)
        spans.append((i, i + 1))
        i += 1
    return None


#: A ruleset file is refused above this size before it is parsed (the shipped j7632 is 70 KB;
#: 10,000 generated rules with two examples each are about 6 MB).
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Tables and arrays nested deeper than this are refused. An example claim inside a rule is the
#: deepest real thing (rule, example, claim, lines, a line, dispensed: about 8).
MAX_TOML_DEPTH = 32

# Where a ruleset's text may hold line breaks and tabs: free text for people (notes, the
# description) and the condition language (a long condition may be wrapped over lines).
# Everything else is one line. Example claims are claim data, judged by the claim parser.
_MULTILINE_KEYS = {"notes", "when", "fields"}


def read_ruleset(path: str | os.PathLike[str]) -> RulesetText:
    """Read one ruleset file, or raise :class:`RulesetError` (bad TOML, wrong layout)."""
    file = str(path)
    try:
        with open(path, "rb") as handle:
            data_bytes = handle.read(MAX_FILE_BYTES + 1)
        if len(data_bytes) > MAX_FILE_BYTES:
            raise RulesetError(
                [RulesetProblem(file, None, None, f"larger than {MAX_FILE_BYTES:,} bytes")]
            )
        raw = data_bytes.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesetError([RulesetProblem(file, None, None, f"cannot read: {exc}")]) from None
    # Lines end at "\n" only, as TOML counts them (splitlines would also break at a form feed or
    # U+2028 in a comment, and number the lines after it differently from tomllib).
    lines = [line.removesuffix("\r") for line in raw.split("\n")]
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        quote = lines[line - 1] if line and line <= len(lines) else None
        raise RulesetError(
            [RulesetProblem(file, line, None, f"not valid TOML: {exc}", quote)]
        ) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        # tomllib recurses once per nesting level and converts integers with int(), which
        # refuses more than 4,300 digits: both are hostile input, not a bug of the caller.
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise RulesetError([RulesetProblem(file, None, None, f"not valid TOML: {why}")]) from None

    starts = _line_starts(raw)
    positions, header_line, constant_lines, table_lines, header_lines = _positions(
        lines, raw, starts
    )
    problems: list[RulesetProblem] = []
    depth = _depth_of(data)
    if depth > MAX_TOML_DEPTH:
        raise RulesetError(
            [
                RulesetProblem(
                    file,
                    None,
                    None,
                    f"tables and arrays nested more than {MAX_TOML_DEPTH} deep",
                )
            ]
        )

    # The library version a ruleset needs is checked before anything else about its layout: a
    # ruleset written for a newer library may use tables and keys this one does not know, and
    # its author should hear "upgrade", not a list of unknown names.
    header_value = data.get("ruleset")
    wanted = header_value.get("hcpcs_rules") if isinstance(header_value, dict) else None
    if isinstance(wanted, str):
        version_problem = library_version_problem(wanted)
        if version_problem is not None:
            line = header_lines.get("hcpcs_rules", header_line)
            quote = lines[line - 1] if line else None
            raise RulesetError([RulesetProblem(file, line, None, version_problem, quote)])

    def table(key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            problems.append(RulesetProblem(file, None, None, f"[{key}] must be a table"))
            return {}
        return value

    header, constants, claims = table("ruleset"), table("constants"), table("claims")
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        problems.append(
            RulesetProblem(file, None, None, "rules must be written as [[rule]] tables")
        )
        raw_rules = []
    tables = table("tables")
    for extra in sorted(set(data) - {"ruleset", "constants", "claims", "rule", "tables"}):
        problems.append(RulesetProblem(file, None, None, f"unknown top-level table {extra!r}"))
    if problems:
        raise RulesetError(problems)

    rules = []
    for index, rule in enumerate(raw_rules):
        where = (
            positions[index]
            if index < len(positions)
            else {"line": None, "keys": {}, "examples": [], "values": {}}
        )
        rules.append(
            RuleText(rule, where["line"], where["keys"], tuple(where["examples"]), where["values"])
        )
    text = RulesetText(
        file,
        header,
        constants,
        claims,
        tuple(rules),
        tuple(lines),
        header_line,
        constant_lines,
        raw,
        tuple(starts),
        tables,
        table_lines,
        header_lines,
    )
    problems = _control_characters(text)
    if problems:
        raise RulesetError(problems)
    return text


def _depth_of(data: Any) -> int:
    """How deeply tables and arrays nest in ``data``, without recursing (the input is hostile)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_TOML_DEPTH:
            return depth  # deep enough to refuse; no need to walk the rest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _strings(value: Any) -> Iterator[str]:
    """Every string in ``value``, keys included (depth is already bounded)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield key
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def _control_characters(text: RulesetText) -> list[RulesetProblem]:
    """A problem for every ruleset string holding a control character (see errors.printable).

    Ruleset strings end up in findings, error messages, generated documentation and terminals;
    none of them has a use for ESC, NUL or a bidirectional override. Line breaks and tabs are
    allowed where a text is naturally written over several lines (``_MULTILINE_KEYS`` and the
    ruleset's description). Example claims are claim data and are left to the claim parser.
    """
    problems: list[RulesetProblem] = []

    def check(value: Any, where: str, line: int | None, rule_id: str | None, multiline: bool):
        for string in _strings(value):
            bad = _CONTROL.search(string)
            if bad is None:
                continue
            char = bad.group()
            if multiline and char in "\n\t":
                rest = _CONTROL.search(string.replace("\n", " ").replace("\t", " "))
                if rest is None:
                    continue
                char = rest.group()
            problems.append(
                text.problem(
                    line,
                    rule_id,
                    f"{where}: control character {char!r} in {printable(repr(string[:80]))}"
                    + ("" if multiline else " (this text is one line: no line breaks or tabs)"),
                )
            )

    for key, value in text.header.items():
        check(key, "[ruleset] key", text.header_line, None, False)
        check(value, f"[ruleset] {key}", text.header_line, None, key == "description")
    for key, value in text.constants.items():
        line = text.constant_lines.get(key)
        check(key, "constant name", line, None, False)
        check(value, f"constant {key}", line, None, False)
    for name in text.claims:
        check(name, "[claims] name", None, None, False)
    for rule in text.rules:
        rule_id = rule.data.get("id") if isinstance(rule.data.get("id"), str) else None
        for key, value in rule.data.items():
            line = rule.line_of(str(key))
            check(key, "rule key", line, rule_id, False)
            if key == "example" and isinstance(value, list):
                for index, example in enumerate(value):
                    if not isinstance(example, dict):
                        continue
                    where = rule.example_lines[index] if index < len(rule.example_lines) else line
                    for ex_key, ex_value in example.items():
                        check(ex_key, "example key", where, rule_id, False)
                        if ex_key == "claim":
                            continue  # claim data: the claim parser's business
                        if ex_key == "set" and isinstance(ex_value, dict):
                            check(list(ex_value), "example set path", where, rule_id, False)
                            continue
                        check(ex_value, f"example {ex_key}", where, rule_id, False)
                continue
            check(value, str(key), line, rule_id, key in _MULTILINE_KEYS)
    return problems


#: Longest ``hcpcs_rules = "..."`` specifier read (a real one is a few clauses).
MAX_SPECIFIER = 200


def running_version() -> str:
    """The installed hcpcs_rules version, as ``hcpcs_rules.__version__`` gives it (read from the
    distribution's metadata here: loading happens while the package itself is imported)."""
    try:
        return metadata.version("hcpcs-rules")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "0+unknown"


def library_version_problem(specifier: str) -> str | None:
    """What is wrong with a ruleset's ``hcpcs_rules = "..."`` against the running library, if
    anything: a specifier PEP 440 cannot read, or a version it excludes (naming both).

    Runs before the file's strings are screened for control characters: what it quotes is
    either a ``repr`` or the specifier as packaging normalised it (no whitespace or controls).
    """
    if len(specifier) > MAX_SPECIFIER:
        return (
            f"hcpcs_rules is a specifier of {len(specifier):,} characters; at most {MAX_SPECIFIER}"
        )
    try:
        wanted = SpecifierSet(specifier)
    except InvalidSpecifier:
        return (
            f"hcpcs_rules = {specifier!r} is not a version specifier"
            ' (PEP 440, e.g. ">=0.2" or ">=0.2,<2")'
        )
    running = running_version()
    try:
        have = Version(running)
    except InvalidVersion:
        return None  # a source tree without metadata ("0+unknown" parses; this is defensive)
    # A development or pre-release library still satisfies ">=0.2" once it is 0.2 or later.
    if not wanted.contains(have, prereleases=True):
        return (
            f"this ruleset needs hcpcs_rules {wanted}, but hcpcs_rules {running} is installed:"
            " upgrade hcpcs-rules, or use a version of the ruleset made for this one"
        )
    return None
