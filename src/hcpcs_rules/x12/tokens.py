"""A streaming X12 segment tokenizer: bytes in, segments with their position out.

Splitting X12 into segments is simple once the delimiters are known, and they are in fixed byte
positions of every ISA: the element separator is byte 4, the repetition separator byte 83
(ISA11), the component separator byte 105 (ISA16) and the segment terminator the byte after it.
Each ISA sets the delimiters for its own interchange, so a file that concatenates interchanges
with different delimiters is read correctly.

Memory is bounded whatever the file size: the input is read in chunks, and a segment longer than
``MAX_SEGMENT_BYTES`` is an error (no real 837P segment comes near it) rather than a reason to
buffer the rest of the file. Line breaks between segments (CR, LF), which many senders add after
the terminator, are skipped, as pyx12's reader skips them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import attrs

__all__ = ["ISA_LENGTH", "MAX_SEGMENT_BYTES", "Delimiters", "Segment", "TokenError", "tokenize"]

#: An ISA is fixed-width: 106 bytes including its terminator.
ISA_LENGTH = 106
#: Longest segment accepted; the 837P's longest (NTE, a 2300 CLM) are far shorter.
MAX_SEGMENT_BYTES = 64 * 1024
_CHUNK = 64 * 1024
_BREAKS = b"\r\n"


@attrs.frozen
class Delimiters:
    element: str
    component: str
    repetition: str
    segment: str


class Segment:
    """One segment: ``elements[0]`` is the segment id; positions are in the file.

    A plain slotted class rather than a frozen attrs one: a file has millions of segments, and
    a frozen class's ``__init__`` costs several times more. Treat it as read-only.
    """

    __slots__ = ("delimiters", "elements", "offset", "ordinal")

    def __init__(
        self, elements: tuple[str, ...], ordinal: int, offset: int, delimiters: Delimiters
    ) -> None:
        self.elements = elements  # elements[0] is the id
        self.ordinal = ordinal  # 1-based, counting every segment of the file
        self.offset = offset  # byte offset of the segment's first byte
        self.delimiters = delimiters

    def __repr__(self) -> str:
        return f"Segment({self.text!r}, ordinal={self.ordinal}, offset={self.offset})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segment):
            return NotImplemented
        return (self.elements, self.ordinal, self.offset, self.delimiters) == (
            other.elements,
            other.ordinal,
            other.offset,
            other.delimiters,
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def id(self) -> str:
        return self.elements[0]

    def element(self, index: int) -> str:
        """Element ``index`` (1-based, as the guide numbers them), "" when absent."""
        return self.elements[index] if index < len(self.elements) else ""

    def components(self, index: int) -> tuple[str, ...]:
        return tuple(self.element(index).split(self.delimiters.component))

    @property
    def text(self) -> str:
        return self.delimiters.element.join(self.elements)


@attrs.frozen
class TokenError:
    """The file cannot be split further (or this piece of it cannot be read)."""

    message: str
    ordinal: int  # the ordinal the next segment would have had
    offset: int
    fatal: bool  # True: nothing after this point can be read


def _isa_delimiters(isa: bytes) -> Delimiters | str:
    try:
        text = isa.decode("ascii")
    except UnicodeDecodeError:
        return "the ISA is not ASCII text"
    element, repetition, component, segment = text[3], text[82], text[104], text[105]
    chosen = (element, component, segment)
    if len(set(chosen)) != 3 or any(c.isalnum() or c == " " for c in chosen):
        return (
            f"the ISA does not give usable delimiters (element {element!r}, component "
            f"{component!r}, segment terminator {segment!r}): they must be three different "
            "characters, neither letters, digits nor spaces; is the ISA 106 bytes long?"
        )
    if text.split(element)[0] != "ISA" or len(text.split(element)) != 17:
        return f"the ISA does not have 16 elements separated by {element!r} in its fixed 106 bytes"
    return Delimiters(element=element, component=component, repetition=repetition, segment=segment)


def tokenize(stream: BinaryIO) -> Iterator[Segment | TokenError]:
    """Yield the segments of ``stream`` (a binary file) in order, or errors where it breaks.

    A fatal error ends the iteration (a file that does not start with an ISA, an ISA without
    usable delimiters, a segment with no terminator within ``MAX_SEGMENT_BYTES``, a file that
    ends inside a segment); a segment that is not valid text is a non-fatal error and reading
    goes on at the next segment.
    """
    buf = b""
    pos = 0  # where the next segment starts in buf
    base = 0  # file offset of buf[0]
    eof = False
    ordinal = 0
    delims: Delimiters | None = None
    term = b""

    def fill() -> bool:
        # Drops what was already read before appending, so buf holds at most one segment and
        # one chunk: slicing per segment instead would copy the chunk for every segment.
        nonlocal buf, pos, base, eof
        if eof:
            return False
        chunk = stream.read(_CHUNK)
        if not chunk:
            eof = True
            return False
        buf, base, pos = buf[pos:] + chunk, base + pos, 0
        return True

    while True:
        # Skip line breaks between segments.
        while True:
            while pos < len(buf) and buf[pos] in _BREAKS:
                pos += 1
            if pos < len(buf) or not fill():
                break
        if pos >= len(buf):
            return
        while len(buf) - pos < 3 and fill():
            pass
        if buf[pos : pos + 3] == b"ISA":
            while len(buf) - pos < ISA_LENGTH and fill():
                pass
            if len(buf) - pos < ISA_LENGTH:
                yield TokenError(
                    f"the file ends inside an ISA ({len(buf) - pos} of its {ISA_LENGTH} bytes)",
                    ordinal + 1,
                    base + pos,
                    True,
                )
                return
            found = _isa_delimiters(buf[pos : pos + ISA_LENGTH])
            if isinstance(found, str):
                yield TokenError(found, ordinal + 1, base + pos, True)
                return
            delims, term = found, found.segment.encode("ascii")
        elif delims is None:
            yield TokenError(
                f"not an X12 file: it must start with an ISA segment, not {buf[pos : pos + 3]!r}",
                1,
                base + pos,
                True,
            )
            return
        else:
            # Fast path: every complete segment in the buffer at once (one C-level split),
            # stopping at the next ISA, whose delimiters may differ.
            last = buf.rfind(term, pos)
            if last >= 0:
                offset = base + pos
                stop = None
                for raw in buf[pos:last].split(term):
                    text = raw.lstrip(_BREAKS)
                    lead = len(raw) - len(text)
                    if text[:3] == b"ISA":
                        stop = offset + lead - base
                        break
                    if len(raw) > MAX_SEGMENT_BYTES:
                        yield TokenError(
                            f"segment {ordinal + 1} is longer than {MAX_SEGMENT_BYTES:,} bytes",
                            ordinal + 1,
                            offset + lead,
                            True,
                        )
                        return
                    ordinal += 1
                    try:
                        decoded = text.decode("ascii")
                    except UnicodeDecodeError as exc:
                        yield TokenError(
                            f"segment {ordinal} is not ASCII text (byte {text[exc.start]:#04x} "
                            f"at offset {offset + lead + exc.start})",
                            ordinal,
                            offset + lead,
                            False,
                        )
                    else:
                        yield Segment(
                            tuple(decoded.split(delims.element)), ordinal, offset + lead, delims
                        )
                    offset += len(raw) + len(term)
                pos = stop if stop is not None else last + len(term)
                continue
        searched = pos
        while (end := buf.find(term, searched, pos + MAX_SEGMENT_BYTES + 1)) < 0:
            searched = max(pos, len(buf) - len(term) + 1)
            if len(buf) - pos > MAX_SEGMENT_BYTES:
                yield TokenError(
                    f"no segment terminator {delims.segment!r} within {MAX_SEGMENT_BYTES:,} "
                    "bytes: the file is not X12 here, or its delimiters changed",
                    ordinal + 1,
                    base + pos,
                    True,
                )
                return
            searched -= pos
            if not fill():
                yield TokenError(
                    "the file is truncated: it ends inside a segment (no segment terminator "
                    f"{delims.segment!r} after {buf[pos : pos + 20]!r}...)",
                    ordinal + 1,
                    base + pos,
                    True,
                )
                return
            searched += pos
        raw = buf[pos:end]
        ordinal += 1
        offset = base + pos
        pos = end + len(term)
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            yield TokenError(
                f"segment {ordinal} is not ASCII text (byte {raw[exc.start]:#04x} at offset "
                f"{offset + exc.start})",
                ordinal,
                offset,
                False,
            )
            continue
        yield Segment(tuple(text.split(delims.element)), ordinal, offset, delims)
