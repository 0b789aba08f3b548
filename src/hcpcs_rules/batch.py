"""Many claims at once: :func:`evaluate_many`.

Results come out in input order, one per claim, never fewer: a :class:`~hcpcs_rules.Result`, the
claim's :class:`~hcpcs_rules.ClaimError`, or an :class:`~hcpcs_rules.EvaluationFailure` when
evaluating that claim failed inside the library, a plugin function or a worker process. Memory stays
bounded whatever the number of claims: input is read lazily in chunks and at most a few chunks per
worker are in flight.

With ``workers > 1`` each worker process builds the caller's engine once, from its
:class:`~hcpcs_rules.engine.EngineConfig` (compiling is per process, never per claim), so workers
check exactly what the caller's engine checks. Worker processes are started with ``spawn``: they
import the modules that registered condition functions outside ``hcpcs_rules`` before building, so a
function registered at import time of a module is there; one registered inside ``main()`` is not,
and then :class:`~hcpcs_rules.errors.WorkerError` says so instead of quietly running serially.

A worker that dies (killed by a signal, out of memory) is replaced. The chunks it may have been
evaluating are run again one at a time, so the next death names its chunk; a chunk that kills a
worker on its own is split into single claims, each tried ``1 + max_retries`` times, and a claim
that kills every worker it meets becomes an ``EvaluationFailure`` (``error_type="WorkerDied"``).
Each death is logged as a warning on the ``hcpcs_rules`` logger.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import pickle
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from typing import Any

import attrs

from .engine import Engine, EngineConfig, default_engine, evaluate_outcome
from .errors import ClaimError, WorkerError
from .failure import EvaluationFailure, claim_id_of
from .functions import Function
from .model import Result

__all__ = ["DEFAULT_MAX_RETRIES", "evaluate_many"]

_log = logging.getLogger(__name__)

#: How many more times a single claim is tried after it killed its worker process.
DEFAULT_MAX_RETRIES = 2

Outcome = Result | ClaimError | EvaluationFailure


# ----------------------------------------------------------------------------- in a worker

#: Engines built in this process from a config (a worker process of evaluate_many, or a Spark or
#: Dask worker: hcpcs_rules.partition), most recently used last. Bounded: a long-lived worker
#: that meets many configurations (a notebook re-running with edited policies) must not keep
#: every engine it ever built; a dropped engine is rebuilt on its next use.
_worker_engines: OrderedDict[EngineConfig, Engine] = OrderedDict()
_WORKER_ENGINES_KEPT = 4
_worker_engines_lock = threading.Lock()  # Dask's threaded scheduler shares one process


@attrs.frozen
class _BuildFailed:
    """A worker could not build the engine; the parent raises WorkerError with this text."""

    message: str


def _worker_engine(config: EngineConfig, imports: tuple[str, ...]) -> Engine:
    """The engine of ``config`` in this process, built on first use (after importing the plugin
    modules ``imports`` names, see :func:`_plugin_modules`)."""
    with _worker_engines_lock:
        engine = _worker_engines.get(config)
        if engine is not None:
            _worker_engines.move_to_end(config)
            return engine
    for name in imports:
        importlib.import_module(name)
    # The caller's engine already ran the examples; the same rules give the same answers.
    # Built outside the lock: two threads may both build it, and one copy is kept.
    built = config.build(check_examples=False)
    with _worker_engines_lock:
        engine = _worker_engines.setdefault(config, built)
        _worker_engines.move_to_end(config)
        while len(_worker_engines) > _WORKER_ENGINES_KEPT:
            # Not closed: another thread may still be evaluating with it; a durable engine's
            # ruleset is freed when the engine is collected.
            _worker_engines.popitem(last=False)
    return engine


class _CannotTravel:
    """A chunk that could not be pickled here or unpickled in the worker: evaluated locally."""


def _work(
    config: EngineConfig, imports: tuple[str, ...], start: int, payload: bytes, explain: bool
) -> list[Outcome] | _BuildFailed | _CannotTravel:
    try:
        engine = _worker_engine(config, imports)
    except Exception as exc:  # reported by the parent as a WorkerError, with this text
        return _BuildFailed(f"{type(exc).__name__}: {exc}")
    try:
        # Unpickled here, not by the pool: a claim whose class the worker cannot import would
        # otherwise kill the worker process before any code of ours runs.
        chunk = pickle.loads(payload)
    except Exception:
        return _CannotTravel()
    return [evaluate_outcome(engine, claim, explain, start + i) for i, claim in enumerate(chunk)]


def _plugin_modules(functions: Mapping[str, Function]) -> tuple[str, ...]:
    """Modules outside hcpcs_rules whose import registered (process-wide) condition functions
    that ``functions``, an Engine's table, holds.

    Spawned workers import them before building so that those functions exist there too.
    Functions from ``hcpcs_rules.functions`` entry points and ``Engine(functions=...)``
    providers need nothing here: the worker's build finds and calls them again.
    ``__main__`` is left out: spawn already re-runs the main script's top level in each worker.
    """
    modules = set()
    for function in functions.values():
        module = getattr(function.impl, "__module__", None)
        if (
            isinstance(module, str)
            and function.origin in ("", module)  # registered process-wide, at import
            and module not in ("__main__", "__mp_main__")
            and module != "hcpcs_rules"
            and not module.startswith("hcpcs_rules.")
        ):
            modules.add(module)
    return tuple(sorted(modules))


# ----------------------------------------------------------------------------- in the caller


def evaluate_many(
    claims: Iterable[Any],
    *,
    workers: int | None = 1,
    rulesets: Iterable[str | os.PathLike[str]] | None = None,
    backend: str | None = None,
    explain: bool = False,
    chunksize: int = 256,
    engine: Engine | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> Iterator[Outcome]:
    """Evaluate ``claims`` lazily, yielding one outcome per claim, in input order.

    Each outcome is a :class:`Result`, the claim's :class:`ClaimError`, or an
    :class:`EvaluationFailure` (evaluating that claim failed: a rule's plugin function raised, the
    backend failed, its worker process kept dying). The batch always goes on.

    ``engine``: the Engine to use (its configuration is rebuilt in each worker); otherwise one is
    built for ``rulesets``/``backend`` (or the default engine). ``workers``: 1 evaluates in this
    process; ``N > 1`` uses N worker processes; ``None`` or 0 one per CPU. ``max_retries``: how many
    more times a claim that killed its worker process is tried before it is reported as failed.

    Ruleset errors are raised before the first result; :class:`WorkerError` when worker processes
    cannot build the engine this process built.
    """
    if workers is None or workers <= 0:
        workers = os.cpu_count() or 1
    if engine is None:
        selection = list(rulesets) if rulesets is not None else None
        engine = (
            default_engine()
            if selection is None and backend is None
            else Engine(selection, **({"backend": backend} if backend else {}))
        )
    if workers == 1:
        yield from engine.evaluate_many(claims, explain=explain)
        return
    yield from _Batch(engine, workers, explain, chunksize, max(0, max_retries)).run(claims)


def _cannot_build(failed: _BuildFailed) -> WorkerError:
    # The advice goes on a line of its own: a ruleset error ends with its quoted line and caret.
    return WorkerError(
        "worker processes cannot build the engine this process built: "
        f"{failed.message}\nCondition functions must be registered when their module is "
        "imported (not inside main() or another function), so that worker processes "
        "register them too; or use workers=1."
    )


_DIED = object()  # a worker process died while running the job


class _Job:
    __slots__ = ("claims", "future", "results", "start")

    def __init__(self, start: int, claims: list[Any]) -> None:
        self.start = start
        self.claims = claims
        self.future: Future | None = None
        self.results: list[Outcome] | None = None


class _Batch:
    """The worker pool and the bookkeeping that makes it lose no claim."""

    def __init__(
        self, engine: Engine, workers: int, explain: bool, chunksize: int, max_retries: int
    ) -> None:
        self.engine = engine  # also evaluates, here, chunks that cannot be pickled
        self.config = engine.config
        self.imports = _plugin_modules(engine.functions)
        self.workers = workers
        self.explain = explain
        self.chunksize = max(1, chunksize)
        self.max_retries = max_retries
        self.context = multiprocessing.get_context("spawn")  # no forked C engine state or locks
        self.executor: ProcessPoolExecutor | None = None
        self.replacements = 0

    def run(self, claims: Iterable[Any]) -> Iterator[Outcome]:
        iterator = iter(claims)
        pending: deque[_Job] = deque()
        start = 0
        try:
            while True:
                while len(pending) < 2 * self.workers:
                    chunk = list(islice(iterator, self.chunksize))
                    if not chunk:
                        break
                    job = _Job(start, chunk)
                    start += len(chunk)
                    job.future = self._submit(job.start, job.claims)
                    pending.append(job)
                if not pending:
                    return
                job = pending[0]
                if job.results is None:
                    self._collect(job, pending)
                pending.popleft()
                yield from job.results or ()
        finally:
            self._close()

    def _collect(self, job: _Job, pending: deque[_Job]) -> None:
        assert job.future is not None
        outcome = self._outcome(job.future, job.start, job.claims)
        if outcome is _DIED:
            self._recover(pending)
        else:
            job.results = outcome  # type: ignore[assignment]

    def _outcome(self, future: Future, start: int, claims: list[Any]) -> Any:
        try:
            outcome = future.result()
        except BrokenProcessPool:
            return _DIED
        except Exception:
            # The answer could not travel back: evaluate the chunk here, with the same engine,
            # one claim at a time, so each claim still gets its own answer.
            return self._local(start, claims)
        if isinstance(outcome, _BuildFailed):
            raise _cannot_build(outcome)
        if isinstance(outcome, _CannotTravel):
            return self._local(start, claims)
        return outcome

    def _local(self, start: int, claims: list[Any]) -> list[Outcome]:
        return [
            evaluate_outcome(self.engine, claim, self.explain, start + i)
            for i, claim in enumerate(claims)
        ]

    def _recover(self, pending: deque[_Job]) -> None:
        """A worker died: replace the pool and rerun, one at a time, every unanswered chunk."""
        suspects = [job for job in pending if job.results is None]
        claims = sum(len(job.claims) for job in suspects)
        _log.warning(
            "a worker process died (killed by a signal or out of memory); replacing it and "
            "retrying the %d claim(s) that were in flight, one chunk at a time",
            claims,
        )
        self._replace()
        for job in suspects:
            assert job.future is not None
            if job.future.done() and not job.future.cancelled() and not job.future.exception():
                job.results = self._outcome(job.future, job.start, job.claims)
            else:
                job.results = self._run_alone(job.start, job.claims)

    def _run_alone(self, start: int, claims: list[Any]) -> list[Outcome]:
        if len(claims) > 1:
            outcome = self._try_alone(start, claims)
            if outcome is not _DIED:
                return outcome
            _log.warning(
                "the chunk of claims %d-%d killed a worker process on its own; "
                "retrying its claims one by one",
                start,
                start + len(claims) - 1,
            )
        results: list[Outcome] = []
        for i, claim in enumerate(claims):
            results.extend(self._run_single(start + i, claim))
        return results

    def _run_single(self, index: int, claim: Any) -> list[Outcome]:
        tries = 1 + self.max_retries
        for _ in range(tries):
            outcome = self._try_alone(index, [claim])
            if outcome is not _DIED:
                return outcome
        claim_id = claim_id_of(claim)
        _log.warning(
            "claim %d (id %r) killed its worker process %d time(s); reported as an "
            "EvaluationFailure",
            index,
            claim_id,
            tries,
        )
        return [
            EvaluationFailure(
                index=index,
                claim_id=claim_id,
                error_type="WorkerDied",
                message=(
                    f"the worker process evaluating this claim died {tries} time(s) "
                    "(killed by a signal, or out of memory)"
                ),
            )
        ]

    def _try_alone(self, start: int, claims: list[Any]) -> Any:
        outcome = self._outcome(self._submit(start, claims), start, claims)
        if outcome is _DIED:
            self._replace()
        return outcome

    def _submit(self, start: int, claims: list[Any]) -> Future:
        if self.executor is None:
            self.executor = ProcessPoolExecutor(self.workers, mp_context=self.context)
            if self.replacements:
                self._probe()
        try:
            payload = pickle.dumps(claims, pickle.HIGHEST_PROTOCOL)
        except Exception:  # an unpicklable claim: this chunk is evaluated here (see _outcome)
            future: Future = Future()
            future.set_result(_CannotTravel())
            return future
        try:
            return self.executor.submit(
                _work, self.config, self.imports, start, payload, self.explain
            )
        except BrokenProcessPool as exc:
            # A worker died while this chunk was being handed over (the pool breaks for every
            # later submit): the chunk's answer is "the pool died", and recovery reruns it.
            future = Future()
            future.set_exception(exc)
            return future

    def _probe(self) -> None:
        """A replacement pool must at least start: else every claim would be blamed in turn."""
        assert self.executor is not None
        future = self.executor.submit(_work, self.config, self.imports, 0, pickle.dumps([]), False)
        try:
            outcome = future.result()
        except BrokenProcessPool:
            raise WorkerError(
                "worker processes die while starting (before evaluating any claim)"
            ) from None
        if isinstance(outcome, _BuildFailed):
            raise _cannot_build(outcome)

    def _replace(self) -> None:
        self._close()
        self.replacements += 1

    def _close(self) -> None:
        if self.executor is not None:
            executor, self.executor = self.executor, None
            executor.shutdown(wait=True, cancel_futures=True)
