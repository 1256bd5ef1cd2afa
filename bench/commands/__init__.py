"""`diffbench COMMAND ...`: one command line over the suite, the reports and the tools.

Each command is one module in this package, named after it (`gpu_check.py` is `gpu-check`):
a one-line `SUMMARY` and `main(argv) -> exit status`. A module imports what its command needs
inside `main`, so `diffbench --help` and each command's `--help` start without torch. Adding
a command (`tune`, `fleet`) is one module here. Bad input: one line, exit 2; a wrapped
command's exit status passes through.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.cli_parser import OneLineParser


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    main: Callable[[list[str]], int]


def delegate(module: str) -> Callable[[list[str]], int]:
    """A command that is `module.main(argv)` (its `python -m` form), imported when it runs."""

    def main(argv: list[str]) -> int:
        return int(importlib.import_module(module).main(argv))

    return main


def commands() -> dict[str, Command]:
    """Every module of this package (but the private ones) as a command, by name."""
    found: dict[str, Command] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        name = info.name.replace("_", "-")
        found[name] = Command(name, module.SUMMARY, module.main)
    return dict(sorted(found.items()))


def build_parser(known: dict[str, Command]) -> argparse.ArgumentParser:
    width = max(len(name) for name in known)
    listing = "\n".join(f"  {c.name.ljust(width)}  {c.summary}" for c in known.values())
    parser = OneLineParser(
        prog="diffbench",
        usage="diffbench [-h] COMMAND [ARGS ...]",
        description="Benchmark and optimise diffusion pipelines.",
        epilog=f"commands:\n{listing}\n\n`diffbench COMMAND --help` shows a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", metavar="COMMAND", choices=list(known), help="one of the commands below")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    known = commands()
    parser = build_parser(known)
    if arguments and arguments[0].startswith("-") and arguments[0] not in ("-h", "--help"):
        parser.error(f"unknown option {arguments[0]!r}; give -h/--help or a COMMAND first")
    # Only the command's name is ours; everything after it is the command's own.
    command = parser.parse_args(arguments[:1]).command
    return int(known[command].main(arguments[1:]))
