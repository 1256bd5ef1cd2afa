"""`python -m bench.gpu_check`: every CUDA path once, small and fast, and a results page.

The first thing to run on a new GPU. Each check (bench/gpu_checks/) is PASS, FAIL or SKIP with
its reason and figures; the page goes to docs/results/<date>-gpu-check.md (or --output). On a
machine without CUDA every check is SKIP with the reason and the command exits 0, so CI runs
its plumbing. Exit 1 when a check failed, 2 on bad input.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from bench.cli_parser import EXIT_BAD_INPUT, OneLineParser, parse_float
from bench.devices import resolve_device
from bench.errors import BenchError
from bench.gpu_checks import CHECKS, Check, CheckContext, Outcome
from bench.gpu_checks.base import failed, skipped
from bench.gpu_checks.page import default_output, render, write_page

DEFAULT_BUDGET_S = 480.0  # the target: under 8 minutes on one datacenter GPU


def parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m bench.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=None, help="the page (default docs/results/<date>-gpu-check.md)"
    )
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N (default cuda)")
    parser.add_argument("--budget-s", default=str(DEFAULT_BUDGET_S), help="time for all checks together, s")
    parser.add_argument("--logs", type=Path, default=None, help="a folder to keep each suite run's output in")
    parser.add_argument("--only", default=None, help="comma-separated check names (default: all)")
    return parser


def _device(text: str) -> tuple[torch.device | None, str]:
    """The CUDA device to check, or None and why not. Bad text is refused even without CUDA."""
    if not text.strip().lower().startswith("cuda"):
        raise BenchError(f"--device {text!r}: the GPU check runs on cuda or cuda:N")
    if not torch.cuda.is_available():
        return None, "no CUDA device visible (torch.cuda.is_available() is False)"
    return resolve_device(text), ""


def _selected(only: str | None) -> list[Check]:
    if only is None:
        return list(CHECKS)
    names = [name.strip() for name in only.split(",") if name.strip()]
    known = {c.name: c for c in CHECKS}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        bad = ", ".join(unknown) or "(none given)"
        raise BenchError(f"--only {only!r}: unknown check(s) {bad}; known: {', '.join(known)}")
    return [known[name] for name in names]


def run_checks(checks: Sequence[Check], context: CheckContext) -> list[tuple[Check, Outcome, float]]:
    results = []
    for check in checks:
        started = time.monotonic()
        if context.device is None:
            outcome = skipped(context.no_cuda_reason)
        elif context.seconds_left() < 5:
            outcome = skipped("the time budget was spent before this check")
        else:
            print(f"[gpu-check] {check.name}: {check.summary}", file=sys.stderr, flush=True)
            try:
                outcome = check.run(context)
            except Exception as error:  # a check that crashes is a FAIL with its reason, not a crash
                outcome = failed(
                    f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                )
        results.append((check, outcome, time.monotonic() - started))
        print(f"[gpu-check] {check.name}: {outcome.status} {outcome.reason}", file=sys.stderr, flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(arguments)
    try:
        budget_s = parse_float("--budget-s", args.budget_s, minimum=1.0, example="480")
        device, no_cuda = _device(args.device)
        checks = _selected(args.only)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    output = args.output or default_output()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as work:
        context = CheckContext(device, Path(work), started + budget_s, no_cuda, logs=args.logs)
        results = run_checks(checks, context)
    command = " ".join(["python -m bench.gpu_check", *arguments])
    write_page(render(results, device, command, time.monotonic() - started, budget_s), output)
    print(f"wrote {output}")
    return 1 if any(outcome.status == "FAIL" for _, outcome, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
