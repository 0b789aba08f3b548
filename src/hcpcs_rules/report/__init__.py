"""The HTML report of a batch of checked claims, for a billing manager (docs/reports.md).

``hcpcs-rules report RESULTS... -o report.html`` reads the results of ``check --format json``
(JSON Lines) or the Parquet tables of ``check --format parquet`` / Spark, and writes one
self-contained HTML file: totals by status, by payer, the top rules with an example claim each,
findings by month of date of service, and a filterable table of the first findings.

The pieces, in the package's order (load -> aggregate -> render):

- :mod:`.inputs`: results files -> outcomes (JSON) or table rows (Parquet), strictly;
- :mod:`.aggregate`: :class:`Aggregator`, the numbers, in memory bounded by :class:`Caps`;
  :mod:`.arrow` counts a Parquet record batch at once with pyarrow;
- :mod:`.html`: :func:`render_html`, the page.

:class:`HtmlReport` is a batch output sink (:class:`hcpcs_rules.output.Sink`: ``add``, ``close``,
``abort``), for a command that checks claims and writes the report as it goes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..model import Location
from ..reader import DEFAULT_MAX_RECORD_BYTES
from .aggregate import Aggregator, Caps
from .html import render_html
from .inputs import Problem, ReportInputError, TableRows, outcome_from_record, read_inputs

__all__ = [
    "Aggregator",
    "Caps",
    "HtmlReport",
    "ReportInputError",
    "aggregate_inputs",
    "outcome_from_record",
    "render_html",
    "write_html",
]


def aggregate_inputs(
    paths: Iterable[str],
    stdin: Any = None,
    *,
    caps: Caps | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Aggregator:
    """An aggregator fed every result in ``paths`` (JSON Lines results files, folders of them,
    Parquet files or folders of tables, ``-`` for ``stdin``). A path that cannot be read at all
    raises :class:`ReportInputError` before anything is counted; a record that cannot be read is
    counted as a problem (``aggregator.problems``) and the rest goes on."""
    aggregator = Aggregator(caps)
    for item in read_inputs(list(paths), stdin, max_record_bytes=max_record_bytes):
        if isinstance(item, TableRows):
            from .arrow import feed_batch  # only Parquet input needs pyarrow

            feed_batch(aggregator, item)
        elif isinstance(item, Problem):
            aggregator.add_problem(item.location, item.message)
        else:
            aggregator.add(*item)
    return aggregator


def write_html(path: str | os.PathLike[str], html: str) -> None:
    """Write the page to ``path`` whole or not at all: a temporary file beside it, renamed over
    it once written, so a failed run never leaves half a report where the last one was."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent if str(target.parent) else "."
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(html)
        # mkstemp makes the file private (0600); a report gets the mode any new file would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class HtmlReport:
    """A batch output (an :class:`hcpcs_rules.output.Sink`) that writes the HTML report.

    ``add(outcome, input=..., claim_id=..., location=...)`` for each outcome of a run, in order;
    ``close()`` renders and writes ``path`` (whole, or not at all); ``abort()`` (the run was
    interrupted) writes nothing. ``inputs`` names what was checked, for the page's header.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        caps: Caps | None = None,
        title: str = "Claim check report",
        inputs: Iterable[str] = (),
    ) -> None:
        self.path = path
        self.title = title
        self.inputs = list(inputs)
        self.aggregator = Aggregator(caps)

    def add(
        self,
        outcome: Any,
        *,
        input: str | None = None,
        claim_id: str | None = None,
        location: Location | None = None,
    ) -> None:
        self.aggregator.add(outcome, input, claim_id, location)

    def close(self, generated: dt.datetime | None = None) -> None:
        """Write the page. Raises ``OSError`` when it cannot be written (nothing is left half
        written: see :func:`write_html`)."""
        data = self.aggregator.close()
        write_html(
            self.path,
            render_html(data, title=self.title, inputs=self.inputs, generated=generated),
        )

    def abort(self) -> None:
        """The run did not finish: no report (one over part of the claims would mislead)."""
        with contextlib.suppress(RuntimeError):  # already closed
            self.aggregator.close()
