"""No string in a ruleset can run code, on either backend.

Every string field of a small ruleset (names, ids, titles, codes, scopes, severity and
per-overlay keys, constants and their names, conditions, messages, sources, notes, derived facts
and fields, example names and patches, the header) gets each code-injection payload in turn. Each
payload tries to create a marker file; building an Engine must either refuse the ruleset with a
RulesetError or succeed with the text intact where it is data (title, source, notes, message
text, description), and evaluating a claim afterwards must not run it either. The marker must
never appear.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from conftest import BACKENDS
from hcpcs_rules import Engine, RulesetError

CLAIM = {
    "id": "B",
    "payer": "medicare",
    "date_of_service": dt.date(2026, 3, 2),
    "place_of_service": "12",
    "diagnoses": ["J45.40"],
    "supplier": {"npi": "1234567893"},
    "lines": [{"hcpcs": "J7632", "units": "240", "diagnosis_pointers": [1]}],
}


def document() -> dict:
    """A small ruleset using every kind of string a ruleset holds."""
    return {
        "ruleset": {
            "name": "inj",
            "version": "1.0.0",
            "description": "Injection test ruleset",
        },
        "constants": {"limit": 100, "label": "units", "codes_list": ["J7632", "J7631"]},
        "claims": {"base": CLAIM},
        "rule": [
            # The two facts scope, per-overlay severity and effective dates rest on, declared
            # here rather than taken from core: each build is then a few rules, and fast.
            {
                "id": "INJ-SCOPE",
                "title": "Overlay",
                "source": "Scope source",
                "on": "claim",
                "derive": "payer_scope",
                "fields": {"overlay": "claim.payer", "program": "'medicare'"},
            },
            {
                "id": "INJ-SERVICE",
                "title": "Date of service",
                "source": "Service source",
                "derive": "service",
                "fields": {"date": "coalesce(line.date_of_service, claim.date_of_service)"},
            },
            {
                "id": "INJ-DERIVE-TWICE",
                "title": "Twice the units",
                "source": "Derive source",
                "codes": ["J7632"],
                "derive": "inj_fact",
                "fields": {"twice": "line.units * 2"},
            },
            {
                "id": "INJ-UNITS-HIGH",
                "title": "Many units",
                "source": "Finding source",
                "notes": "Some notes",
                "on": "line",
                "codes": ["J7632"],
                "scope": ["medicare", "commercial"],
                "severity": {"medicare": "deny", "default": "warn"},
                "effective": {"medicare": {"from": dt.date(2000, 1, 1)}},
                "when": "line.units > limit and line.hcpcs in codes_list",
                "message": "Billed {line.units} {label}, twice is {inj_fact.twice}.",
                "example": [
                    {"name": "fires", "base": "base", "fires": True, "severity": "deny"},
                    {
                        "name": "near miss",
                        "base": "base",
                        "set": {"line[1].units": "100"},
                        "unset": ["line[1].diagnosis_pointers"],
                        "fires": False,
                    },
                ],
            },
        ],
    }


class Key:
    """A path step naming a table key to rename (rather than a value to change)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


R = ("rule", 3)
D = ("rule", 2)
FIELDS = {
    "ruleset name": ("ruleset", "name"),
    "ruleset version": ("ruleset", "version"),
    "ruleset description": ("ruleset", "description"),
    "requires": ("ruleset", "requires"),  # see mutate()
    "constant name": ("constants", Key("label")),
    "constant value": ("constants", "label"),
    "constant list item": ("constants", "codes_list", 1),
    "example claim name": ("claims", Key("base")),
    "rule id": (*R, "id"),
    "title": (*R, "title"),
    "source": (*R, "source"),
    "notes": (*R, "notes"),
    "on": (*R, "on"),
    "code": (*R, "codes", 0),
    "scope": (*R, "scope", 1),
    "severity key": (*R, "severity", Key("medicare")),
    "severity value": (*R, "severity", "default"),
    "effective key": (*R, "effective", Key("medicare")),
    "when": (*R, "when"),
    "message": (*R, "message"),
    "rule key": (*R, Key("notes")),
    "example name": (*R, "example", 0, "name"),
    "example base": (*R, "example", 0, "base"),
    "example severity": (*R, "example", 0, "severity"),
    "example set path": (*R, "example", 1, "set", Key("line[1].units")),
    "example unset path": (*R, "example", 1, "unset", 0),
    "derive": (*D, "derive"),
    "field name": (*D, "fields", Key("twice")),
    "field expression": (*D, "fields", "twice"),
    "derive rule id": (*D, "id"),
    "header key": ("ruleset", Key("description")),
}


def payloads(marker) -> dict[str, str]:
    code = f"__import__('pathlib').Path(r'{marker}').touch()"
    return {
        "newline": f"\n        {code} #",
        "carriage return": f"\r{code}",
        "single quote": f"'); {code} #",
        "double quote": f'"); {code} #',
        "triple single": f"'''\n{code}\n'''",
        "triple double": f'"""; {code}; """',
        "backslash": f"\\'; {code} #\\",
        "nul": f"\x00{code}",
        "line separator": f"\u2028{code}",
        "paragraph separator": f"\u2029{code}",
        "next line": f"\x85{code}",
        "braces": f"}}{{{code}}}{{",
        "template": f"{{{code}}}",
        "hash": f"# x\n{code}",
        "plain": f" + {code} + ",
    }


