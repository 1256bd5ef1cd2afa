"""`python -m bench.studies beforeafter`: one optimisation, before and after, on every hardware profile.

    python -m bench.studies beforeafter --recipe "prune(0.3)+bf16" [--model tiny-sd] \\
        [--profiles cpu,gtx1650,rtx3050,rtx3080] [--rounds 3] [--output-dir DIR] [-- SUITE OPTIONS]

The suite runs once per profile with `--variants BASELINE,RECIPE --profile P` into DIR/runs
(pytest-benchmark keeps each profile's runs in its own folder), then `python -m reports
beforeafter` writes DIR/beforeafter.md (generation time, GPU utilisation, RAM, VRAM, quality and
time for 100 prompts, before and after, with the change in percent, per profile; then the
recommended variant for every profile) and DIR/beforeafter.png. On a machine without the
profile's card the profile's time is projected and its memory estimated, and the table says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.options import add_study_arguments, suite_arguments
from bench.studies.runner import StudyError, add_suite_passthrough, run_report, run_suite, suite_passthrough

DEFAULT_OUTPUT = Path("beforeafter-study")
DEFAULT_PROFILES = "cpu,gtx1650,rtx3050,rtx3080"
# The suite options this study declares and passes on (bench/options: same names and help).
SUITE_OPTIONS = ("--model", "--rounds")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "beforeafter",
        help="an optimisation's before/after on every hardware profile, with a recommendation per profile",
        description="Run the suite with the baseline and RECIPE once per profile; write runs/, "
        "beforeafter.md and beforeafter.png.",
    )
    parser.add_argument("--recipe", required=True, help="the optimisation, e.g. bf16 or 'prune(0.3)+bf16'")
    add_study_arguments(parser, *SUITE_OPTIONS, defaults={"--rounds": "3"})
    parser.add_argument(
        "--profiles", default=DEFAULT_PROFILES, help=f"comma-separated profiles (default {DEFAULT_PROFILES})"
    )
    parser.add_argument("--name", default="beforeafter", help="run name (default beforeafter)")
    parser.add_argument(
        "--output-dir", type=Path, default=DEFAULT_OUTPUT, help=f"results folder (default {DEFAULT_OUTPUT})"
    )
    add_suite_passthrough(parser)
    parser.set_defaults(run=run)


def canonical_recipe(text: str) -> str:
    from optimize import PassError, parse_recipe

    try:
        return parse_recipe(text).canonical
    except PassError as error:
        raise StudyError(f"--recipe {text!r}: {error}") from None


def run(args: argparse.Namespace) -> int:
    from optimize import BASELINE

    recipe = canonical_recipe(args.recipe)
    if recipe == BASELINE:
        raise StudyError(f"--recipe {args.recipe!r} is the baseline itself; give an optimisation, e.g. bf16")
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    if not profiles:
        raise StudyError(f"--profiles {args.profiles!r}: give comma-separated profiles, e.g. cpu,gtx1650")
    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise StudyError(f"--output-dir {args.output_dir} exists and is not a folder")
    extra = suite_passthrough(args)
    runs = args.output_dir / "runs"
    for profile in profiles:
        options = [*suite_arguments(args, SUITE_OPTIONS), "--variants", f"{BASELINE},{recipe}"]
        saved = run_suite([*options, "--profile", profile, *extra], runs, args.name)
        print(f"[study] {profile}: saved {saved}")
    return run_report(["beforeafter", str(runs), "--recipe", recipe, "--output-dir", str(args.output_dir)])
