"""The ruleset reader on its own: where each rule key and string value is written in the file.

An expression's problem is located in the string's value; :meth:`RulesetText.locate` maps it back
to the file's line and column. That is exact for every TOML string kind, escapes and line-ending
backslashes included, because the string is decoded again from the file and must equal what
tomllib read; these tests pin each kind.
"""

from __future__ import annotations

import json
import tomllib

from hypothesis import assume, given
from hypothesis import strategies as st

from hcpcs_rules.load import RulesetText, read_ruleset

HEADER = '[ruleset]\nname = "mine"\nversion = "1"\n\n[[rule]]\nid = "MINE-X"\n'


def read(tmp_path, body: str, newline: str = "\n") -> RulesetText:
    path = tmp_path / "mine.toml"
    path.write_bytes((HEADER + body).replace("\n", newline).encode("utf-8"))
    return read_ruleset(path)


def where(text: RulesetText, key: str, word: str, nth: int = 0) -> tuple[int, int, int]:
    """File (line, column, end column) of the ``nth`` ``word`` in the value of ``key``."""
    rule = text.rules[0]
    value = rule.data[key] if "." not in key else rule.data["fields"][key.split(".", 1)[1]]
    start = -1
    for _ in range(nth + 1):
        start = value.index(word, start + 1)
    found = text.locate(rule.values[key], value, start, start + len(word))
    assert found is not None
    return found


def file_text(text: RulesetText, found: tuple[int, int, int]) -> str:
    line, column, end = found
    return text.lines[line - 1][column - 1 : end - 1]


def test_each_string_kind_is_recorded_with_where_its_text_starts(tmp_path):
    text = read(
        tmp_path,
        "title = 'literal'\n"
        'source = "basic"\n'
        "notes = '''\nmulti literal'''\n"
        'when = """  multi basic"""\n'
        'message = """\\\n    joined"""\n',
    )
    values = text.rules[0].values
    assert {k: v.kind for k, v in values.items()} == {
        "id": "basic",
        "title": "literal",
        "source": "basic",
        "notes": "multiline-literal",
        "when": "multiline-basic",
        "message": "multiline-basic",
    }
    # line and column of the value's first character: past the dropped line break after
    # ''' and past a line-ending backslash's join.
    assert (values["title"].line, values["title"].column) == (7, 10)
    assert (values["notes"].line, values["notes"].column) == (10, 1)
    assert (values["when"].line, values["when"].column) == (11, 11)
    assert (values["message"].line, values["message"].column) == (13, 5)


def test_literal_strings_map_one_to_one(tmp_path):
    text = read(tmp_path, "when = 'line.unit > 1'\n")
    assert where(text, "when", "unit") == (7, 14, 18)
    text = read(tmp_path, "when = '''\n  line.units > 1\n  and line.unit > 2'''\n")
    assert where(text, "when", "line.unit", 1) == (9, 7, 16)
    assert file_text(text, where(text, "when", "line.unit", 1)) == "line.unit"


def test_basic_strings_map_through_their_escapes(tmp_path):
    text = read(tmp_path, r'when = "line.hcpcs == \"J\u00e9\" and line.unt > 1"' + "\n")
    assert file_text(text, where(text, "when", "line.unt")) == "line.unt"
    # An escaped character is located where its escape is written.
    assert file_text(text, where(text, "when", "é")) == r"\u00e9"
    assert file_text(text, where(text, "when", '"J')) == r"\"J"


def test_multi_line_basic_strings_map_through_line_ending_backslashes(tmp_path):
    body = 'when = """\\\n    line.units > 1 \\\n    and line.unit > 2 \\\n    and True"""\n'
    text = read(tmp_path, body)
    assert text.rules[0].data["when"] == "line.units > 1 and line.unit > 2 and True"
    assert where(text, "when", "line.unit", 1) == (9, 9, 18)
    assert where(text, "when", "True") == (10, 9, 13)
    # A span over a join ends at the end of its first line.
    assert (
        where(text, "when", "1 and")[0] == 8
        and file_text(text, where(text, "when", "1 and")) == "1 \\"
    )


