"""`python -m bench.recover [--storage DIR]`: turn interrupted runs' journals into saved runs.

A journal that cannot be read is moved to `<storage>/.quarantine/` with one line on stderr
naming it and where it went; the others are still recovered.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.journal import recover_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recover", description=__doc__)
    parser.add_argument(
        "--storage", default=".benchmarks", help="pytest-benchmark storage (default .benchmarks)"
    )
    args = parser.parse_args(argv)
    storage = Path(args.storage)
    if not storage.is_dir():
        print(f"error: storage folder {storage} does not exist", file=sys.stderr)
        return 2
    quarantined: list[str] = []

    def warn(message: str) -> None:
        quarantined.append(message)
        print(message, file=sys.stderr)

    recovered = recover_all(storage, warn)
    for item in recovered:
        if item.saved is None:
            print(f"removed empty journal {item.journal.name}")
        else:
            counts = f"{item.benchmarks} benchmark(s) and {item.failures} failure row(s)"
            print(f"recovered {counts} into {item.saved}")
    if not recovered and not quarantined:
        print("nothing to recover")
    return 0


if __name__ == "__main__":
    sys.exit(main())
