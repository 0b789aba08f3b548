"""The plugin registry: which rulesets are installed, and which functions an Engine may call.

Plugins reach it through two entry-point groups:

- ``hcpcs_rules.rulesets``: ``name = "module:callable"``, the callable returning the ruleset's
  TOML file (:mod:`hcpcs_rules.load` finds and reads it);
- ``hcpcs_rules.functions``: ``name = "module:callable"``, under the *ruleset's* name, the
  callable taking a :class:`FunctionTable` and registering that ruleset's condition functions
  on it. It is called only when an Engine selects the ruleset (or a ruleset requiring it), once
  per Engine build, so a broken plugin breaks only the engines that use it, and a new Engine
  built after ``importlib.reload`` of the plugin's module calls the new code.

An Engine's functions (:func:`build_functions`) are, in order: the built-ins and whatever was
registered process-wide with :func:`hcpcs_rules.functions.register` (the older way, still
supported), then the ``hcpcs_rules.functions`` entry points of the rulesets it uses, then the
providers given as ``Engine(functions=[...])``: callables like the entry points' or
``"module:callable"`` strings. Providers are stored in ``Engine.config``, so
``evaluate_many``'s worker processes rebuild the same table (a provider must then be importable
by name: a module-level function, not a lambda). A name registered twice with different
implementations is a :class:`RulesetError` naming both owners, unless the later registration
says ``replace=True``.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from . import load
from .errors import RulesetError, RulesetProblem
from .functions import BUILTIN_ORIGIN, Bound, Function, make_function, process_functions

__all__ = [
    "FUNCTIONS_GROUP",
    "RULESETS_GROUP",
    "FunctionTable",
    "Provider",
    "RulesetInfo",
    "build_functions",
    "installed_rulesets",
]

RULESETS_GROUP = load.ENTRY_POINT_GROUP
FUNCTIONS_GROUP = "hcpcs_rules.functions"

#: What ``Engine(functions=...)`` takes: a callable registering functions on a FunctionTable,
#: or its import path ``"module:callable"``.
Provider = Callable[["FunctionTable"], Any] | str


class FunctionTable:
    """The functions of one Engine build, as a provider sees them: ``register`` them here.

    ``register`` has the signature of :func:`hcpcs_rules.functions.register` and is used the
    same way (a decorator). ``origin`` says who registers (shown by ``hcpcs-rules functions``).
    """

    def __init__(self, base: Mapping[str, Function] | None = None, origin: str = "") -> None:
        self._functions: dict[str, Function] = dict(base or {})
        self.origin = origin

    def register(
        self,
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
        def decorate(impl: Callable[..., Any]) -> Callable[..., Any]:
            self.add(
                make_function(
                    name,
                    params,
                    returns,
                    impl,
                    doc=doc,
                    constant_params=constant_params,
                    bound=bound,
                    prepare=prepare,
                    inline=inline,
                    origin=self.origin,
                ),
                replace=replace,
            )
            return impl

        return decorate

    def add(self, function: Function, *, replace: bool = False) -> None:
        """Add a ready :class:`Function`; see :meth:`register` for ``replace``."""
        known = self._functions.get(function.name)
        if known is not None and known.origin == BUILTIN_ORIGIN and known.impl is not function.impl:
            raise _Collision(
                f"condition function {function.name!r} is a built-in and cannot be replaced "
                f"(by {function.origin}): register yours under another name"
            )
        if known is not None and known.impl is not function.impl and not replace:
            raise _Collision(
                f"condition function {function.name!r} is registered twice: by {known.origin} "
                f"and by {function.origin} (rename one, or register with replace=True)"
            )
        if known is not None and known.impl is function.impl:
            return  # the same function again (a module imported under two routes): no change
        self._functions[function.name] = function

    def frozen(self) -> Mapping[str, Function]:
        return MappingProxyType(dict(self._functions))


class _Collision(ValueError):
    pass


def build_functions(
    selection: Iterable[str | os.PathLike[str]] | None,
    providers: Sequence[Provider] = (),
    installed: load.Installed | None = None,
) -> Mapping[str, Function]:
    """The functions of an Engine over ``selection`` (as ``Engine(rulesets=...)`` takes it) with
    the given providers; RulesetError naming the entry point or provider that failed."""
    installed = installed if installed is not None else load.Installed()
    table = FunctionTable(process_functions())
    problems: list[RulesetProblem] = []
    points = _function_points()
    for name in _used_names(selection, installed):
        for ep in points.get(name, ()):
            where = f"<entry point {FUNCTIONS_GROUP}: {ep.name} = {ep.value}>"
            table.origin = _origin(ep)
            _call(table, lambda ep=ep: ep.load(), where, problems)
    for provider in providers:
        where = f"<functions provider {_provider_name(provider)}>"
        table.origin = f"Engine(functions=[{_provider_name(provider)}])"
        _call(table, lambda p=provider: _provider(p), where, problems)
    if problems:
        raise RulesetError(problems)
    return table.frozen()


def _call(
    table: FunctionTable,
    get: Callable[[], Any],
    where: str,
    problems: list[RulesetProblem],
) -> None:
    try:
        target = get()
        if not callable(target):
            raise TypeError(f"{target!r} is not callable; it must take a FunctionTable")
        target(table)
    except _Collision as exc:
        problems.append(RulesetProblem(where, None, None, str(exc)))
    except Exception as exc:  # a broken plugin names itself; it does not crash the host
        problems.append(
            RulesetProblem(
                where, None, None, f"cannot register functions: {type(exc).__name__}: {exc}"
            )
        )


def _provider(provider: Provider) -> Any:
    if isinstance(provider, str):
        module, _, attr = provider.partition(":")
        if not module or not attr:
            raise ValueError(f"a provider path is 'module:callable', not {provider!r}")
        target: Any = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
        return target
    return provider


def _provider_name(provider: Provider) -> str:
    if isinstance(provider, str):
        return provider
    module = getattr(provider, "__module__", "?")
    return f"{module}:{getattr(provider, '__qualname__', type(provider).__name__)}"


def _function_points() -> dict[str, list[metadata.EntryPoint]]:
    points: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=FUNCTIONS_GROUP):
        points.setdefault(ep.name, []).append(ep)
    return points


def _origin(ep: metadata.EntryPoint) -> str:
    dist = ep.dist
    owner = f"{dist.name} {dist.version}" if dist is not None else "?"
    return f"{owner} (entry point {ep.name} = {ep.value})"


def _used_names(
    selection: Iterable[str | os.PathLike[str]] | None, installed: load.Installed
) -> list[str]:
    """The installed ruleset names an Engine over ``selection`` uses: those named, and those
    their files ``require``, transitively. Only headers are read here; a file that cannot be read
    adds nothing (the compiler reports it)."""
    if selection is None or isinstance(selection, str | os.PathLike):
        return installed.names()
    names: list[str] = []
    files: list[Path] = []
    for item in selection:
        if isinstance(item, str) and not item.endswith(".toml") and item in installed:
            names.append(item)
        elif isinstance(item, str | os.PathLike):
            files.append(Path(item))
    seen: set[str] = set()
    queue = list(names)
    out: list[str] = []
    while queue or files:
        if files:
            # A file's own name counts too: its plugin's function entry points are registered
            # under it (a new version of an installed ruleset, given by path, needs them).
            name, requires = _header(files.pop())
            if name is not None and name not in seen:
                seen.add(name)
                out.append(name)
        else:
            name = queue.pop(0)
            if name in seen:
                continue
            seen.add(name)
            out.append(name)
            try:
                requires = _header(installed.path(name))[1]
            except RulesetError:
                continue
        queue.extend(r for r in requires if r in installed and r not in seen)
    return out


def _header(path: Path) -> tuple[str | None, list[str]]:
    """A ruleset file's ``[ruleset] name`` and ``requires``, or ``(None, [])`` when unreadable
    (the compiler reports why)."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.loads(handle.read(load.MAX_FILE_BYTES).decode("utf-8"))
    except Exception:
        return None, []
    header = data.get("ruleset")
    if not isinstance(header, dict):
        return None, []
    name = header.get("name") if isinstance(header.get("name"), str) else None
    requires = header.get("requires", [])
    if not isinstance(requires, list):
        return name, []
    return name, [r for r in requires if isinstance(r, str)]


