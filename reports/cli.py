"""``python -m reports COMMAND ...``: the command line over the reports package.

Each command lives in its own module next to this one and exposes
``register(commands, parents)``, which adds its subparser and sets ``run=<callable>``
(``args -> exit status``). Commands are discovered: every module of the package with a
module-level ``register`` is one, so adding a command is one module (plus its test).

Bad input ends in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

import numpy as np

import reports
from reports.errors import ReportError, ReportWarning
from reports.loader import DEFAULT_PATH


def command_modules(package: ModuleType = reports) -> list[ModuleType]:
    """The package's modules that define ``register``, by module name (the help's order).

    Private modules (``_x``, ``__main__``) are skipped: importing ``__main__`` would run the CLI."""
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if callable(getattr(module, "register", None)):
            found.append(module)
    return found


EXIT_BAD_INPUT = 2


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the project's CLI convention), still exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m reports", description="Tables and comparisons of saved diffbench runs."
    )
    # Options every command over saved runs shares, so they read the same everywhere.
    runs = argparse.ArgumentParser(add_help=False)
    runs.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help=f"run files or folders searched recursively for *.json (default: {DEFAULT_PATH})",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules():
        module.register(commands, [runs])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A saved run may hold NaN or infinite figures (JSON allows them): arithmetic on them gives
    # NaN, printed as an empty cell, and numpy's "invalid value" warnings would only be noise.
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always", ReportWarning)
        try:
            status = args.run(args)
        except ReportError as error:
            _print_warnings(caught)
            _fail(str(error))
        except BrokenPipeError:
            # `python -m reports table | head`: the reader left; that is not an error of ours.
            # Point stdout at devnull so the interpreter's final flush cannot raise again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
    _print_warnings(caught)
    return status


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    said: set[str] = set()
    for item in caught:
        if issubclass(item.category, ReportWarning):
            # A command that shapes the same runs several times (html) warns several times.
            if str(item.message) not in said:
                said.add(str(item.message))
                print(f"warning: {item.message}", file=sys.stderr)
        else:  # not ours: show it as Python would have
            warnings.showwarning(item.message, item.category, item.filename, item.lineno)
    caught.clear()


def _fail(message: str) -> NoReturn:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)
