"""Reading claims from files and streams: strictly, one record at a time, in bounded memory.

:func:`read_claims` turns a path (a ``.json`` or ``.jsonl`` file, a folder of them, or ``-`` for
standard input) into :class:`Record` objects, in input order, each holding a claim's decoded data,
or the reason the record is an invalid claim (:class:`~hcpcs_rules.ClaimError`) or cannot be read
at all (:class:`Unreadable`). Nothing a file contains raises out of it; a read error of the
operating system ends that file with an ``Unreadable`` record, and the next file is read.

What is read:

- **JSON Lines** (``.jsonl``): read line by line as bytes; each line is decoded on its own, so an
  invalid UTF-8 byte or bad JSON makes that line unreadable (``file:line``) and the others are
  still checked.
- **A JSON array** (any other file, or stdin, whose first character is ``[``): streamed element by
  element (``file[index]``); an element that is not JSON is reported and reading resumes after it.
- **One JSON document** (``file``); a file of several lines that is not one document is read as
  JSON Lines, as above.

Bounds, each reported per record: a record (line, array element, document) is at most
``max_record_bytes`` (default 4 MiB: a claim of the largest legal size is a few hundred KB), nested
at most :data:`MAX_DEPTH` deep, and its integers have at most :data:`MAX_INTEGER_DIGITS` digits
(larger ones are reported with their path as out of range, before any conversion). Duplicate keys
in an object are refused (``$.payer: duplicate key``): JSON parsers disagree on which one wins, so
a claim that says two things is not checked as either. Numbers with a fraction or exponent are
decoded as floats, which the claim parser refuses (a binary float is inexact).

Decoding: the json module with hooks is the exact path, the reference for every value and
message. With msgspec installed (the ``fast`` extra) a record is decoded in C first and kept only
when cheap checks prove the exact path would give the same value and nothing to report; else it
is decoded again by the exact path. Output is identical either way. :func:`decode_claim` decodes
one JSON text the same way (what :func:`hcpcs_rules.evaluate_json` uses).

Memory: at most one record plus a 64 KiB read buffer is held at a time (an array reader holds the
undecoded rest of its buffer too), whatever the size of the input.

Progress: a :class:`ReadMeter` given to :func:`read_claims` tells how many bytes of the input the
records handed out so far came from (``bytes_read``), and :func:`input_size` how many there are in
all, for a progress bar's ETA. The meter is read on demand: reading pays one addition per 64 KiB
chunk for it, nothing per record.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from .errors import ClaimError

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "MAX_DEPTH",
    "MAX_INTEGER_DIGITS",
    "ReadMeter",
    "Record",
    "Unreadable",
    "decode_claim",
    "fast_decoder",
    "input_size",
    "read_claims",
    "read_stream",
    "read_text",
]

#: Largest record (a JSON Lines line, an array element, a document) read, in bytes.
DEFAULT_MAX_RECORD_BYTES = 4 * 1024 * 1024
#: Deepest nesting of objects and arrays in a record (a claim needs 4).
MAX_DEPTH = 64
#: Longest JSON integer converted; longer ones are reported as out of range (Python refuses to
#: convert more than 4,300 digits at all, and no claim field comes near 100).
MAX_INTEGER_DIGITS = 100

_CHUNK = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"


class Unreadable(Exception):
    """A record (or a whole file) that is not JSON, not UTF-8, too large, or cannot be read."""


@attrs.frozen
class Record:
    """One record of the input: ``claim`` is its decoded data unless ``problem`` says otherwise.

    ``location`` is ``file:line`` (JSON Lines), ``file[index]`` (array element) or ``file``.
    ``problem``: a ``ClaimError`` (the record is JSON but not an acceptable claim: duplicate keys,
    nesting, huge integers) or an ``Unreadable``.
    """

    location: str
    claim: Any = None
    problem: ClaimError | Unreadable | None = None


class _LongInteger:
    """A JSON integer too long to convert: reported with its path, never turned into an int."""

    __slots__ = ("digits",)

    def __init__(self, text: str) -> None:
        self.digits = len(text.lstrip("-"))


class _DuplicateKeys(dict):
    """An object that named some key twice; ``duplicates`` lists those keys."""

    duplicates: list[str]


class _Decoder:
    """A JSON decoder for one record that notes whether it met a duplicate key or a long integer,
    so that ordinary records skip the walk that finds their paths."""

    def __init__(self) -> None:
        self.marked = False
        self.json = json.JSONDecoder(object_pairs_hook=self._object, parse_int=self._integer)

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        self.marked = True
        marked = _DuplicateKeys(obj)
        seen: set[str] = set()
        marked.duplicates = []
        for key, _ in pairs:
            if key in seen:
                marked.duplicates.append(key)
            seen.add(key)
        return marked

    def _integer(self, text: str) -> int | _LongInteger:
        if len(text) <= MAX_INTEGER_DIGITS:
            return int(text)
        self.marked = True
        return _LongInteger(text)


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_PROBLEMS = 20  # per record: a record of a million duplicate keys needs no million lines


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if _KEY.match(key) else f"{path}[{json.dumps(key)}]"


def _problems(value: Any) -> list[tuple[str, str]]:
    """Duplicate keys, over-long integers and excessive nesting in ``value``, with their paths.

    Iterative: the value may be nested as deep as the decoder allowed.
    """
    problems: list[tuple[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(value, "$", 1)]
    while stack and len(problems) < _MAX_PROBLEMS:
        item, path, depth = stack.pop()
        if isinstance(item, _LongInteger):
            problems.append((path, f"out of range: an integer of {item.digits:,} digits"))
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_DEPTH:
            problems.append((path, f"nested too deeply (more than {MAX_DEPTH} levels)"))
            continue
        if isinstance(item, _DuplicateKeys):
            problems.extend((_key_path(path, k), "duplicate key") for k in item.duplicates)
        children = (
            [(v, _key_path(path, k), depth + 1) for k, v in item.items()]
            if isinstance(item, dict)
            else [(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item)]
        )
        stack.extend(reversed(children))  # depth-first, in document order
    return problems[:_MAX_PROBLEMS]


def _record(location: str, text: str) -> Record:
    """Decode ``text``: one whole JSON value, white space around it allowed."""
    value = _fast_value(text)
    if value is not _EXACT:
        return Record(location, claim=value)
    return _exact_record(location, text)


def _exact_record(location: str, text: str) -> Record:
    value, problem = _decode_exact(text)
    if problem is None:
        return Record(location, claim=value)
    if isinstance(problem, ClaimError):
        return Record(location, problem=problem)
    return Record(location, problem=Unreadable(f"{location}: {problem}"))


def _decode_exact(text: str) -> tuple[Any, ClaimError | str | None]:
    """The reference decoding of one JSON text: (value, None), or (None, the problem): a
    ClaimError (duplicate keys, long integers, nesting) or what makes it not JSON."""
    decoder = _Decoder()
    try:
        value, pos = decoder.json.raw_decode(text, _skip_ws(text, 0))
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {_where(exc, text)}"
    except RecursionError:
        return None, _too_deep_error()
    if _skip_ws(text, pos) < len(text):
        return None, "not JSON: extra data after the value"
    problems = _problems_of(value, text, decoder.marked)
    return (None, ClaimError(problems)) if problems else (value, None)


def _problems_of(value: Any, text: str, marked: bool) -> list[tuple[str, str]]:
    # Deep nesting needs many brackets: a record with few of them and no marker needs no walk.
    if marked or text.count("{") + text.count("[") > MAX_DEPTH:
        return _problems(value)
    return []


def read_text(
    text: str, location: str, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Record:
    """One record given as JSON text rather than read from a file (a table's cell, a message),
    held to the same bounds and checks as a JSON Lines line: at most ``max_record_bytes`` of
    UTF-8, one whole JSON value, no duplicate keys, bounded nesting and integers."""
    # A character is at most 4 bytes of UTF-8: most records need no encoding to be measured.
    if len(text) * 4 > max_record_bytes:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > max_record_bytes:
            return Record(
                location,
                problem=Unreadable(
                    f"{location}: longer than {max_record_bytes:,} bytes ({size:,}); skipped"
                ),
            )
    return _record(location, text)


def _checked(location: str, value: Any, text: str, marked: bool) -> Record:
    problems = _problems_of(value, text, marked)
    if problems:
        return Record(location, problem=ClaimError(problems))
    return Record(location, claim=value)


def _too_deep_error() -> ClaimError:
    # A new one each time: an exception is raised, and a raised one keeps its traceback.
    return ClaimError([("$", f"nested too deeply (more than {MAX_DEPTH} levels)")])


def _too_deep(location: str) -> Record:
    return Record(location, problem=_too_deep_error())


_NOT_WS = re.compile(r"[^ \t\r\n]")


def _skip_ws(text: str, pos: int) -> int:
    match = _NOT_WS.search(text, pos)
    return len(text) if match is None else match.start()


def _where(exc: json.JSONDecodeError, text: str) -> str:
    if "\n" in text.strip():
        return f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
    return f"{exc.msg} (column {exc.colno})"


# ----------------------------------------------------------------------- the fast decoder
#
# msgspec (the optional ``fast`` extra) decodes JSON in C, several times faster than the json
# module with the hooks above, but it keeps the last of two equal keys, takes integers of any size
# and makes floats of what the claim parser must see as floats. So a record it decodes is
# accepted only when cheap checks prove the exact path would give the same value and find nothing
# to report; anything else, rare in real claims, is decoded again by the exact path, which alone
# words every problem. The two paths therefore agree on every input (tests/test_evaluate_json.py
# compares them, with and without msgspec). benchmarks/json_decode.py measured the choice.

try:
    import msgspec
except ImportError:  # the library works without it: every record takes the exact path
    msgspec = None  # type: ignore[assignment]


class _FloatSeen(Exception):
    """Raised inside msgspec at the first float: the exact path decodes that record."""


def _no_float(_text: str) -> Any:
    raise _FloatSeen


#: The fast decoder, or None without msgspec (tests set it to None to run without it).
_fast_decoder: Any = None if msgspec is None else msgspec.json.Decoder(float_hook=_no_float)
_EXACT: Any = object()  # "decode this record with the exact path"
# Every digit becomes "0", every other byte " ": a run of zeros is a run of digits.
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
# A run of 19 digits (in a number, or in a string: that record is merely decoded twice) sends the
# record to the exact path. Integers of up to 100 digits are claim data's to refuse, but no claim
# number has more than 12, and below 19 digits msgspec decodes integers as machine words: its
# arbitrary-size integer code (which had a decoding bug before 0.19) is never relied on.
_LONG_DIGITS = b"0" * 19


def _fast_value(data: str | bytes) -> Any:
    """The value of the JSON text ``data`` if the fast decoder proves it is exactly what
    :func:`_decode_exact` returns and that nothing in it is a problem there; else ``_EXACT``."""
    decoder = _fast_decoder
    if decoder is None:
        return _EXACT
    # Not JSON, a float, a huge number, deep nesting, a lone surrogate in a str: the exact path
    # words every one of them.
    try:
        if isinstance(data, str):
            data = data.encode()
        value = decoder.decode(data)
    except Exception:
        return _EXACT
    return value if _nothing_to_report(value, data) else _EXACT


def _nothing_to_report(value: Any, data: bytes) -> bool:
    """Whether ``value``, decoded from ``data`` without floats, is what the exact path makes of
    ``data`` with nothing to report: no long integer (none of over MAX_INTEGER_DIGITS digits),
    no duplicate key, no nesting deeper than MAX_DEPTH."""
    if _LONG_DIGITS in data.translate(_DIGITS):
        return False
    # Duplicate keys: the decoder keeps one of them, silently. Every ":" of the text separates a
    # key or sits in a string, and the encoder writes every key and every ":" of every string
    # that was kept, so the value encodes to as many ":" as the text has exactly when no key
    # (with its value) was dropped. A colon escaped as \u003a would hide from the count.
    colons = data.count(b":")
    if colons:
        if b"\\u003" in data:
            return False
        try:
            encoded = msgspec.json.encode(value)
        except UnicodeEncodeError:  # a lone surrogate the json module decoded from an escape
            return False
        if encoded.count(b":") != colons:
            return False
    return not (data.count(b"{") + data.count(b"[") > MAX_DEPTH and _deeper_than_allowed(data))


def _deeper_than_allowed(data: bytes) -> bool:
    """Whether the JSON text ``data`` (valid: msgspec read it) nests objects and arrays more than
    MAX_DEPTH deep, read off the text by byte operations in C (a walk of the decoded value costs
    a Python step per value). Escapes go first, so that every '"' left delimits a string; what
    lies between the odd and even quotes is string content, dropped with any brackets in it; the
    brackets left are balanced, and each pass that removes every innermost "[]" pair lowers the
    deepest nesting by exactly one level."""
    if b"\\" in data:
        data = _ESCAPE.sub(b"", data)
    marks = data.translate(_BRACKETS, _NOT_MARKS)
    nesting = b"".join(marks.split(b'"')[::2])
    for _ in range(MAX_DEPTH):
        nesting = nesting.replace(b"[]", b"")
        if not nesting:
            return False
    return True


_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_BRACKETS = bytes.maketrans(b"{}", b"[]")  # an object nests like an array
_NOT_MARKS = bytes(b for b in range(256) if b not in b'{}[]"')


def fast_decoder() -> str | None:
    """The fast JSON decoder in use (``"msgspec 0.23.0"``), or None: every record is decoded by
    the standard library's json module (install the ``fast`` extra for msgspec)."""
    if _fast_decoder is None:
        return None
    return f"msgspec {msgspec.__version__}"


# ------------------------------------------------------------------------ one JSON text in


def decode_claim(data: str | bytes, *, max_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Any:
    """The decoded value of one JSON document, as :func:`read_claims` decodes a record, or a
    :class:`ClaimError`: at ``$`` when the text is not UTF-8 JSON (a byte order mark, invalid
    bytes, bad syntax, more than ``max_bytes`` bytes), at the value's path for duplicate keys,
    over-long integers and deep nesting. What :func:`hcpcs_rules.evaluate_json` reads with."""
    if type(max_bytes) is not int or max_bytes < 1:
        raise ValueError(f"max_bytes must be an integer of at least 1, got {max_bytes!r}")
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if isinstance(data, str):
        if len(data) > max_bytes:  # more characters than bytes allowed: not encoded to say so
            raise ClaimError([("$", f"larger than {max_bytes:,} bytes ({len(data):,} characters)")])
        if data.startswith("\ufeff"):
            raise ClaimError([("$", _BOM_TEXT)])
        try:
            data = data.encode()
        except UnicodeEncodeError as exc:
            char = data[exc.start]
            raise ClaimError(
                [("$", f"not JSON: a lone surrogate {char!r} at {_position(data, exc.start)}")]
            ) from None
    elif not isinstance(data, bytes):
        raise ClaimError(
            [
                (
                    "$",
                    f"not JSON text: {type(data).__name__} (give str or bytes; "
                    "evaluate() takes decoded data)",
                )
            ]
        )
    if len(data) > max_bytes:
        raise ClaimError([("$", f"larger than {max_bytes:,} bytes ({len(data):,} bytes)")])
    if data.startswith(_BOM):
        raise ClaimError([("$", _BOM_TEXT)])
    value = _fast_value(data)
    if value is not _EXACT:
        return value
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = _position(data, exc.start)
        raise ClaimError([("$", f"not UTF-8 (invalid byte at {where})")]) from None
    if not text.strip(" \t\r\n"):
        raise ClaimError([("$", "not JSON: the input is empty")])
    value, problem = _decode_exact(text)
    if problem is None:
        return value
    if isinstance(problem, ClaimError):
        raise problem
    raise ClaimError([("$", problem)])


_BOM_TEXT = "not JSON: starts with a byte order mark (U+FEFF), which JSON text must not have"


def _position(data: str | bytes, index: int) -> str:
    """``column C``, or ``line L, column C`` in a text of several lines (as the reader says)."""
    newline = "\n" if isinstance(data, str) else b"\n"
    if newline not in data:
        return f"column {index + 1}"
    line = data.count(newline, 0, index) + 1
    return f"line {line}, column {index - data.rfind(newline, 0, index)}"


# --------------------------------------------------------------------------------- bytes in


class _ByteSource:
    """A binary stream read in chunks, with bounded lines and a look at the first character."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._buffer = bytearray()
        self._eof = False
        self._taken = 0  # bytes read from the stream so far
        #: The array reader, whose decoded text buffer holds bytes taken but not yet handed out.
        self.reader: _ArrayReader | None = None

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._raw.read(_CHUNK)
        if not data:
            self._eof = True
            return False
        self._buffer += data
        self._taken += len(data)
        return True

    @property
    def consumed(self) -> int:
        """Bytes of the stream that records handed out so far came from (or skipped): what was
        read minus what still waits in the buffers. The array reader's buffer is decoded text,
        so its characters count as bytes: close enough for a progress bar."""
        waiting = len(self._buffer)
        if self.reader is not None:
            waiting += len(self.reader.text) - self.reader.pos
        return max(0, self._taken - waiting)

    def start(self) -> tuple[int | None, int]:
        """Drop a byte order mark and leading white space: (first byte or None, lines skipped)."""
        skipped = 0
        first = True
        while True:
            if not self._buffer and not self._fill():
                return None, skipped
            if first:
                while len(self._buffer) < len(_BOM) and self._fill():
                    pass
                if self._buffer.startswith(_BOM):
                    del self._buffer[: len(_BOM)]
                first = False
                continue
            stripped = self._buffer.lstrip(_WHITESPACE)
            skipped += self._buffer.count(b"\n", 0, len(self._buffer) - len(stripped))
            if stripped:
                self._buffer = bytearray(stripped)
                return self._buffer[0], skipped
            self._buffer.clear()

    def readline(self, limit: int) -> bytes | int | None:
        """The next line without its newline; None at the end; its length if over ``limit``
        (the line is then skipped without being kept)."""
        scanned = 0
        while True:
            newline = self._buffer.find(b"\n", scanned)
            if newline > limit:
                del self._buffer[: newline + 1]
                return newline
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                return line
            if len(self._buffer) > limit:
                return self._discard_line()
            scanned = len(self._buffer)
            if not self._fill():
                if not self._buffer:
                    return None
                if len(self._buffer) > limit:
                    return self._discard_line()
                line = bytes(self._buffer)
                self._buffer.clear()
                return line

    def _discard_line(self) -> int:
        length = 0
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                length += newline
                del self._buffer[: newline + 1]
                return length
            length += len(self._buffer)
            self._buffer.clear()
            if not self._fill():
                return length

    def read(self) -> bytes:
        """The buffered bytes, else the next chunk; b"" at the end."""
        if not self._buffer:
            self._fill()
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


class _TextAsBytes(io.RawIOBase):
    """A text stream (``io.StringIO`` in tests, a text-only stdin) read as UTF-8 bytes.

    Lone surrogates are encoded as they are (``surrogatepass``) so the strict decoder refuses them
    like any other invalid UTF-8.
    """

    def __init__(self, text: Any) -> None:
        self._text = text

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._text.read(size).encode("utf-8", "surrogatepass")


def _binary(stream: Any) -> BinaryIO:
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        return buffer
    if isinstance(stream, io.TextIOBase):
        return _TextAsBytes(stream)  # type: ignore[return-value]
    return stream


# --------------------------------------------------------------------------------- readers


class ReadMeter:
    """How far reading has got, for a progress bar: ``bytes_read`` is the number of input bytes
    the records handed out so far came from, over every stream read with this meter."""

    def __init__(self) -> None:
        self._done = 0  # bytes of the streams already finished
        self._source: _ByteSource | None = None

    @property
    def bytes_read(self) -> int:
        source = self._source
        return self._done + (0 if source is None else source.consumed)

    def _start(self, source: _ByteSource) -> None:
        self._source = source

    def _finish(self, source: _ByteSource) -> None:
        if self._source is source:
            self._done += source.consumed
            self._source = None


def _folder_files(path: Path) -> list[Path]:
    """The files of a folder that :func:`read_claims` reads, in the order it reads them."""
    return sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl"))


def input_size(path_text: str, stdin: Any = None) -> int | None:
    """How many bytes :func:`read_claims` will read for ``path_text``, or None when that cannot
    be known beforehand (a pipe or terminal on ``-``). Never raises: a path that cannot be looked
    at counts as 0 bytes (reading it reports the problem)."""
    if path_text == "-":
        try:
            stream = _binary(stdin)
            info = os.fstat(stream.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None  # a pipe or a terminal: its length is known only at its end
            return max(0, info.st_size - stream.tell())  # tell(): what was already read
        except (AttributeError, OSError, ValueError):  # a test's StringIO has no descriptor
            return None
    try:
        path = Path(path_text)
        files = _folder_files(path) if path.is_dir() else [path]
        return sum(f.stat().st_size for f in files if f.is_file())
    except (OSError, ValueError):
        return 0


def read_claims(
    path_text: str,
    stdin: Any = None,
    *,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    meter: ReadMeter | None = None,
) -> Iterator[Record]:
    """Every record under ``path_text`` (a file, a folder of ``.json``/``.jsonl`` files, or ``-``
    for ``stdin``), in order. A folder's files are read in name order, each on its own: one that
    cannot be read is reported and the next one is read. ``meter``, if given, follows how many
    bytes have been read (see :class:`ReadMeter`)."""
    if path_text == "-":
        yield from read_stream(
            _binary(stdin), "<stdin>", max_record_bytes=max_record_bytes, meter=meter
        )
        return
    path = Path(path_text)
    try:
        is_dir = path.is_dir()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        yield Record(path_text, problem=Unreadable(f"{path_text}: cannot read: {exc}"))
        return
    if not is_dir:
        yield from _read_file(path, max_record_bytes, meter)
        return
    try:
        files = _folder_files(path)
    except OSError as exc:
        yield Record(path_text, problem=Unreadable(f"{path}: cannot read: {_os_text(exc)}"))
        return
    if not files:
        yield Record(
            path_text, problem=Unreadable(f"{path}: no .json or .jsonl files in this folder")
        )
    for file in files:
        yield from _read_file(file, max_record_bytes, meter)


def _os_text(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _read_file(path: Path, max_record_bytes: int, meter: ReadMeter | None) -> Iterator[Record]:
    name = str(path)
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below, after the last record
    except (OSError, ValueError) as exc:
        yield Record(name, problem=Unreadable(f"{name}: cannot read: {_describe_os(exc)}"))
        return
    try:
        yield from read_stream(
            stream,
            name,
            jsonl=path.suffix == ".jsonl",
            max_record_bytes=max_record_bytes,
            meter=meter,
        )
    except OSError as exc:  # a read error part way: what was read stands, the rest is reported
        yield Record(name, problem=Unreadable(f"{name}: cannot read: {_describe_os(exc)}"))
    finally:
        stream.close()


def _describe_os(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def read_stream(
    stream: Any,
    name: str,
    *,
    jsonl: bool = False,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    meter: ReadMeter | None = None,
) -> Iterator[Record]:
    """The records of one binary stream: JSON Lines if ``jsonl``, else an array, a document,
    or lines (see the module docstring)."""
    source = _ByteSource(stream)
    if meter is not None:
        meter._start(source)
    try:
        first, skipped = source.start()
        if jsonl:
            yield from _lines(source, name, skipped + 1, max_record_bytes)
        elif first is None:
            yield Record(name, problem=Unreadable(f"{name}: not JSON: the input is empty"))
        elif first == ord("["):
            yield from _ArrayReader(source, name, max_record_bytes).records()
        else:
            yield from _document_or_lines(source, name, skipped + 1, max_record_bytes)
    finally:
        if meter is not None:
            meter._finish(source)


def _line_record(name: str, number: int, line: bytes | int, max_record_bytes: int) -> Record | None:
    location = f"{name}:{number}"
    if isinstance(line, int):
        return Record(
            location,
            problem=Unreadable(
                f"{location}: longer than {max_record_bytes:,} bytes ({line:,}); skipped"
            ),
        )
    if not line.strip(_WHITESPACE):
        return None
    value = _fast_value(line)  # msgspec checks the UTF-8 itself: no str is made first
    if value is not _EXACT:
        return Record(location, claim=value)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Record(
            location,
            problem=Unreadable(f"{location}: not UTF-8 (invalid byte at column {exc.start + 1})"),
        )
    return _exact_record(location, text)


def _lines(
    source: _ByteSource,
    name: str,
    number: int,
    max_record_bytes: int,
    buffered: list[tuple[int, bytes | int]] = (),  # type: ignore[assignment]
) -> Iterator[Record]:
    for line_number, line in buffered:
        record = _line_record(name, line_number, line, max_record_bytes)
        if record is not None:
            yield record
    while True:
        line = source.readline(max_record_bytes)
        if line is None:
            return
        record = _line_record(name, number, line, max_record_bytes)
        if record is not None:
            yield record
        number += 1


def _document_or_lines(
    source: _ByteSource, name: str, number: int, max_record_bytes: int
) -> Iterator[Record]:
    """One document, or JSON Lines in a file not named ``.jsonl``.

    If the first line is a JSON value on its own, the input is JSON Lines (a file of that one line
    is one document, located by the file name alone). Otherwise lines are gathered up to
    ``max_record_bytes`` and decoded as one document; what is not one document is read as lines.
    """
    first = source.readline(max_record_bytes)
    assert first is not None  # start() saw a character that is not white space
    record = _line_record(name, number, first, max_record_bytes)
    if record is not None and not isinstance(record.problem, Unreadable):
        following = _lines(source, name, number + 1, max_record_bytes)
        second = next(following, None)
        if second is None:
            yield attrs.evolve(record, location=name)
            return
        yield record
        yield second
        yield from following
        return
    buffered: list[tuple[int, bytes | int]] = [(number, first)]
    size = first if isinstance(first, int) else len(first)
    while size <= max_record_bytes:
        line = source.readline(max_record_bytes)
        if line is None:
            break
        number += 1
        buffered.append((number, line))
        size += line if isinstance(line, int) else len(line) + 1
    else:  # too large for one document: it can only be lines
        yield from _lines(source, name, number + 1, max_record_bytes, buffered)
        return
    raw = b"\n".join(line for _, line in buffered if isinstance(line, bytes))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        document = _record(name, text)
        nonblank = sum(1 for _, line in buffered if not isinstance(line, bytes) or line.strip())
        if not isinstance(document.problem, Unreadable) or nonblank < 2:
            yield document
            return
    yield from _lines(source, name, number + 1, max_record_bytes, buffered)


# The json module's C scanner at full speed: hooks for floats and NaN/Infinity only, which
# stop it (those records take the exact path).
_PLAIN = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_float)
_STRUCTURE = re.compile(r'["\[\]{},]')
_IN_STRING = re.compile(r'["\\]')
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)


class _ArrayReader:
    """A JSON array streamed element by element over a sliding text buffer."""

    def __init__(self, source: _ByteSource, name: str, max_record_bytes: int) -> None:
        self.source = source
        source.reader = self
        self.name = name
        self.max_chars = max_record_bytes
        # Undecodable bytes become lone surrogates, so only the element holding one is refused.
        self.decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.text = ""
        self.pos = 0
        self.eof = False

    def more(self) -> bool:
        """Append the next chunk (dropping what lies before ``pos``); False at the end."""
        if self.eof:
            return False
        data = self.source.read()
        self.text = self.text[self.pos :] + self.decoder.decode(data, final=not data)
        self.pos = 0
        self.eof = not data
        return bool(data)

    def peek(self) -> str | None:
        """The next character that is not white space (not consumed), None at the end."""
        while True:
            self.pos = _skip_ws(self.text, self.pos)
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return None

    def records(self) -> Iterator[Record]:
        self.peek()
        self.pos += 1  # the "[" that start() saw
        index = 0
        if self.peek() == "]":
            self.pos += 1
        else:
            while True:
                location = f"{self.name}[{index}]"
                if self.peek() is None:
                    yield self.unreadable(location, "the array ends without ']'")
                    return
                record, resumable = self.element(location)
                yield record
                index += 1
                if not resumable:
                    return
                while (following := self.peek()) not in (",", "]"):
                    if following is None:
                        yield self.unreadable(self.name, "the array ends without ']'")
                        return
                    # Something between elements: report it as one, and resume after it.
                    yield self.unreadable(
                        f"{self.name}[{index}]", f"expected ',' or ']' after element {index - 1}"
                    )
                    index += 1
                    if not self.skip():
                        return
                self.pos += 1
                if following == "]":
                    break
        if self.peek() is not None:
            yield self.unreadable(self.name, "extra data after the array")

    def unreadable(self, location: str, message: str) -> Record:
        return Record(location, problem=Unreadable(f"{location}: not JSON: {message}"))

    def element(self, location: str) -> tuple[Record, bool]:
        """Decode the element at ``pos``: (its record, whether reading can go on after it)."""
        while True:
            fast = self.fast_element(location)
            if fast is not None:
                return fast, True
            decoder = _Decoder()
            try:
                value, end = decoder.json.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                ahead = len(self.text) - self.pos
                if not self.eof and ahead <= self.max_chars:
                    self.grow(ahead)
                    continue
                truncated = exc.pos >= len(self.text) - 1 or exc.msg.startswith("Unterminated")
                message = (
                    f"larger than {self.max_chars:,} bytes; skipped"
                    if truncated and not self.eof
                    else f"not JSON: {exc.msg}"
                )
                record = Record(location, problem=Unreadable(f"{location}: {message}"))
                return record, self.skip()
            except RecursionError:
                return _too_deep(location), self.skip()
            if end == len(self.text) and not self.eof:
                # A number at the end of the buffer may go on in the next chunk: read on.
                self.grow(end - self.pos)
                continue
            raw = self.text[self.pos : end]
            self.pos = end
            if len(raw) > self.max_chars:
                return Record(
                    location,
                    problem=Unreadable(f"{location}: larger than {self.max_chars:,} bytes"),
                ), True
            if _UNDECODABLE.search(raw):
                return Record(location, problem=Unreadable(f"{location}: not UTF-8")), True
            return _checked(location, value, raw, decoder.marked), True

    def fast_element(self, location: str) -> Record | None:
        """The element at ``pos`` decoded fast, or None: the exact path decides.

        msgspec decodes whole texts only, so the json module's C scanner, without the exact
        path's hooks, decodes the element and finds where it ends; the fast path's checks then
        vouch for the value (a float stops the scanner at once)."""
        if _fast_decoder is None:
            return None
        try:
            value, end = _PLAIN.raw_decode(self.text, self.pos)
        except Exception:  # not JSON, cut by the buffer, a float, deep, huge: the exact path says
            return None
        if end - self.pos > self.max_chars or (end == len(self.text) and not self.eof):
            return None  # too large, or a number the next chunk may go on
        try:
            data = self.text[self.pos : end].encode()
        except UnicodeEncodeError:  # bytes that were not UTF-8
            return None
        if not _nothing_to_report(value, data):
            return None
        self.pos = end
        return Record(location, claim=value)

    def grow(self, ahead: int) -> None:
        """Read until at least twice ``ahead`` characters lie ahead (so retries cost O(size))."""
        target = max(2 * ahead, _CHUNK)
        while len(self.text) - self.pos < target and self.more():
            pass

    def skip(self) -> bool:
        """Move ``pos`` past the current element to the ',' or ']' that ends it (True), or to
        the end of the input (False). Only strings and brackets are followed, in bounded memory."""
        depth = 0
        in_string = False
        i = self.pos
        while True:
            pattern = _IN_STRING if in_string else _STRUCTURE
            match = pattern.search(self.text, i)
            if match is None or (match.group() == "\\" and match.end() >= len(self.text)):
                self.pos = len(self.text) if match is None else match.start()
                if not self.more():
                    self.pos = len(self.text)
                    return False
                i = self.pos
                continue
            char = match.group()
            i = match.end()
            if in_string:
                if char == "\\":
                    i += 1
                else:
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in "[{":
                depth += 1
            elif char in "]}":
                if depth == 0 and char == "]":
                    self.pos = match.start()
                    return True
                depth = max(0, depth - 1)
            elif depth == 0:  # a ','
                self.pos = match.start()
                return True
