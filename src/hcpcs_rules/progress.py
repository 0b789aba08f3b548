"""The progress bar of long ``check`` runs: claims per second, and an ETA from the bytes read.

The bar is drawn by tqdm on standard error, and only for someone watching it: standard error is a
terminal, ``--quiet`` is not given, the claims' own output is not scrolling past on the same
terminal (standard output is not a terminal, or a table format sends only a summary line there),
and the run has lasted :data:`DELAY` seconds (short runs never show one). It never writes to
standard output.

How far the run has got is measured in bytes, not claims: the number of claims in a file is only
known at its end, its size at once. The bar's percentage is the share of the input's bytes the
claims checked so far came from; its ETA is the claims still expected (claims so far scaled by
bytes left) at the current rate, which is the time the bytes left take at the current pace. On a
stream whose length is unknown (a pipe on ``-``) it shows the count and the rate only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["DELAY", "Progress", "wanted"]

#: Seconds a run lasts before its bar appears.
DELAY = 2.0
#: Least seconds between two redraws.
REDRAW = 0.5

_WITH_TOTAL = "{desc}: {percentage:3.0f}%|{bar}| {n:,} claims [{elapsed}<{remaining}, {rate_fmt}]"
_WITHOUT_TOTAL = "{desc}: {n:,} claims [{elapsed}, {rate_fmt}]"


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):  # no such method, or a closed stream
        return False


def wanted(out: TextIO, err: TextIO, *, quiet: bool, summary_only: bool) -> bool:
    """Whether a run should show a bar: see the module docstring. ``summary_only``: standard
    output gets a summary line and nothing per claim (the table formats)."""
    if quiet or not _isatty(err):
        return False
    return summary_only or not _isatty(out)


class Progress:
    """Counts claims; draws the bar when ``enabled``.

    ``total_bytes``: the input's size, None when it cannot be known; ``position()``: how many of
    those bytes the claims counted so far came from. Call :meth:`advance` once per claim (checked
    or refused) and :meth:`close` at the end, before the summary is printed. :attr:`stream` is
    standard error for messages during the run: they are written above the bar, not through it.
    """

    def __init__(
        self,
        err: TextIO,
        *,
        enabled: bool,
        total_bytes: int | None = None,
        position: Callable[[], int] | None = None,
        delay: float | None = None,
    ) -> None:
        self.claims = 0
        self._err = err
        self._total_bytes = total_bytes if position is not None and total_bytes else None
        self._position = position
        self._bar: Any = None
        self.stream: TextIO = err
        if not enabled:
            return
        from tqdm import tqdm

        class _Bar(tqdm):  # type: ignore[misc, type-arg]
            # No monitor thread: it only tunes redraw frequency, and a thread per command that
            # outlives the bar is not worth it.
            monitor_interval = 0

        self._bar = _Bar(
            desc="check",
            unit=" claims",
            unit_scale=True,
            total=None,
            file=err,
            delay=DELAY if delay is None else delay,
            mininterval=REDRAW,
            leave=False,  # the summary line says how it ended
            dynamic_ncols=True,
            bar_format=_WITH_TOTAL if self._total_bytes else _WITHOUT_TOTAL,
        )
        self.stream = _AboveBar(err, self._bar)  # type: ignore[assignment]

    @property
    def shown(self) -> bool:
        """Whether the bar is drawn (it is, from its delay on)."""
        bar = self._bar
        return bar is not None and not bar.disable and bar.last_print_t >= bar.start_t + bar.delay

    def advance(self) -> None:
        """One more claim."""
        self.claims += 1
        bar = self._bar
        if bar is None:
            return
        if self._total_bytes is not None:
            done = self._position()  # type: ignore[misc]
            if done > 0:
                # The claims the whole input holds, as the bytes read so far suggest.
                bar.total = max(self.claims, self.claims * self._total_bytes // done)
        bar.update(1)

    def close(self) -> None:
        """Take the bar off the terminal (it leaves no line behind)."""
        bar, self._bar = self._bar, None
        if bar is not None:
            self.stream.flush()
            with contextlib.suppress(Exception):  # stderr gone: the run's result still stands
                bar.close()
            self.stream = self._err


class _AboveBar:
    """Standard error while a bar may be on it: each complete line is written above the bar (the
    bar is cleared, the line written, the bar redrawn), so neither garbles the other."""

    def __init__(self, err: TextIO, bar: Any) -> None:
        self._err = err
        self._bar = bar
        self._pending = ""

    @property
    def encoding(self) -> str | None:
        return getattr(self._err, "encoding", None)

    def isatty(self) -> bool:
        return _isatty(self._err)

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            lines, _, self._pending = self._pending.rpartition("\n")
            self._emit(lines + "\n")
        return len(text)

    def _emit(self, text: str) -> None:
        bar = self._bar
        shown = not bar.disable and bar.last_print_t >= bar.start_t + bar.delay
        if shown:
            bar.clear()
        self._err.write(text)
        if shown:
            bar.refresh()

    def flush(self) -> None:
        if self._pending:
            text, self._pending = self._pending, ""
            self._emit(text)
        self._err.flush()
