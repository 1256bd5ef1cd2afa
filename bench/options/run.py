"""The run options: how each variant is timed (rounds, warm-up, interleaved or one after another)
and how long it may take."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bench.cli_parser import parse_float, parse_int
from bench.errors import BenchError
from bench.options.spec import Option, OptionGroup, OptionLookup


@dataclass(frozen=True)
class RunOptions(OptionGroup):
    TITLE: ClassVar[str] = "diffbench run"
    DESCRIPTION: ClassVar[str] = "diffbench: timed rounds, warm-up, interleaving and the time limit"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option("--rounds", default="5", help="timed rounds per benchmark, after warm-up (default 5)"),
        Option("--warmup", default="1", help="untimed generations after the first call (default 1)"),
        # pytest-timeout, when installed, already defines --timeout with the same meaning: its value is used.
        Option(
            "--timeout",
            help="seconds one benchmark may take; past it the row gets status 'timeout' (default: no limit)",
            shared=True,
        ),
        Option(
            "--interleave",
            action="store_true",
            help="time the rounds of every variant of a workload in alternation (round k of each variant "
            "before round k+1 of any, the order rotated each round), every variant resident: a slow "
            "minute of a shared machine hits them alike; peak RAM is then the set's (default: off, one "
            "variant after another)",
        ),
        Option(
            "--interleave-reload",
            action="store_true",
            help="--interleave with each variant reloaded from the variant cache (and given one untimed "
            "generation) before its round, so its peak RAM is its own (outside the timing, but it costs "
            "wall time)",
        ),
    )

    rounds: int
    warmup: int
    timeout_s: float | None
    interleave: str | None  # None (one variant after another), "resident" or "reload"

    @classmethod
    def parse(cls, option: OptionLookup) -> RunOptions:
        return cls(
            rounds=parse_int("--rounds", option("--rounds"), minimum=1),
            warmup=parse_int("--warmup", option("--warmup"), minimum=0),
            timeout_s=parse_timeout(option("--timeout")),
            interleave=interleave_mode(option("--interleave"), option("--interleave-reload")),
        )


def interleave_mode(interleave: object, reload: object) -> str | None:
    """`--interleave` -> "resident"; `--interleave-reload` (with or without `--interleave`) -> "reload".

    The flags are store_true, so pytest gives booleans; a study passing them on gives the same."""
    for name, value in (("--interleave", interleave), ("--interleave-reload", reload)):
        if value not in (None, False, True):
            raise BenchError(f"{name} takes no value (got {value!r}): add {name} to turn it on")
    if reload:
        return "reload"
    return "resident" if interleave else None


def parse_timeout(text: str | float | None) -> float | None:
    """Seconds one benchmark may take; not given or 0: no limit. NaN and inf are refused, not 'no limit'."""
    if text is None or str(text).strip() == "":
        return None
    seconds = parse_float("--timeout", text, example="600 (seconds; 0 for no limit)")
    if seconds < 0:
        raise BenchError(f"--timeout {seconds:g} must be a positive number of seconds (0 for no limit)")
    return seconds or None
