"""The one cycle check: derived facts (by what their fields read) and rules (by what they read)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

N = TypeVar("N", bound=Hashable)


class _Cycle(Exception):
    def __init__(self, trail: tuple) -> None:
        self.trail = trail


def order(
    nodes: Sequence[N], deps: Callable[[N], Iterable[N]]
) -> tuple[list[N], dict[N, tuple[N, ...]]]:
    """``nodes`` each after its dependencies, and the nodes that cannot be ordered.

    Returns the ordered nodes (dependencies first, else in the order given) and, for each node
    that runs into a cycle (on one, or depending on one), the trail from it round the cycle.
    """
    done: dict[N, None] = {}  # insertion-ordered: a topological order
    stuck: dict[N, tuple[N, ...]] = {}

    def visit(node: N, trail: tuple[N, ...]) -> None:
        if node in done:
            return
        if node in trail:
            raise _Cycle((*trail, node))
        for dep in deps(node):
            visit(dep, (*trail, node))
        done[node] = None

    for node in nodes:
        try:
            visit(node, ())
        except _Cycle as cycle:
            stuck[node] = cycle.trail
    return list(done), stuck
