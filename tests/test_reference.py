"""The rule reference pages are generated from the rulesets and must not go stale."""

from __future__ import annotations

import io
from pathlib import Path

from hcpcs_rules.cli import main
from hcpcs_rules.compile import compile_files
from hcpcs_rules.reference import reference_pages

# docs/rules/ documents the shipped rulesets, whatever else is installed.
SHIPPED = ["core", "j7632"]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules"


def test_docs_rules_are_up_to_date():
    """If this fails, run `hcpcs-rules docs` and commit docs/rules/."""
    expected = reference_pages(compile_files(SHIPPED))
    actual = {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}
    assert sorted(actual) == sorted(expected), "pages missing or extra: run `hcpcs-rules docs`"
    stale = [name for name, text in expected.items() if actual[name] != text]
    assert stale == [], f"stale pages (run `hcpcs-rules docs`): {stale}"


def test_every_rule_has_a_page_with_source_and_examples():
    program = compile_files(SHIPPED)
    pages = reference_pages(program)
    for rule in program.rules:
        page = pages[f"{rule.id}.md"]
        assert rule.source in page
        if rule.finding is not None:
            assert "- fires:" in page and "- does not fire:" in page


def test_rule_command_prints_severity_by_payer_source_and_examples():
    out, err = io.StringIO(), io.StringIO()
    assert (
        main(
            ["rule", "J7632-POS-NOT-HOME", "--ruleset", "core", "--ruleset", "j7632"],
            out=out,
            err=err,
        )
        == 0
    )
    text = out.getvalue()
    assert "| Medicare fee-for-service (DME MAC) | deny |" in text
    assert "| every other payer in scope | warn |" in text
    assert "**Source**" in text and "**Examples**" in text


def test_rule_command_suggests_close_ids():
    out, err = io.StringIO(), io.StringIO()
    assert (
        main(
            ["rule", "J7632-UNITS-MISMATCHH", "--ruleset", "core", "--ruleset", "j7632"],
            out=out,
            err=err,
        )
        == 2
    )
    assert "did you mean J7632-UNITS-MISMATCH" in err.getvalue()
