"""The run options: how each variant is timed (rounds, warm-up) and how long it may take."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.cli_parser import parse_float, parse_int
from bench.errors import BenchError
from bench.options.spec import Option, OptionGroup, OptionLookup


@dataclass(frozen=True)
class RunOptions(OptionGroup):
    TITLE: ClassVar[str] = "diffbench run"
    DESCRIPTION: ClassVar[str] = "diffbench: timed rounds, warm-up and the time limit"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option("--rounds", default="5", help="timed rounds per benchmark, after warm-up (default 5)"),
        Option("--warmup", default="1", help="untimed generations after the first call (default 1)"),
        # pytest-timeout, when installed, already defines --timeout with the same meaning: its value is used.
        Option(
            "--timeout",
            help="seconds one benchmark may take; past it the row gets status 'timeout' (default: no limit)",
            shared=True,
        ),
    )

    rounds: int
    warmup: int
    timeout_s: float | None

    @classmethod
    def parse(cls, option: OptionLookup) -> RunOptions:
        return cls(
            rounds=parse_int("--rounds", option("--rounds"), minimum=1),
            warmup=parse_int("--warmup", option("--warmup"), minimum=0),
            timeout_s=parse_timeout(option("--timeout")),
        )


def parse_timeout(text: str | float | None) -> float | None:
    """Seconds one benchmark may take; not given or 0: no limit. NaN and inf are refused, not 'no limit'."""
    if text is None or str(text).strip() == "":
        return None
    seconds = parse_float("--timeout", text, example="600 (seconds; 0 for no limit)")
    if seconds < 0:
        raise BenchError(f"--timeout {seconds:g} must be a positive number of seconds (0 for no limit)")
    return seconds or None