# ------------------------------------------------------------------------------- listing


@attrs.frozen
class RulesetInfo:
    """One installed ruleset as ``hcpcs-rules rulesets`` shows it."""

    name: str
    version: str | None  # the file's [ruleset] version; None when it cannot be read
    distribution: str | None  # "name version" of the distribution declaring the entry point
    entry_point: str  # "name = module:callable"
    path: str | None
    problem: str | None = None  # why it cannot be loaded or read, if so
    functions: tuple[str, ...] = ()  # its hcpcs_rules.functions entry points


def installed_rulesets() -> list[RulesetInfo]:
    """Every installed ruleset, each loaded on its own: a broken one is listed with its problem."""
    infos = []
    function_points = _function_points()
    for ep in sorted(metadata.entry_points(group=RULESETS_GROUP), key=lambda e: (e.name, e.value)):
        dist = ep.dist
        problem = path = version = None
        try:
            target = ep.load()
            path = str(Path(target() if callable(target) else target))
            with open(path, "rb") as handle:
                header = tomllib.loads(handle.read(load.MAX_FILE_BYTES).decode("utf-8"))
            value = header.get("ruleset", {}).get("version")
            version = str(value) if value is not None else None
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        infos.append(
            RulesetInfo(
                ep.name,
                version,
                f"{dist.name} {dist.version}" if dist is not None else None,
                f"{ep.name} = {ep.value}",
                path,
                problem,
                tuple(f"{p.name} = {p.value}" for p in function_points.get(ep.name, ())),
            )
        )
    return infos
