"""Many claims at once: :func:`evaluate_many`.

Results come out in input order. Memory stays bounded whatever the number of claims: input is
read lazily in chunks and at most a few chunks per worker are in flight. With ``workers > 1`` each
worker process builds its own Engine once (compiling is per process, never per claim) and the GIL
stops mattering. An invalid claim yields its :class:`~hcpcs_rules.errors.ClaimError` in its place
and the batch goes on.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from typing import Any

from .errors import ClaimError
from .model import Result

__all__ = ["evaluate_many"]

_worker_engine = None  # one per worker process, built by _init_worker


def _init_worker(rulesets: list[Any] | None, backend: str | None) -> None:
    global _worker_engine
    from .engine import Engine

    _worker_engine = Engine(
        rulesets, **({"backend": backend} if backend else {}), check_examples=False
    )


def _evaluate_one(engine: Any, claim: Any, explain: bool) -> Result | ClaimError:
    try:
        return engine.evaluate(claim, explain=explain)
    except ClaimError as exc:
        return exc


def _work(chunk: list[Any], explain: bool) -> list[Result | ClaimError]:
    return [_evaluate_one(_worker_engine, claim, explain) for claim in chunk]


def evaluate_many(
    claims: Iterable[Any],
    *,
    workers: int | None = 1,
    rulesets: Iterable[str | os.PathLike[str]] | None = None,
    backend: str | None = None,
    explain: bool = False,
    chunksize: int = 256,
    engine: Any = None,
) -> Iterator[Result | ClaimError]:
    """Evaluate ``claims`` lazily, yielding a Result (or the claim's ClaimError) for each, in order.

    ``workers``: 1 evaluates in this process (with ``engine``, or the default engine, or one built
    for ``rulesets``/``backend``); ``N > 1`` uses N worker processes; ``None`` or 0 uses one per
    CPU. Ruleset errors are raised before the first result.
    """
    from .engine import Engine, default_engine

    if workers is None or workers <= 0:
        workers = os.cpu_count() or 1
    rulesets = list(rulesets) if rulesets is not None else None
    if workers == 1:
        if engine is None:
            engine = (
                default_engine()
                if rulesets is None and backend is None
                else Engine(rulesets, **({"backend": backend} if backend else {}))
            )
        for claim in claims:
            yield _evaluate_one(engine, claim, explain)
        return
    # Build one engine here first: a broken ruleset fails once, clearly, not in every worker.
    Engine(rulesets, **({"backend": backend} if backend else {}))
    context = multiprocessing.get_context("spawn")  # no forked copies of C engine state or locks
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(rulesets, backend)
    ) as pool:
        iterator = iter(claims)
        pending: deque = deque()
        while True:
            chunk = list(islice(iterator, chunksize))
            if chunk:
                pending.append((chunk, pool.submit(_work, chunk, explain)))
            if pending and (not chunk or len(pending) >= 2 * workers):
                done_chunk, future = pending.popleft()
                try:
                    yield from future.result()
                except Exception:
                    # A chunk that could not travel (an unpicklable claim): evaluate it here, one
                    # claim at a time, so each claim still gets its own answer.
                    local = engine or Engine(
                        rulesets, **({"backend": backend} if backend else {}), check_examples=False
                    )
                    engine = local
                    for claim in done_chunk:
                        yield _evaluate_one(local, claim, explain)
            if not chunk and not pending:
                return
