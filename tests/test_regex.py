"""``matches`` patterns: Python's ``re`` takes only the plain patterns, where it answers exactly
as RE2 does and cannot backtrack more than linearly; every other pattern stays with RE2."""

from __future__ import annotations

import re

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from hcpcs_rules import functions, regex

# -------------------------------------------------------------------- patterns of the grammar
_LITERALS = "ab09Z_-:/#@!%,;=<>'\"&~ "
_CLASS_CHARS = "abcxyz0129AZ_.:/ "
_PUNCT = "\\.^$|?*+()[]{}-/#@!%,;=<>'\"&~:"

literal = st.sampled_from(_LITERALS)
escaped = st.sampled_from(_PUNCT).map(lambda c: "\\" + c)
member = st.one_of(
    st.sampled_from(_CLASS_CHARS),
    st.sampled_from("\\.-^]").map(lambda c: "\\" + c),
    st.tuples(st.sampled_from("abx0"), st.sampled_from("cz9")).map(lambda r: f"{r[0]}-{r[1]}"),
)
klass = st.tuples(st.booleans(), st.lists(member, min_size=1, max_size=4)).map(
    lambda t: "[" + ("^" if t[0] else "") + "".join(t[1]) + "]"
)
atom = st.one_of(literal, escaped, st.just("."), klass)
fixed = st.one_of(st.just(""), st.integers(0, 3).map(lambda m: f"{{{m}}}"))
variable = st.one_of(
    st.sampled_from(["*", "+", "?"]),
    st.integers(0, 3).map(lambda m: f"{{{m},}}"),
    st.tuples(st.integers(0, 2), st.integers(2, 4)).map(lambda t: f"{{{t[0]},{t[1]}}}"),
)


@st.composite
def alternative(draw):
    items = [[draw(atom), draw(fixed)] for _ in range(draw(st.integers(0, 5)))]
    if items and draw(st.booleans()):  # at most one item of variable count
        items[draw(st.integers(0, len(items) - 1))][1] = draw(variable)
    return "".join(a + count for a, count in items)


plain_pattern = st.lists(alternative(), min_size=1, max_size=3).map("|".join)
text = st.text(alphabet="ab09Z_-:/#@ .\n[]\\^xyzc\u00e9\u0660\ud800\ufffd", max_size=12)


@settings(max_examples=600, deadline=None)
@given(plain_pattern, st.lists(text, min_size=1, max_size=8))
def test_plain_patterns_answer_as_re2_does(pattern, texts):
    assert regex.plain(pattern), pattern
    if regex.regex_error(pattern) is not None:
        return  # RE2 refuses it (a range backwards, a count over 1000): a RulesetError at build
    fast = regex.compile_pattern(pattern)
    assert isinstance(fast, re.Pattern)
    slow = regex.compile_re2(pattern)
    for value in texts:
        # The reference: RE2 on the text with lone surrogates read as U+FFFD.
        expected = slow.fullmatch(re.sub("[\ud800-\udfff]", "\ufffd", value)) is not None
        assert regex.fullmatch(fast, value) is expected, (pattern, value)
        assert regex.fullmatch(slow, value) is expected, (pattern, value)


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet="ab.|*+?{}[]()^$\\-,0123:_dws&~ \u00e9", max_size=14), text)
def test_any_pattern_plain_accepts_is_the_same_language(pattern, value):
    """Whatever text ``plain`` accepts, re and RE2 both compile it the same way, or RE2 refuses it."""
    if not regex.plain(pattern) or regex.regex_error(pattern) is not None:
        return
    fast = regex.compile_pattern(pattern)
    assert isinstance(fast, re.Pattern)
    expected = regex.compile_re2(pattern).fullmatch(re.sub("[\ud800-\udfff]", "\ufffd", value))
    assert regex.fullmatch(fast, value) is (expected is not None), (pattern, value)


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("(a+)+$", "groups and anchors"),
        ("(a|aa)*b", "a repeated group"),
        ("a*a*b", "two variable repeats in one alternative"),
        ("x?y?", "two variable repeats"),
        ("[[:alpha:]]", "a POSIX class, another meaning in re"),
        (r"\d+", "Unicode digits in re, ASCII in RE2"),
        (r"\w", "Unicode letters in re"),
        (r"\bA", "word boundaries differ"),
        ("^a$", "anchors: re's $ also matches before a final line break"),
        ("a*?", "lazy"),
        ("a**", "a repeated repeat"),
        ("a{,3}", "{,n} is a count in re, literal text in RE2"),
        ("(?i)a", "flags"),
        ("[a-]", "a dash that is not a range"),
        ("[a&&b]", "what re warns may become a set operation"),
        ("\\pL", "RE2-only syntax"),
        ("\u00e9", "not ASCII"),
        ("a\\", "a trailing backslash"),
        ("[]a]", "a bracket first in a class"),
    ],
)
def test_everything_else_stays_with_re2(pattern, why):
    assert not regex.plain(pattern), why
    if regex.regex_error(pattern) is None:
        assert not isinstance(regex.compile_pattern(pattern), re.Pattern)


def test_the_shipped_taxonomy_pattern_takes_the_re_path():
    pattern = "3336[0-9A-Z]{5}X|332B00000X"
    assert isinstance(regex.compile_pattern(pattern), re.Pattern)
    for value, expected in [("3336C0004X", True), ("332B00000X", True), ("3336C0004XX", False)]:
        assert (
            functions.FUNCTIONS["matches"].impl(value, regex.compile_pattern(pattern)) is expected
        )


def test_a_plain_pattern_stays_fast_on_a_long_hostile_text():
    """The grammar's bound in practice: the worst plain shapes against a 100,000-character text
    that almost matches. Linear work answers in milliseconds; a quadratic matcher would hold the
    suite for minutes (no time is asserted: the suite's own length is the alarm)."""
    value = "a" * 100_000
    for pattern in ["a*b", "[a-z]*b|a*c|a{2,}d", ".*a.b", "a{1000}.*b"]:
        compiled = regex.compile_pattern(pattern)
        assert isinstance(compiled, re.Pattern), pattern
        assert not regex.fullmatch(compiled, value)


def test_an_invalid_pattern_is_refused_by_re2_first():
    assert regex.plain("[z-a]")  # plain in shape...
    assert regex.regex_error("[z-a]") is not None  # ...but RE2 refuses it, as the compiler does
    with pytest.raises(re2.error):
        regex.compile_pattern("[z-a]")