def test_multi_line_basic_strings_without_escapes_keep_their_lines(tmp_path):
    text = read(tmp_path, 'when = """\n  line.units > 1\n  and line.unit > 2"""\n')
    assert where(text, "when", "line.unit", 1) == (9, 7, 16)


def test_crlf_files_map_like_lf_files(tmp_path):
    body = "when = '''\n  line.units > 1\n  and line.unit > 2'''\n"
    assert where(read(tmp_path, body, "\r\n"), "when", "line.unit", 1) == (9, 7, 16)
    body = 'when = """\\\n  line.units > 1 \\\n  and line.unit > 2"""\n'
    assert where(read(tmp_path, body, "\r\n"), "when", "line.unit", 1) == (9, 7, 16)


def test_field_expressions_of_a_fields_table_are_recorded(tmp_path):
    text = read(tmp_path, 'derive = "d"\n[rule.fields]\nx = "line.unit"\ny = { a = 1 }\n')
    assert where(text, "fields.x", "unit") == (9, 11, 15)
    assert "fields.y" not in text.rules[0].values  # not a string: nothing to point into


def test_the_body_of_a_multi_line_string_is_never_read_as_keys_or_tables(tmp_path):
    body = "notes = '''\nwhen = \"not a key\"\n[[rule]]\n'''\nwhen = 'True'\n"
    text = read(tmp_path, body)
    assert len(text.rules) == 1
    assert text.rules[0].key_lines["when"] == 11
    assert text.rules[0].values["when"].line == 11


def test_a_value_that_does_not_decode_to_what_toml_read_is_not_located(tmp_path):
    text = read(tmp_path, "when = 'line.unit > 1'\n")
    at = text.rules[0].values["when"]
    assert text.locate(at, "something else", 0, 4) is None
    assert text.locate(at, "line.unit > 1", 5, 99) is None  # outside the value


def test_lines_are_numbered_as_toml_numbers_them(tmp_path):
    # U+2028 in a comment is no line break to TOML (nor to these line numbers).
    text = read(tmp_path, "# a \u2028 c\nwhen = 'line.unit > 1'\n")
    assert text.rules[0].key_lines["when"] == 8
    assert where(text, "when", "unit")[0] == 8


_TEXT = st.text(alphabet="ab é€\"'\\{}\t\n", max_size=40)


@given(_TEXT)
def test_every_character_of_a_basic_string_maps_to_its_escape_or_itself(tmp_path_factory, value):
    tmp_path = tmp_path_factory.mktemp("basic")
    text = read(tmp_path, f"when = {json.dumps(value, ensure_ascii=False)}\n")
    _check_every_character(text, value)


@given(_TEXT)
def test_every_character_of_a_joined_multi_line_string_maps_to_itself(tmp_path_factory, value):
    # A join also swallows the whitespace that starts the next line: leading or doubled spaces
    # would be lost by the way this test writes the string, not by the mapping.
    assume(not value.startswith(" ") and "  " not in value)
    tmp_path = tmp_path_factory.mktemp("joined")
    escaped = json.dumps(value, ensure_ascii=False)[1:-1]
    # Break the written text after every space, each piece on its own line, as j7632.toml does.
    pieces = escaped.split(" ")
    written = " \\\n    ".join(pieces)
    body = f'when = """\\\n    {written}"""\n'
    text = read(tmp_path, body)
    _check_every_character(text, value)


@given(st.text(alphabet='ab é"\\{}\t\n', max_size=40))
def test_every_character_of_a_multi_line_literal_string_maps_to_itself(tmp_path_factory, value):
    tmp_path = tmp_path_factory.mktemp("literal")
    text = read(tmp_path, f"when = '''{value}'''\n")
    _check_every_character(text, text.rules[0].data["when"])


def _check_every_character(text: RulesetText, value: str) -> None:
    rule = text.rules[0]
    assert rule.data["when"] == value
    for index, char in enumerate(value):
        found = text.locate(rule.values["when"], value, index, index + 1)
        assert found is not None, (value, index)
        line, column, end = found
        written = text.lines[line - 1][column - 1 : end - 1]
        if written == "":
            assert char == "\n"  # a line break kept by a multi-line string: the end of a line
        else:
            assert written == char or tomllib.loads(f'x = "{written}"')["x"] == char
