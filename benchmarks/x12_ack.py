"""What answering an 837P costs: ``python benchmarks/x12_ack.py [--claims 2000]``.

For generated claims written as one 837P (with its directory and sidecar), claims per second
of (1) checking the 837P end to end (``check_837p``, python backend), (2) the same and writing
its 277CA (``write_277ca``, which reads the file a second time), and, when pyx12 is installed,
(3) validating the file with pyx12 and writing its 999 (on a tenth of the claims: it is slow).
Then the ratio of (2) to (1) per claim. Medians of 5 rounds; nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

from hcpcs_rules import Engine
from hcpcs_rules.x12 import (
    check_837p,
    load_directory,
    load_sidecar,
    reference_data,
    validate_x12,
    write_277ca,
    write_837p,
)
from x12_read import median_rate, writable  # a sibling script, on the path when run as one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=2000)
    args = parser.parse_args()
    claims = writable(args.claims)
    directory, sidecar = reference_data(claims)
    directory, sidecar = load_directory(directory), load_sidecar(sidecar)
    data = write_837p(claims).encode("ascii")
    engine = Engine(backend="python")
    count = len(claims)

    def check() -> None:
        _, outcomes = check_837p(engine, data, directory=directory, sidecar=sidecar)
        for _ in outcomes:
            pass

    def acknowledged() -> None:
        _, outcomes = check_837p(engine, data, directory=directory, sidecar=sidecar)
        write_277ca(outcomes, data)

    checked = median_rate(check, count)
    acked = median_rate(acknowledged, count)
    print(f"{count} claims, {len(data) / 1e6:.1f} MB of 837P")
    print(f"check_837p end to end         {checked:10,.0f} claims/s")
    print(f"  and write_277ca             {acked:10,.0f} claims/s")
    print(f"cost per claim, with 277CA / without: {checked / acked:.2f}")
    if importlib.util.find_spec("pyx12") is not None:
        small = claims[: max(1, count // 10)]
        text = write_837p(small).encode("ascii")
        start = time.perf_counter()
        validate_x12(text)  # generated claims need not satisfy every guide rule: time only
        rate = len(small) / (time.perf_counter() - start)
        print(f"validate_x12 (pyx12, 999)     {rate:10,.0f} claims/s ({len(small)} claims, once)")


if __name__ == "__main__":
    main()
