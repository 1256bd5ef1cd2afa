"""The same recipe twice under two names, interleaved and sequential: how far from 1.0 is their ratio?

    python tools/interleave_check.py --model tiny-sd --recipe fp32 --repeats 10 --rounds 5 --steps 4

Issue 18 asks that `--interleave` make the suite's comparisons fair on a loaded machine: for
fp32 against fp32 (one recipe timed under two names, A and B) the median of A/B over 10
repeats within 3% of 1.0, and tighter than the sequential suite's. Both timings go through
the suite itself, in this process: interleaved, through bench/interleave.py's session on the
two cases (two resident copies of the variant, loaded from the variant cache, round k of A and
B before round k+1, the order rotated); sequential, through Suite.run on A then on B (first
call, warm-up, then all of A's rounds, then all of B's), as `pytest bench/` does. Each repeat
gives one ratio per mode: median of A's rounds / median of B's rounds. The two modes alternate
which goes first, repeat by repeat. The load average is printed with each repeat: the figures
mean something only beside it.

Lab code (tools/README.md); results: docs/results/2026-12-04-interleave.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from bench.cli_parser import OneLineParser
from bench.interleave import RESIDENT, InterleavedSession
from bench.suite import Suite
from bench.suite_config import SuiteConfig
from bench.workload import Workload


class RoundTimer:
    """pytest-benchmark's fixture reduced to what Suite.run calls, keeping each round's seconds.

    Timed as pytest-benchmark's pedantic runner times a round: the clock read just before and
    just after the call, `setup` outside."""

    def __init__(self) -> None:
        self.durations: list[float] = []

    def pedantic(
        self,
        function: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        setup: Callable[[], Any] | None = None,
        rounds: int = 1,
        warmup_rounds: int = 0,
        iterations: int = 1,
    ) -> None:
        for _ in range(rounds):
            if setup is not None:
                setup()
            started = time.perf_counter()
            function(*args, **(kwargs or {}))
            self.durations.append(time.perf_counter() - started)


def _config(args: argparse.Namespace, cache: Path, interleave: str | None) -> SuiteConfig:
    return SuiteConfig(
        model=args.model,
        weights="random",
        variants=(args.recipe,),
        workloads=(Workload(steps=args.steps),),
        rounds=args.rounds,
        warmup=args.warmup,
        device=torch.device("cpu"),
        cache_root=cache,
        allow_pickle=False,
        interleave=interleave,
    )


def interleaved_ratio(args: argparse.Namespace, cache: Path) -> float:
    suite = Suite(_config(args, cache, RESIDENT))
    (case,) = suite.cases()
    first, second = InterleavedSession(suite, [case, case]).run()
    for result in (first, second):
        if result.error is not None:
            raise result.error
    return statistics.median(first.durations) / statistics.median(second.durations)


def sequential_ratio(args: argparse.Namespace, cache: Path) -> float:
    suite = Suite(_config(args, cache, None))
    (case,) = suite.cases()
    medians = []
    for name in ("A", "B"):
        timer = RoundTimer()
        info = suite.row(case)
        suite.run(case, timer, info)
        if info["status"] != "ok":
            raise SystemExit(f"error: {case.variant} ({name}) ended {info['status']}: {info['reason']}")
        medians.append(statistics.median(timer.durations))
        suite.release_variant()  # B is loaded again, as the next case of a sequential run would be
    return medians[0] / medians[1]


def spread(ratios: list[float]) -> str:
    worst = max(abs(ratio - 1.0) for ratio in ratios)
    quartiles = statistics.quantiles(ratios, n=4, method="inclusive")
    return (
        f"median {statistics.median(ratios):.4f}, IQR {quartiles[2] - quartiles[0]:.4f}, "
        f"min {min(ratios):.4f}, max {max(ratios):.4f}, largest |ratio - 1| {worst:.4f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-sd")
    parser.add_argument("--recipe", default="fp32", help="the recipe timed twice (default fp32)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--cache-dir", type=Path, help="the variant cache (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.repeats < 2 or args.rounds < 1:
        parser.error(f"--repeats {args.repeats} / --rounds {args.rounds}: need 2+ repeats and 1+ rounds")
    with tempfile.TemporaryDirectory() as temporary:
        cache = args.cache_dir or Path(temporary)
        print(
            f"{args.model} {args.recipe} vs {args.recipe}, {args.steps} steps, {args.rounds} rounds "
            f"after {args.warmup} warm-up, {args.repeats} repeats; torch threads {torch.get_num_threads()}, "
            f"{os.cpu_count()} CPUs"
        )
        ratios: dict[str, list[float]] = {"interleaved": [], "sequential": []}
        measures = {"interleaved": interleaved_ratio, "sequential": sequential_ratio}
        started = time.perf_counter()
        for repeat in range(args.repeats):
            order = list(measures) if repeat % 2 == 0 else list(reversed(measures))
            for mode in order:
                ratios[mode].append(measures[mode](args, cache))
            print(
                f"repeat {repeat + 1:2d}: interleaved {ratios['interleaved'][-1]:.4f}  "
                f"sequential {ratios['sequential'][-1]:.4f}  (load {os.getloadavg()[0]:.2f}, "
                f"{time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    for mode, values in ratios.items():
        print(f"{mode:>11}: A/B {spread(values)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
