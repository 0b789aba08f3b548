"""The command against hostile input (issue 8): every case exits with a documented code, prints no
traceback without --debug, escapes what it prints, and loses no good record."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import hostile_plugin
from hcpcs_rules import cli
from hcpcs_rules.cli import EXIT_CODES, main
from hcpcs_rules.reference import MANIFEST

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CLEAN = json.loads((EXAMPLES / "aetna-clean.json").read_text())


def claim(**changes) -> dict:
    data = json.loads(json.dumps(CLEAN))
    data.update(changes)
    return data


#: Commands that build from rulesets, and the shipped ones they are given when a test names
#: none, so a plugin installed beside the library changes nothing here.
_BUILDS = ("check", "dump", "rule", "docs")
SHIPPED_ARGS = ["--ruleset", "core", "--ruleset", "j7632"]


def _shipped(argv):
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in _BUILDS and "--ruleset" not in argv:
        return [*argv, *SHIPPED_ARGS]
    return argv


def run(argv, stdin: bytes | str = b"", *, every_installed: bool = False):
    """The CLI on ``argv``, over the shipped rulesets unless it names some (or
    ``every_installed``: what a user's bare command does)."""
    out, err = io.StringIO(), io.StringIO()
    raw = stdin.encode() if isinstance(stdin, str) else stdin
    argv = argv if every_installed else _shipped(argv)
    code = main(argv, out=out, err=err, stdin=io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    return code, out.getvalue(), err.getvalue()


def assert_clean_exit(code, err, allowed=(0, 1, 2)):
    assert code in allowed, (code, err)
    assert "Traceback" not in err


# ---------------------------------------------------------------------------- exit codes


def test_every_exit_code_is_documented_in_the_docstring_and_the_help():
    assert set(EXIT_CODES) == {0, 1, 2, 3, 130, 141}
    help_text = cli._parser()._subparsers._group_actions[0].choices["check"].format_help()
    for code, meaning in EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in help_text
        assert f"- {code}:" in cli.__doc__


def test_json_nested_100000_deep_is_an_invalid_record_not_a_crash(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    obj_deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join([deep, obj_deep, json.dumps(CLEAN)]) + "\n")
    code, out, err = run(["check", str(path), "--ruleset", "core"])
    assert_clean_exit(code, err)
    assert code == 2
    assert f"{path}:1  invalid  $: nested too deeply" in out
    assert f"{path}:2  invalid  $: nested too deeply" in out
    assert "EX-AETNA-CLEAN  -  clean" in out
    code, out, err = run(["check", "-"], stdin=obj_deep)  # one document on stdin
    assert (code, "Traceback" in err) == (2, False) and "<stdin>  invalid  $: nested too" in out


def test_a_5000_digit_integer_is_reported_with_its_path_as_out_of_range():
    data = json.dumps(claim()).replace('"units": "240"', '"units": ' + "9" * 5000)
    assert "9" * 5000 in data
    code, out, err = run(["check", "-"], stdin=data)
    assert_clean_exit(code, err)
    assert code == 2
    assert "<stdin>  invalid  $.lines[0].units: out of range: an integer of 5,000 digits" in out


def test_duplicate_keys_are_refused_wherever_json_is_read(tmp_path):
    text = json.dumps(claim(payer="medicare"))
    twice = text[:-1] + ', "payer": "aetna"}'  # the last one would win in json.loads
    nested = text.replace('"units": "240"', '"units": "240", "units": "250"')
    (tmp_path / "a.json").write_text(twice)
    (tmp_path / "b.jsonl").write_text(nested + "\n")
    (tmp_path / "c.json").write_text(f"[{text}, {twice}]")
    code, out, err = run(["check", str(tmp_path)])
    assert_clean_exit(code, err)
    assert code == 2
    assert f"{tmp_path / 'a.json'}  invalid  $.payer: duplicate key" in out
    assert f"{tmp_path / 'b.jsonl'}:1  invalid  $.lines[0].units: duplicate key" in out
    assert f"{tmp_path / 'c.json'}[1]  invalid  $.payer: duplicate key" in out
    assert out.strip().endswith("4 claims: 1 deny, 3 invalid")  # c.json[0], Medicare: a denial


def test_an_evaluation_failure_exits_3_with_a_record_and_the_run_goes_on(tmp_path):
    path = tmp_path / "boom.jsonl"
    lines = [claim(id="A"), claim(id="B"), claim(id="C")]
    lines[1]["lines"][0]["note"] = "BOOM"
    path.write_text("".join(json.dumps(c) + "\n" for c in lines))
    argv = ["check", str(path), "--ruleset", str(hostile_plugin.RULESET)]
    code, out, err = run(argv)
    assert_clean_exit(code, err, allowed=(3,))
    assert f"{path}:2  failed  RuleExecutionError in rule TEST-HOSTILE-NOTE: rule" in out
    assert "A  -  clean" in out and "C  -  clean" in out
    assert out.strip().endswith("3 claims: 2 clean, 1 failed")
    code, out, _ = run([*argv, "--format", "json"])
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 3 and len(records) == 3
    assert records[1] == {
        "claim": f"{path}:2",
        "error": "internal error",
        "index": 1,
        "claim_id": "B",
        "error_type": "RuleExecutionError",
        "message": records[1]["message"],
        "rule_id": "TEST-HOSTILE-NOTE",
    }
    assert "failed on purpose" in records[1]["message"]


def test_a_trailing_zero_claim_never_crashes_the_command():
    """`"240." + "0" * 70` once raised RuleExecutionError from a rule and ended the run: now the
    claim parser refuses the over-long number and the command reports an invalid claim."""
    data = claim()
    data["lines"][0]["units"] = "240." + "0" * 70
    code, out, err = run(["check", "-"], stdin=json.dumps(data))
    assert_clean_exit(code, err, allowed=(2,))
    assert "$.lines[0].units: too long for a number: 74 characters" in out
    assert out.strip().splitlines()[-1] == "1 claim: 1 invalid"


def test_a_worker_killed_mid_batch_exits_3_and_every_other_claim_is_reported(tmp_path):
    path = tmp_path / "kill.jsonl"
    lines = [claim(id=f"K{i}") for i in range(6)]
    lines[2]["lines"][0]["note"] = "KILL"
    path.write_text("".join(json.dumps(c) + "\n" for c in lines))
    argv = ["check", str(path), "--ruleset", str(hostile_plugin.RULESET), "--workers", "2"]
    code, out, err = run(argv)
    assert_clean_exit(code, err, allowed=(3,))
    assert f"{path}:3  failed  WorkerDied: the worker process evaluating this claim died" in out
    assert all(f"K{i}  -  clean" in out for i in (0, 1, 3, 4, 5))
    assert "hcpcs-rules: warning: a worker process died" in err


def test_an_internal_crash_is_one_line_and_the_traceback_needs_debug(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("something \x1b[31mbroke\ninside")

    monkeypatch.setattr("hcpcs_rules.reader.read_claims", explode)
    code, _, err = run(["check", "-"], stdin=json.dumps(CLEAN))
    assert code == 3
    assert err.splitlines() == [
        "hcpcs-rules: internal error: RuntimeError: something \\x1b[31mbroke inside "
        "(run with --debug for the traceback)"
    ]
    code, _, err = run(["check", "-", "--debug"], stdin=json.dumps(CLEAN))
    assert code == 3 and "Traceback (most recent call last)" in err and "explode" in err
    code, _, err = run(["--debug", "check", "-"], stdin=json.dumps(CLEAN))
    assert code == 3 and "Traceback" in err


def test_a_closed_stdout_stops_quietly_with_141(tmp_path):
    """`hcpcs-rules check ... --format json | head -c 600` printed a BrokenPipeError traceback."""
    path = tmp_path / "many.jsonl"
    # Far more output than a pipe buffer holds, so the writer does meet the closed pipe.
    path.write_text("".join(json.dumps(claim(id=f"P{i}")) + "\n" for i in range(400)))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hcpcs_rules.cli",
            "check",
            str(path),
            "--format",
            "json",
            *SHIPPED_ARGS,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert process.stdout is not None and process.stderr is not None
    head = process.stdout.read(600)
    process.stdout.close()
    err = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 141
    assert len(head) == 600 and err == ""


def test_a_broken_pipe_in_process_returns_141_without_output():
    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    err = io.StringIO()
    code = main(
        ["check", "-", *SHIPPED_ARGS],
        out=ClosedPipe(),
        err=err,
        stdin=io.StringIO(json.dumps(CLEAN)),
    )
    assert (code, err.getvalue()) == (141, "")


# ------------------------------------------------------------------------ escaped output

HOSTILE_TEXT = "\x1b[2J\x1b[31mCLEAN\x07\x7f\x9b1m\u2028\u202eevil\r"


def test_text_output_escapes_control_characters_from_the_claim():
    code, out, _ = run(["check", "-"], stdin=json.dumps(claim(id=HOSTILE_TEXT)))
    assert code == 0
    first = out.splitlines()[0]
    assert first == "\\x1b[2J\\x1b[31mCLEAN\\x07\\x7f\\x9b1m\\u2028\\u202eevil\\r  -  clean"
    for char in "\x1b\x07\x7f\x9b\u2028\u202e\r":
        assert char not in out
    code, out, _ = run(["check", "-", "--format", "json"], stdin=json.dumps(claim(id=HOSTILE_TEXT)))
    assert json.loads(out)["claim_id"] == HOSTILE_TEXT and "\x1b" not in out


def test_escaped_everywhere_text_goes_locations_errors_and_messages(tmp_path):
    path = tmp_path / "bad\x1b]0;title\x07.jsonl"
    data = claim(id="X")
    data["lines"][0]["units"] = "\x1b[2J"
    path.write_text(json.dumps(data) + "\n" + "\x1b[2J not json\n")
    code, out, err = run(["check", str(path)])
    assert code == 2
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "bad\\x1b]0;title\\x07.jsonl:1  invalid  $.lines[0].units: not a decimal number" in out
    assert "bad\\x1b]0;title\\x07.jsonl:2: not JSON" in err


def test_a_lone_surrogate_in_a_claim_is_printable_in_both_formats():
    text = json.dumps(claim(id="A")).replace('"A"', '"A\\ud800"')
    code, out, _ = run(["check", "-"], stdin=text)
    assert code == 0 and out.startswith("A\\ud800  -  clean")
    code, out, _ = run(["check", "-", "--format", "json"], stdin=text)
    assert code == 0 and json.loads(out)["claim_id"] == "A\ud800"


# --------------------------------------------------------------------------- streaming input


def test_one_invalid_utf8_byte_makes_only_its_line_unreadable(tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = json.dumps(claim(id="GOOD")).encode()
    path.write_bytes(good + b"\n" + good.replace(b"GOOD", b"B\xffD") + b"\n" + good + b"\n")
    code, out, err = run(["check", str(path)])
    assert code == 2
    assert out.count("GOOD  -  clean") == 2
    assert f"{path}:2: not UTF-8 (invalid byte at column" in err
    assert out.strip().endswith("3 claims: 2 clean, 1 unreadable")


def test_an_unreadable_file_in_a_folder_does_not_hide_the_files_after_it(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(claim(id="A")))
    (tmp_path / "b.json").mkdir()  # cannot be read as a file
    (tmp_path / "c.jsonl").write_text(json.dumps(claim(id="C")) + "\n")
    code, out, err = run(["check", str(tmp_path)])
    assert code == 2
    assert "A  -  clean" in out and "C  -  clean" in out
    assert f"{tmp_path / 'b.json'}: cannot read" in err
    assert out.strip().endswith("3 claims: 2 clean, 1 unreadable")


def test_a_json_array_is_streamed_and_a_bad_element_does_not_end_it(tmp_path):
    path = tmp_path / "array.json"
    one, two = json.dumps(claim(id="ONE")), json.dumps(claim(id="TWO"))
    path.write_text(f"[\n{one},\n{{not json}},\n{two}\n]\n")
    code, out, err = run(["check", str(path)])
    assert code == 2
    assert "ONE  -  clean" in out and "TWO  -  clean" in out
    assert f"{path}[1]: not JSON" in err


def test_a_pretty_printed_document_and_lines_without_the_jsonl_suffix(tmp_path):
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps(claim(id="DOC"), indent=2))
    lines = tmp_path / "lines.json"
    lines.write_text("{oops\n" + json.dumps(claim(id="L2")) + "\n")
    code, out, err = run(["check", str(doc), str(lines)])
    assert code == 2
    assert "DOC  -  clean" in out and "L2  -  clean" in out
    assert f"{lines}:1: not JSON" in err


def test_a_record_over_the_size_limit_is_skipped_and_the_next_is_read(tmp_path):
    path = tmp_path / "big.jsonl"
    huge = claim(id="HUGE")
    huge["lines"][0]["note"] = "x" * 5000
    path.write_text(json.dumps(huge) + "\n" + json.dumps(claim(id="SMALL")) + "\n")
    code, out, err = run(["check", str(path), "--max-record-bytes", "4000"])
    assert code == 2 and "SMALL  -  clean" in out
    assert f"{path}:1: longer than 4,000 bytes" in err
    assert run(["check", str(path), "--max-record-bytes", "0"])[0] == 2  # a usage error


def test_empty_input_and_random_bytes_are_unreadable_not_crashes():
    for data in (b"", b"\x00\xff\xfe garbage", b"[", b'{"a":', b"\xef\xbb\xbf"):
        code, _, err = run(["check", "-"], stdin=data)
        assert_clean_exit(code, err)
        assert code == 2


# ------------------------------------------------------------------------------ docs --out


def test_docs_never_removes_or_overwrites_files_it_did_not_write(tmp_path):
    out = tmp_path / "rules"
    out.mkdir()
    (out / "NOTES.md").write_text("# NOTES: mine\n")
    code, _, err = run(["docs", "--out", str(out), "--ruleset", "core"])
    assert code == 0, err
    assert (out / "NOTES.md").read_text() == "# NOTES: mine\n"
    assert (out / "CLAIM-NPI-INVALID.md").exists() and (out / MANIFEST).exists()
    # A stale page it wrote is removed; one it wrote but someone rewrote is kept.
    (out / "CLAIM-NPI-INVALID.md").write_text("# my own text now\n")
    code, _, err = run(["docs", "--out", str(out), "--ruleset", str(hostile_plugin.RULESET)])
    assert code == 0, err
    # Documenting one ruleset leaves the pages of others alone (issue 10)...
    assert (out / "CLAIM-POS-INVALID.md").exists()
    assert (out / "CLAIM-NPI-INVALID.md").read_text() == "# my own text now\n"
    assert (out / "NOTES.md").exists() and (out / "TEST-HOSTILE-NOTE.md").exists()
    # ...and a full run removes the stale pages it wrote (hostile is not installed), but
    # refuses to overwrite the page someone rewrote.
    (out / "CLAIM-NPI-INVALID.md").unlink()
    (out / "J7632-UNITS-MISMATCH.md").write_text("# my own text now\n")
    code, _, err = run(["docs", "--out", str(out)], every_installed=True)
    assert code == 2 and "J7632-UNITS-MISMATCH.md exists and was not written by" in err
    (out / "J7632-UNITS-MISMATCH.md").unlink()
    code, _, err = run(["docs", "--out", str(out)], every_installed=True)
    assert code == 0, err
    assert not (out / "TEST-HOSTILE-NOTE.md").exists()  # generated, stale: removed
    assert (out / "NOTES.md").read_text() == "# NOTES: mine\n"


def test_docs_refuses_to_overwrite_a_readme_or_follow_a_link_it_did_not_write(tmp_path):
    out = tmp_path / "docs"
    out.mkdir()
    (out / "README.md").write_text("# My project\n")
    code, _, err = run(["docs", "--out", str(out), "--ruleset", "core"])
    assert code == 2 and "README.md exists and was not written by" in err
    assert (out / "README.md").read_text() == "# My project\n"
    assert not (out / "CLAIM-NPI-INVALID.md").exists()  # nothing written at all
    (out / "README.md").unlink()
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (out / "CLAIM-NPI-INVALID.md").symlink_to(target)
    code, _, err = run(["docs", "--out", str(out), "--ruleset", "core"])
    assert code == 2 and target.read_text() == "keep me"
