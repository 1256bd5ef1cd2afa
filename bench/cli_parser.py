"""The parsers the harness's command lines share: a bad value is one line, exit 2.

`OneLineParser` is argparse with a one-line usage error. `parse_int` and `parse_float` are
the one way an option's number is read (the suite's pytest options arrive as text): they
name the option and the value, and refuse what means nothing (`abc`, `1.5` for a count,
NaN and infinities).
"""

from __future__ import annotations

import argparse
import math
import re
from typing import NoReturn

from bench.errors import BenchError

EXIT_BAD_INPUT = 2
# ASCII digits only: int() also takes '1_000' and other scripts' digits, which nobody means here.
_INTEGER = re.compile(r"[+-]?[0-9]+")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one `error:` line naming where help is (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


def _range_text(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"from {minimum} to {maximum}"
    if minimum is not None:
        return f"{minimum} or more"
    return f"at most {maximum}" if maximum is not None else "any"


def parse_int(option: str, text: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """`text` as a whole number within [minimum, maximum]; BenchError naming the option otherwise."""
    accepted = _range_text(minimum, maximum)
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        string = str(text).strip()
        if not _INTEGER.fullmatch(string) or len(string) > 40:
            raise BenchError(f"{option} {text!r} is not a whole number; give one ({accepted})")
        value = int(string)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise BenchError(f"{option} {value} is out of range; give a whole number ({accepted})")
    return value


def parse_float(option: str, text: object, minimum: float | None = None, example: str = "1.0") -> float:
    """`text` as a finite number at least `minimum`; NaN and infinities are refused, they mean nothing."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BenchError(f"{option} {text!r} is not a number, e.g. {example}") from None
    if not math.isfinite(value):
        raise BenchError(f"{option} {text!r} is not a finite number, e.g. {example}")
    if minimum is not None and value < minimum:
        raise BenchError(f"{option} {value:g} must be {minimum:g} or more, e.g. {example}")
    return value
