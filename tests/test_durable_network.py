"""The model of durable_rules' alpha network, on small hand-written ruleset definitions.

The model (backends/durable/network.py) is pure Python: these tests need no C engine. What the C
engine really does at each limit is measured in tests/test_durable_fences.py; here each rule of
the model is pinned down on its own, so a change to one shows up as one failing test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from hcpcs_rules import RulesetError
from hcpcs_rules.backends.durable.network import (
    MAX_ABSENCE_TESTS,
    MAX_ALPHA_STACK,
    MAX_BETA_LINKS,
    MAX_RULES,
    MAX_SIBLING_TESTS,
    _alpha_network,
    _stack_needed,
    check_limits,
)


def pattern(fact_type: str, *steps: dict[str, Any], alias: str = "s") -> dict[str, Any]:
    """One pattern as translate writes it: the type test, then its other tests in a `$and`."""
    test = {"$and": [{"t": fact_type}, *steps]} if steps else {"t": fact_type}
    return {alias: test}


def definition(*rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {f"r{i}": {"all": patterns} for i, patterns in enumerate(rules)}


def network_of(*rules: list[dict[str, Any]]):
    # No plans: the model then names rules by their durable names (r0, r1, ...).
    return _alpha_network(definition(*rules), {})


def line_node(root):
    return root.children['{"t": "line"}']


EQ_A = {"hcpcs": "J7631"}
JOIN = {"key": {"s": "number"}}
IANY = {"$iany": {"modifiers": {"$i": "GA"}}}
SCOPE = {"$or": [{"overlay": "medicare"}, {"program": "medicare"}]}


def test_the_model_needs_no_c_engine():
    # Block the C extension: importing the model (and the package around it) must still work.
    script = textwrap.dedent("""
        import sys
        sys.modules["durable_rules_engine"] = None
        from hcpcs_rules.backends.durable import network
        print(network.check_limits.__name__)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "check_limits", done.stderr


# --- the network ----------------------------------------------------------------------------


def test_identical_tests_share_one_node_and_its_pattern_ends():
    root = network_of([pattern("line", EQ_A)], [pattern("line", dict(EQ_A))])
    line = line_node(root)
    assert list(root.children) == ['{"t": "line"}']
    assert len(line.children) == 1
    (shared,) = line.children.values()
    assert shared.rules == {"r0", "r1"} and shared.ends == 2
    assert shared.equal_field == "hcpcs"


def test_a_type_test_alone_ends_on_the_type_node():
    root = network_of([pattern("line")], [pattern("line", EQ_A)])
    line = line_node(root)
    assert line.ends == 1 and line.rules == {"r0", "r1"}


def test_different_types_get_different_nodes():
    root = network_of([pattern("line")], [pattern("claim", alias="c")])
    assert set(root.children) == {'{"t": "line"}', '{"t": "claim"}'}


@pytest.mark.parametrize("step", [JOIN, IANY, SCOPE], ids=["join", "$iany", "$or"])
def test_joins_iany_and_or_tests_are_never_shared(step):
    root = network_of([pattern("line", step)], [pattern("line", step)])
    line = line_node(root)
    assert len(line.children) == 2
    assert [c.rules for c in line.children.values()] == [{"r0"}, {"r1"}]


def test_a_test_below_an_unshared_node_is_not_shared_either():
    # Sharing is per parent: the same equality test under two join nodes makes two nodes.
    root = network_of([pattern("line", JOIN, EQ_A)], [pattern("line", JOIN, EQ_A)])
    leaves = [n for c in line_node(root).children.values() for n in c.children.values()]
    assert len(leaves) == 2


def test_only_equality_with_a_constant_marks_a_node_exclusive():
    root = network_of(
        [pattern("line", EQ_A)],
        [pattern("line", {"hcpcs": {"$neq": "J7631"}})],
        [pattern("line", {"$nex": {"npi": 1}})],
        [pattern("line", JOIN)],
    )
    fields = sorted(str(c.equal_field) for c in line_node(root).children.values())
    assert fields == ["None", "None", "None", "hcpcs"]


@pytest.mark.parametrize(
    ("options", "passing"),
    [
        ([{"overlay": "medicare"}, {"program": "medicare"}], 2),  # two fields: both can pass
        ([{"hcpcs": "J7631"}, {"hcpcs": "J7632"}, {"hcpcs": "J7633"}], 1),  # one field: one
        ([{"hcpcs": "J7631"}, {"units": {"$gt": 1}}], 2),  # a comparison may pass too
        ([{"$nex": {"npi": 1}}, {"hcpcs": "J7631"}], 2),
    ],
)
def test_an_or_node_counts_the_options_one_fact_can_pass(options, passing):
    (node,) = line_node(network_of([pattern("line", {"$or": options})])).children.values()
    assert node.passing == passing


# --- _stack_needed --------------------------------------------------------------------------


def under_line(*steps: dict[str, Any]):
    return line_node(network_of(*([pattern("line", s)] for s in steps)))


def test_inequality_siblings_can_all_be_pushed():
    line = under_line(*({"hcpcs": {"$neq": f"C{i}"}} for i in range(5)))
    assert _stack_needed(line) == 5


def test_equality_siblings_on_one_field_exclude_each_other():
    line = under_line(*({"hcpcs": f"C{i}"} for i in range(500)))
    assert _stack_needed(line) == 1
    # A second field is a second group: one of each can pass.
    line = under_line(*({"hcpcs": f"C{i}"} for i in range(3)), {"place": "12"})
    assert _stack_needed(line) == 2


