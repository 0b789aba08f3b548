"""The package's import structure: no cycles, and no stage importing a later one.

The stages, each importing only its own and earlier ones:

1. the foundation: ``errors``, ``limits``, ``units``, ``vocab``, ``model``, ``ir``, ``failure``,
   ``schema``, ``tables``, ``regex``, ``functions``, ``builtin``, ``claims``, ``reader``, ``reference``,
   ``policy``, ``reasons``, ``rows``. ``ir`` is the compiler's output, but as plain data types it sits here, importable
   by the compiler that builds a Program and by the backends that run one;
2. the compiler, in its own order: ``load`` -> ``expr`` -> ``compile``;
3. the runtime and code generation: ``runtime`` -> ``codegen`` -> ``facts``;
4. the backends (``backends`` and everything under it);
5. ``engine`` -> ``batch`` (with ``slot``, ``x12``, ``output``, ``progress``, ``report``,
   ``partition``, ``spark``, ``dask``) -> ``testing``: building engines, evaluating claims
   (one by one, in batches, or tables of them), writing what they give;
6. the package itself (``hcpcs_rules/__init__.py``) and ``cli``.

Besides, the run-time side never imports the compiler: ``runtime``, ``ir``, ``model``, ``units``,
``vocab``, ``limits``, ``errors``, ``facts``, ``codegen`` and the backends must not import
``load``, ``expr`` or ``compile``, directly or through another module (stage 3 comes after stage
2 in the pipeline, not in what it may use). Nothing but ``cli`` itself imports ``cli``.

Every ``import`` counts, including those inside functions and under ``TYPE_CHECKING``: a lazy
import is still a dependency, only a hidden one. Importing a submodule also runs its parents'
``__init__``; that is not counted, or every module would depend on the package's ``__init__``.
A new module must be given a stage here (the test says so when one is missing).
"""

from __future__ import annotations

import ast
from pathlib import Path

import hcpcs_rules

PACKAGE = "hcpcs_rules"
ROOT = Path(hcpcs_rules.__file__).parent

STAGES: tuple[frozenset[str], ...] = tuple(
    frozenset(stage.split())
    for stage in (
        "errors limits units vocab model ir failure schema tables regex functions builtin claims reader"
        " reference policy reasons rows",
        "load registry",
        "expr",
        "compile",
        "runtime",
        "codegen",
        "facts",
        "backends",
        "engine",
        "batch slot x12 output progress report partition spark dask",
        "testing authoring",
        "hcpcs_rules cli",
    )
)
COMPILER = frozenset({"load", "expr", "compile"})
NO_COMPILER = frozenset(
    ["runtime", "ir", "model", "units", "vocab", "limits", "errors", "facts", "codegen", "backends"]
)


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (``hcpcs_rules.backends.python``...)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join((PACKAGE, *parts))] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its file."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # `from ..x import y` in a.b.c: drop the module (unless a package) and level-1 more.
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # `import hcpcs_rules.x.y` names x.y; a name below a module is that module.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith(PACKAGE) and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _short(module: str) -> str:
    """The name a stage lists: ``hcpcs_rules`` for the package, the first part below it else."""
    parts = module.split(".")
    return parts[0] if len(parts) == 1 else parts[1]


def _stage(module: str) -> int:
    short = _short(module)
    for index, stage in enumerate(STAGES):
        if short in stage:
            return index
    raise AssertionError(f"{module} has no stage: add it to STAGES in tests/test_layers.py")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path back to its start), or None."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        # Iterative depth-first search: each frame is a module and its remaining imports.
        stack = [(start, iter(sorted(graph[start])))]
        path.append(start)
        on_path.add(start)
        while stack:
            module, rest = stack[-1]
            following = next(rest, None)
            if following is None:
                stack.pop()
                path.pop()
                on_path.discard(module)
                done.add(module)
            elif following in on_path:
                return [*path[path.index(following) :], following]
            elif following not in done:
                stack.append((following, iter(sorted(graph[following]))))
                path.append(following)
                on_path.add(following)
    return None


def test_every_module_has_a_stage():
    for module in _graph():
        _stage(module)


def test_no_import_cycles():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _path_to(graph: dict[str, set[str]], start: str, goal: set[str]) -> list[str] | None:
    """The import chain from ``start`` to a module of ``goal`` (breadth first), or None."""
    came_from: dict[str, str | None] = {start: None}
    queue = [start]
    for module in queue:  # grows while iterating: a breadth-first walk
        if _short(module) in goal and module != start:
            chain = [module]
            while (previous := came_from[chain[-1]]) is not None:
                chain.append(previous)
            return chain[::-1]
        for following in sorted(graph[module]):
            if following not in came_from:
                came_from[following] = module
                queue.append(following)
    return None


def test_no_module_imports_a_later_stage():
    wrong = []
    for module, imported in sorted(_graph().items()):
        for target in sorted(imported):
            if _short(target) == "cli" and _short(module) != "cli":
                wrong.append(f"{module} imports {target}: nothing imports the command line")
            elif _stage(target) > _stage(module):
                wrong.append(f"{module} imports {target}, a later stage")
    assert not wrong, "\n".join(wrong)


def test_the_run_time_side_never_loads_the_compiler():
    """Not even through another module: importing a backend must not import the compiler."""
    graph = _graph()
    wrong = []
    for module in sorted(graph):
        if _short(module) in NO_COMPILER:
            chain = _path_to(graph, module, set(COMPILER))
            if chain is not None:
                wrong.append(" -> ".join(chain))
    assert not wrong, "run-time code imports the compiler:\n" + "\n".join(wrong)


def test_the_checks_see_what_they_must():
    """The checks would pass vacuously if the walk missed imports: prove it finds the known ones,
    including an import inside a function (cli's) and a relative one two levels up."""
    graph = _graph()
    assert "hcpcs_rules.compile" in graph["hcpcs_rules.engine"]
    assert "hcpcs_rules.batch" in graph["hcpcs_rules.cli"]  # imported inside a function
    assert "hcpcs_rules.backends.durable" in graph["hcpcs_rules.backends"]  # likewise
    assert "hcpcs_rules.facts" in graph["hcpcs_rules.backends.python"]
    assert "hcpcs_rules" in graph["hcpcs_rules.cli"]  # `from . import __version__`
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    chain = {"x.facts": {"x.codegen"}, "x.codegen": {"x.compile"}, "x.compile": set()}
    assert _path_to(chain, "x.facts", {"compile"}) == ["x.facts", "x.codegen", "x.compile"]