def toml_string(text: str) -> str:
    """A TOML basic string: escapes carry quotes, backslashes and control characters in."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F or char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(value)


def to_toml(doc: dict) -> str:
    lines = []
    for table in ("ruleset", "constants"):
        lines.append(f"[{table}]")
        lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in doc[table].items()]
    for name, claim in doc["claims"].items():
        lines.append(f"[claims.{toml_string(name)}]")
        lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in claim.items()]
    for rule in doc["rule"]:
        lines.append("[[rule]]")
        for key, value in rule.items():
            if key != "example":
                lines.append(f"{toml_string(key)} = {toml_value(value)}")
        for example in rule.get("example", []):
            lines.append("[[rule.example]]")
            lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in example.items()]
    return "\n".join(lines) + "\n"


def mutate(doc: dict, path: tuple, payload: str) -> str:
    """Put ``payload`` into the field at ``path``; return the field's new text."""
    if path == ("ruleset", "requires"):
        # The base ruleset requires nothing; the payload goes into the name of one it requires.
        doc["ruleset"]["requires"] = ["core" + payload]
        return "core" + payload
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if isinstance(last, Key):
        new = last.name + payload
        parent[new] = parent.pop(last.name)
        return new
    new = parent[last] + payload
    parent[last] = new
    return new


def test_the_unmodified_document_builds_and_fires(tmp_path):
    path = tmp_path / "inj.toml"
    path.write_text(to_toml(document()), encoding="utf-8")
    engine = Engine([path], backend="python")
    (finding,) = [f for f in engine.evaluate(CLAIM).findings if f.rule_id == "INJ-UNITS-HIGH"]
    assert finding.message == "Billed 240 units, twice is 480."
    assert finding.source == "Finding source"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("field", sorted(FIELDS))
def test_no_ruleset_string_runs_code(tmp_path, backend, field):
    marker = tmp_path / "pwned"
    built = 0
    for name, payload in payloads(marker).items():
        doc = document()
        text = mutate(doc, FIELDS[field], payload)
        path = tmp_path / f"inj-{len(name)}.toml"
        path.write_text(to_toml(doc), encoding="utf-8")
        try:
            engine = Engine([path], backend=backend)
        except RulesetError as exc:
            assert "\x1b" not in str(exc) and "\x00" not in str(exc)
            assert not marker.exists(), f"{field} / {name}: code ran before the build failed"
            continue
        built += 1
        try:
            result = engine.evaluate(CLAIM, explain=True)
            assert not marker.exists(), f"{field} / {name}: code ran"
            rule = engine.program.rule(doc["rule"][3]["id"])
            # Where the text is data, it arrives as written.
            if field == "title":
                assert rule.title == text.strip()
            elif field == "notes":
                assert rule.doc.notes == text
            elif field == "source":
                assert rule.source == text.strip()
                assert {f.source for f in result.findings if f.rule_id == rule.id} == {text.strip()}
            elif field == "ruleset description":
                assert engine.program.rulesets[-1].description == text
            elif field == "message":
                (finding,) = [f for f in result.findings if f.rule_id == rule.id]
                literal = payload.replace("{{", "{").replace("}}", "}").strip()
                assert literal in finding.message
        finally:
            engine.close()
    assert not marker.exists()
    # Free-text fields must accept the payloads without control characters (the others are
    # names and codes, which refuse them all).
    if field in {"title", "source", "notes", "ruleset description"}:
        assert built >= 5, f"{field}: only {built} payloads built"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_reported_scope_payload_is_refused(tmp_path, backend):
    marker = tmp_path / "pwned"
    doc = document()
    doc["rule"][3]["scope"] = [
        "medicare",
        f"\n        __import__('pathlib').Path(r'{marker}').touch() #",
    ]
    path = tmp_path / "inj.toml"
    path.write_text(to_toml(doc), encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        Engine([path], backend=backend)
    assert "scope" in str(info.value) and "[INJ-UNITS-HIGH]" in str(info.value)
    assert not marker.exists()


def test_generated_source_holds_ruleset_text_only_as_literals(tmp_path):
    """Quotes and comment markers in free text appear in the python source only inside reprs."""
    doc = document()
    doc["rule"][3]["message"] = 'It\'s "quoted" # not a comment \\ done: {line.units}.'
    path = tmp_path / "inj.toml"
    path.write_text(to_toml(doc), encoding="utf-8")
    engine = Engine([path], backend="python")
    source = engine.dump("backend")
    assert repr('It\'s "quoted" # not a comment \\ done: ') in source
    (finding,) = [f for f in engine.evaluate(CLAIM).findings if f.rule_id == "INJ-UNITS-HIGH"]
    assert finding.message == 'It\'s "quoted" # not a comment \\ done: 240.'