def test_siblings_stay_on_the_stack_while_a_child_is_walked():
    # Two inequality siblings, and one equality node with three inequality tests below it: while
    # those three are pushed, the two siblings still wait, so 2 + 3.
    below = [pattern("line", EQ_A, {"units": {"$neq": i}}) for i in range(3)]
    root = network_of(
        [pattern("line", {"hcpcs": {"$neq": "X"}})],
        [pattern("line", {"hcpcs": {"$neq": "Y"}})],
        *([p] for p in below),
    )
    assert _stack_needed(line_node(root)) == 5


def test_the_deepest_of_exclusive_siblings_counts():
    root = network_of(
        *([pattern("line", {"hcpcs": "A"}, {"units": {"$neq": i}})] for i in range(4)),
        [pattern("line", {"hcpcs": "B"}, {"units": {"$neq": 0}})],
    )
    assert _stack_needed(line_node(root)) == 4


def test_a_chain_of_tests_costs_one_entry():
    # Each node is popped before its child is pushed.
    root = network_of([pattern("line", EQ_A, {"units": {"$neq": 0}}, {"place": "12"})])
    assert _stack_needed(line_node(root)) == 1


@pytest.mark.parametrize(("count", "needed"), [(1, 2), (63, 64), (64, 65)])
def test_or_nodes_cost_one_entry_more_per_further_passing_option(count, needed):
    # The measured limit (tests/test_durable_fences.py): 63 two-option scope tests fit, 64 do not.
    line = under_line(*([SCOPE] * count))
    assert _stack_needed(line) == needed


def test_one_option_or_nodes_cost_one_entry_each():
    one_field = {"$or": [{"hcpcs": "A"}, {"hcpcs": "B"}]}
    assert _stack_needed(under_line(*([one_field] * 64))) == 64


# --- check_limits ---------------------------------------------------------------------------


def refused(*rules: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(RulesetError) as info:
        check_limits(definition(*rules), {})
    return [p.message for p in info.value.problems]


def test_a_small_ruleset_passes():
    check_limits(definition([pattern("line", EQ_A)], [pattern("claim", alias="c")]), {})


def test_siblings_up_to_the_limit_pass_and_one_more_is_refused():
    rules = [[pattern("line", {"hcpcs": f"C{i:04d}"})] for i in range(MAX_SIBLING_TESTS)]
    check_limits(definition(*rules), {})  # exclusive equality: deep enough stack, no other limit
    rules.append([pattern("line", {"hcpcs": "Z"})])
    (message,) = refused(*rules)
    assert message.startswith(
        f"{MAX_SIBLING_TESTS + 1} tests hang off one node of the line network"
    )
    assert "(rules r0, r1, r10...)" in message and "use a set constant" in message


def test_too_many_passing_tests_name_the_fact_type_and_the_rules():
    rules = [[pattern("line", {"hcpcs": {"$neq": f"C{i}"}})] for i in range(MAX_ALPHA_STACK)]
    check_limits(definition(*rules), {})
    rules.append([pattern("line", {"hcpcs": {"$neq": "Z"}})])
    (message,) = refused(*rules)
    assert message.startswith(
        f"up to {MAX_ALPHA_STACK + 1} tests can pass for one line fact (rules r0, r1, r10... "
        f"{MAX_ALPHA_STACK + 1} in all)"
    )


def test_too_many_patterns_ending_on_one_node_are_refused():
    rules = [[pattern("claim", {"payer": "medicare"}, alias="c")]] * MAX_BETA_LINKS
    check_limits(definition(*rules), {})
    (message,) = refused(*rules, rules[0])
    assert message.startswith(
        f"{MAX_BETA_LINKS + 1} rule patterns end on one test of the claim network (rules r0, r1, r10...)"
    )


def test_absence_tests_are_counted_apart_from_the_sibling_table():
    absent = [[pattern("line", {"$nex": {f"f{i}": 1}})] for i in range(MAX_ABSENCE_TESTS + 1)]
    messages = refused(*absent)
    assert (
        f"{MAX_ABSENCE_TESTS + 1} 'is missing' tests under one node of the line network"
        in (messages[0])
    )
    # Absence tests are not in the 512-slot table: no sibling complaint, whatever their number.
    assert not any("tests hang off one node" in m for m in messages)
    # (They can all pass for one fact, so the stack is over its limit too.)
    assert any(m.startswith("up to 128 tests can pass for one line fact") for m in messages)


def test_too_many_rules_are_refused_with_every_other_problem():
    rules = [[pattern("line", {"hcpcs": f"C{i}"})] for i in range(MAX_RULES + 1)]
    messages = refused(*rules)
    assert messages[0] == (
        f"{MAX_RULES + 1} rules exceed what the durable backend runs safely ({MAX_RULES})"
    )
    assert any("tests hang off one node of the line network" in m for m in messages[1:])


def test_problems_are_not_tied_to_a_file_line():
    rules = [[pattern("line", {"hcpcs": {"$neq": f"C{i}"}})] for i in range(MAX_ALPHA_STACK + 1)]
    with pytest.raises(RulesetError) as info:
        check_limits(definition(*rules), {})
    (problem,) = info.value.problems
    assert problem.file == "<program>" and problem.line is None
