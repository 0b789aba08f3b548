"""Condition-function providers for tests/test_registry.py and tests/test_reload.py.

Module-level, so that ``Engine(functions=[...])`` can name them and ``evaluate_many``'s spawned
worker processes (tests/ is on their path) rebuild the same function table. Nothing here
registers anything at import: each provider registers on the FunctionTable it is given.
"""

from __future__ import annotations

from hcpcs_rules.registry import FunctionTable


def note_ends_in_bang(table: FunctionTable) -> None:
    @table.register("note_flag", ["str"], "bool", doc="Test only: the note ends in '!'.")
    def note_flag(note: str | None) -> bool:
        return note is not None and note.endswith("!")


def note_starts_with_z(table: FunctionTable) -> None:
    @table.register("note_flag", ["str"], "bool", doc="Test only: the note starts with 'z'.")
    def note_flag(note: str | None) -> bool:
        return note is not None and note.startswith("z")


def raising(table: FunctionTable) -> None:
    @table.register("note_flag", ["str"], "bool", doc="Test only: always raises.")
    def note_flag(note: str | None) -> bool:
        raise ValueError("the plugin function failed on purpose")


def broken(table: FunctionTable) -> None:
    raise ImportError("this provider cannot load")
