"""`python -m bench.studies STUDY ...`: the command line over the studies.

Each study lives in its own module next to this one and exposes `register(commands)`, which
adds its subparser and sets `run=<callable>` (`args -> exit status`). Adding a study is one
module plus one line in `STUDY_MODULES`. Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bench.cli_parser import EXIT_BAD_INPUT, OneLineParser
from bench.studies.runner import StudyError

# One line per study; modules are imported when the parser is built.
STUDY_MODULES: tuple[str, ...] = (
    "bench.studies.webui",
    "bench.studies.sweep",
    "bench.studies.checkpoints",
    "bench.studies.family",
    "bench.studies.beforeafter",
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m bench.studies",
        description="Ready-made studies: each runs the benchmark suite and writes a table and a plot.",
    )
    commands = parser.add_subparsers(dest="study", metavar="STUDY", required=True, parser_class=OneLineParser)
    for name in STUDY_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except StudyError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
