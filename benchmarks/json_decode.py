"""Which JSON decoder reads claims fastest *correctly*: ``python benchmarks/json_decode.py``.

Correct means what ``hcpcs_rules.reader`` promises: a float is left for the claim parser to refuse
with its path, a duplicate key and an integer of over 100 digits are ClaimErrors with their paths,
nesting beyond 64 levels is refused, and every other text decodes to exactly the value the
standard library gives. Fast decoders do none of that on their own (orjson and msgspec keep the
last of two equal keys; orjson turns integers beyond 64 bits into floats), so each candidate is a
fast decode plus the checks that make it correct, falling back to the exact standard-library path
(``reader._decode_exact``) whenever a check fails:

- ``stdlib exact``: the json module with the reader's hooks (object_pairs_hook, parse_int), what
  the reader did before; the baseline (ratios are its time over the candidate's).
- ``stdlib plain+checks``: the json module without hooks, then a Python walk for floats, long
  integers and depth, and the colon count (see reader._fast_value) for duplicates.
- ``orjson+checks``: orjson.loads, the same walk (floats include orjson's big integers), colons.
- ``msgspec+checks``: what the reader ships for documents and JSON Lines: msgspec with a float
  hook that aborts, then ``reader._nothing_to_report``: a digit-run test on the translated bytes,
  the colon count (msgspec's encoder), and past 64 brackets a depth count done on the text.
- ``json C scanner+checks``: what the reader ships for JSON array elements (msgspec cannot say
  where an element ends): the json module's C scanner with hooks for floats only, the same checks.

Each candidate is first run over a battery of awkward texts and must give the exact path's outcome
on every one (the script stops otherwise). Then claims of 1, 3, 10 and 50 lines (from the
project's claim generator) are decoded, candidates interleaved round by round, medians reported,
with bare decoders (unsafe alone), the claim parser and a full evaluation for scale, and
``Engine.evaluate_json`` end to end with and without msgspec. Last, the
reader streaming a JSON Lines file and a JSON array of generated claims, with and without msgspec.
Timings on a shared machine are noisy: read the ratios. Nothing is asserted about time.

    python benchmarks/json_decode.py [--rounds 7] [--claims 2000]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from hcpcs_rules import ClaimError, Engine, reader
from hcpcs_rules.testing import claimgen

MAX_DEPTH = reader.MAX_DEPTH
LONG = 10**reader.MAX_INTEGER_DIGITS  # as long as the exact path allows a negative one to be


def _walk_ok(value: Any) -> bool:
    """No float, no integer the exact path reports, no container deeper than MAX_DEPTH."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        items = item.values() if type(item) is dict else item
        for v in items:
            kind = type(v)
            if kind is dict or kind is list:
                stack.append((v, depth + 1))
            elif kind is float or (kind is int and not -LONG // 10 < v < LONG // 10):
                return False
    return True


def _checked(loads: Callable[[bytes], Any], dumps: Callable[[Any], bytes]) -> Callable:
    def decode(data: bytes) -> Any:
        try:
            value = loads(data)
        except Exception:
            return _exact(data)
        if type(value) is float:
            return _exact(data)
        if type(value) in (dict, list) and not _walk_ok(value):
            return _exact(data)
        colons = data.count(b":")
        if colons and (b"\\u003" in data or dumps(value).count(b":") != colons):
            return _exact(data)
        return value

    return decode


def _exact(data: bytes) -> Any:
    """The reference: reader.decode_claim with the fast decoder switched off."""
    saved, reader._fast_decoder = reader._fast_decoder, None
    try:
        return reader.decode_claim(data)
    finally:
        reader._fast_decoder = saved


def _stdlib_dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


CANDIDATES: dict[str, Callable[[bytes], Any]] = {
    "stdlib exact": _exact,
    # Decoded strictly first: json.loads(bytes) would let encoded lone surrogates through.
    "stdlib plain+checks": _checked(lambda b: json.loads(b.decode()), _stdlib_dumps),
    "orjson+checks": _checked(orjson.loads, orjson.dumps),
    "msgspec+checks": reader.decode_claim,  # the shipped path
    "json C scanner+checks": lambda data: _scanned(data),
}


def _scanned(data: bytes) -> Any:
    try:
        value = reader._PLAIN.decode(data.decode())
    except Exception:
        return _exact(data)
    return value if reader._nothing_to_report(value, data) else _exact(data)


BARE: dict[str, Callable[[bytes], Any]] = {
    "json.loads (bare, unsafe)": json.loads,
    "orjson.loads (bare, unsafe)": orjson.loads,
    "msgspec (bare, unsafe)": msgspec.json.decode,
}


def battery() -> list[bytes]:
    """Texts each candidate must decode exactly as the exact path does (value or ClaimError)."""
    claim = json.dumps(claims_of(3)[0])
    texts = [
        claim,
        claim[:-1] + ', "payer": "aetna"}',  # a duplicate key
        claim.replace('"hcpcs"', '"hcpcs": "J7631", "hcpcs"', 1),  # a nested one
        '{"a": "x:y", "a": 1}',
        '{"a\\u003a": 1, "a:": 2}',  # equal keys spelled differently
        '{"a": "\\u003a", "a": 1}',
        '{"units": 2.5}',
        '{"units": 1e400}',
        '{"units": -0.0}',
        '{"n": 18446744073709551616}',  # beyond 64 bits: orjson makes a float of it
        '{"n": -9223372036854775809}',
        '{"n": ' + "9" * 100 + "}",
        '{"n": -' + "9" * 99 + "}",
        '{"n": -' + "9" * 100 + "}",
        '{"n": ' + "9" * 5000 + "}",
        '{"s": "' + "9" * 120 + '"}',
        "[" * 64 + "]" * 64,
        "[" * 65 + "]" * 65,
        '{"a":' * 64 + "{}" + "}" * 64,
        '{"a":' * 65 + "1" + "}" * 65,
        "[" * 5000 + "]" * 5000,
        '{"a": NaN}',
        '{"a": "\\ud800"}',
        '{"a": [1, 2,]}',
        "[1, 2] [3]",
        "",
        '"just a string"',
        '{"\\u00e9": "caf\\u00e9", "e\u0301": "\u2028"}',
    ]
    return [t.encode() for t in texts] + [b"\xff{}", b'{"a": "\xed\xa0\x80"}']


def outcome(decode: Callable[[bytes], Any], data: bytes) -> Any:
    try:
        return ("value", decode(data))
    except ClaimError as exc:
        return ("ClaimError", exc.errors)


def claims_of(lines: int, seed: int = 3) -> list[dict]:
    """Generated claims, each with exactly ``lines`` lines drawn from the generator's lines."""
    generated = [c for c in claimgen.claims(400, seed) if _walk_ok(c)]
    pool = [line for c in generated for line in c["lines"]]
    rng = random.Random(seed)
    out = []
    for claim in generated[:20]:
        claim = dict(claim, lines=rng.sample(pool, lines))
        out.append(claim)
    return out


def _valid(engine: Engine, claim: dict) -> bool:
    try:
        engine.parse_claim(claim)
    except ClaimError:
        return False
    return True


def timed(function: Callable[[], object], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - started) / repeat


def per_size(rounds: int, engine: Engine) -> None:
    fast = reader._fast_decoder
    print("Decoding one claim (median microseconds; ratio = stdlib exact / candidate):")
    for lines in (1, 3, 10, 50):
        texts = [json.dumps(c).encode() for c in claims_of(lines) if _valid(engine, c)]
        for name, decode in CANDIDATES.items():
            assert all(decode(t) == json.loads(t) for t in texts), name
        repeat = max(2, 400 // lines)
        every = {**CANDIDATES, **BARE}
        samples: dict[str, list[float]] = {name: [] for name in every}
        samples["evaluate_json, stdlib exact"] = []
        samples["evaluate_json, msgspec+checks"] = []
        samples["parse_claim (for scale)"] = []
        samples["evaluate (for scale)"] = []
        decoded = [json.loads(t) for t in texts]
        for _ in range(rounds):
            for name, decode in every.items():
                samples[name].append(timed(lambda d=decode, ts=texts: [d(t) for t in ts], repeat))
            for name, decoder in (("stdlib exact", None), ("msgspec+checks", fast)):
                reader._fast_decoder = decoder
                try:
                    samples[f"evaluate_json, {name}"].append(
                        timed(
                            lambda ts=texts: [engine.evaluate_json(t) for t in ts],
                            max(2, repeat // 4),
                        )
                    )
                finally:
                    reader._fast_decoder = fast
            samples["parse_claim (for scale)"].append(
                timed(lambda cs=decoded: [engine.parse_claim(c) for c in cs], repeat)
            )
            samples["evaluate (for scale)"].append(
                timed(lambda cs=decoded: [engine.evaluate(c) for c in cs], max(2, repeat // 4))
            )
        size = statistics.mean(len(t) for t in texts)
        print(f"  {lines} line(s), {size:,.0f} bytes of JSON per claim:")
        base = statistics.median(samples["stdlib exact"])
        for name, values in samples.items():
            median = statistics.median(values)
            print(f"    {name:30s} {median / len(texts) * 1e6:9.1f} us   x{base / median:5.2f}")


def streaming(rounds: int, count: int) -> None:
    generated = [c for c in claimgen.claims(count, 11) if _walk_ok(c)]
    jsonl = "".join(json.dumps(c) + "\n" for c in generated).encode()
    array = ("[\n" + ",\n".join(json.dumps(c, indent=1) for c in generated) + "\n]\n").encode()
    print(f"\nThe reader over {len(generated):,} generated claims (median claims per second):")
    fast = reader._fast_decoder
    for label, data, jsonl_flag in (("JSON Lines", jsonl, True), ("JSON array", array, False)):
        samples: dict[str, list[float]] = {"stdlib exact": [], "msgspec+checks": []}
        for _ in range(rounds):
            for name, decoder in (("stdlib exact", None), ("msgspec+checks", fast)):
                reader._fast_decoder = decoder
                try:
                    samples[name].append(
                        timed(
                            lambda d=data, j=jsonl_flag: sum(
                                1 for _ in reader.read_stream(io.BytesIO(d), "f", jsonl=j)
                            ),
                            1,
                        )
                    )
                finally:
                    reader._fast_decoder = fast
        exact = statistics.median(samples["stdlib exact"])
        quick = statistics.median(samples["msgspec+checks"])
        print(
            f"  {label:10s} stdlib exact {len(generated) / exact:9,.0f}/s   "
            f"msgspec+checks {len(generated) / quick:9,.0f}/s   x{exact / quick:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--claims", type=int, default=2000)
    args = parser.parse_args()
    print(f"{reader.fast_decoder()}, orjson {orjson.__version__}\n")
    texts = battery()
    for name, decode in CANDIDATES.items():
        wrong = [t[:40] for t in texts if outcome(decode, t) != outcome(_exact, t)]
        if wrong:
            raise SystemExit(f"{name} is not correct on: {wrong}")
    print(f"Every candidate decodes the {len(texts)} awkward texts exactly as the exact path.\n")
    engine = Engine(rulesets=["core", "j7632"])
    per_size(args.rounds, engine)
    streaming(args.rounds, args.claims)


if __name__ == "__main__":
    main()
