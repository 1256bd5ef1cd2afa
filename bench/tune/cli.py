"""`diffbench tune`: parse and check everything first (one line, exit 2), then search.

    diffbench tune --model sd15 --resolution 256 --steps 4 --min-psnr 35 --budget 40m
    diffbench tune --model tiny-ddpm-ihc --max-fid-increase 2 --fid-samples 200
    diffbench tune --model sd15 --profile rtx3050 --min-psnr 35 --fleet HEAD:6379

The suite's options keep their names, help and checks (bench/options): tune validates them with
the suite's own parsers before it loads anything, and passes them on to every timing run.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cli_parser import EXIT_BAD_INPUT, OneLineParser, parse_float, parse_int
from bench.options import add_study_arguments, study_lookup, suite_arguments
from bench.tune.candidates import QualityBound
from bench.tune.errors import TuneError

if TYPE_CHECKING:  # Ray and the fleet only for --fleet
    from bench.fleet.tune_source import FleetTarget

DEFAULT_OUTPUT = Path("tune-results")
DEFAULT_BUDGET = "45m"
# The suite options tune declares (the suite's names, help and checks) and passes on.
SUITE_OPTIONS = (
    "--model",
    "--weights",
    "--allow-pickle",
    "--cache-dir",
    "--resolution",
    "--steps",
    "--batch",
    "--guidance",
    "--scheduler",
    "--prompt",
    "--seed",
    "--device",
    "--profile",
    "--profile-file",
    "--calibration",
    "--timeout",
    "--fid-samples",
    "--fid-reference",
    "--fid-dims",
    "--fid-inception",
)
_DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m(?:in)?)?(?:(?P<s>\d+(?:\.\d+)?)s)?"
)
# PSNR of 8-bit images tops out near 48 dB for one-level differences; identical images are inf.
MAX_PSNR_BOUND = 200.0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="diffbench tune",
        description=(
            "Find the fastest recipe for a hardware profile within a quality bound: enumerate what "
            "the passes allow, screen by the memory estimate, time the single passes, race the most "
            "promising recipes against fp32 (successive halving, interleaved rounds)."
        ),
    )
    add_study_arguments(parser, *SUITE_OPTIONS, defaults={"--timeout": "900"})
    bound = parser.add_mutually_exclusive_group(required=True)
    bound.add_argument(
        "--min-psnr", metavar="DB", help="quality bound: PSNR vs fp32's image on the same seed"
    )
    bound.add_argument(
        "--max-fid-increase", metavar="X", help="quality bound: FID (vs the reference) at most X above fp32's"
    )
    parser.add_argument(
        "--budget",
        default=DEFAULT_BUDGET,
        help=f"time for the whole search, e.g. 30m, 1h, 90s (default {DEFAULT_BUDGET})",
    )
    parser.add_argument(
        "--passes", help="search only these passes, e.g. bf16,int8,prune,compile (default: all)"
    )
    parser.add_argument(
        "--max-candidates", default="8", help="recipes raced after the pilot of single passes (default 8)"
    )
    parser.add_argument("--rounds", default="2", help="timed rounds of the first halving round (default 2)")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"folder for tune.json, its runs and the plot (default {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--fleet",
        metavar="ADDRESS",
        help="time on the Ray cluster at HOST:PORT or ray://HOST:PORT, spreading each stage over the "
        "nodes that advertise --profile (docs/tune.md)",
    )
    return parser


def fleet_target(address: str, profile: str | None) -> FleetTarget:
    """The nodes of `profile` in the cluster at `address` (connected); TuneError / FleetError,
    one line, where --profile is missing or no node advertises it."""
    from bench.fleet.cluster import by_profile, check_profiles_present, connect, fleet_nodes
    from bench.fleet.resources import check_profile, known_profiles
    from bench.fleet.tune_source import FleetTarget

    if profile is None or profile.strip().lower() == "auto":
        raise TuneError(
            "--fleet needs --profile NAME, the profile of the nodes to time on (not auto): one of "
            f"{', '.join(known_profiles())}"
        )
    name = check_profile(profile)
    ray = connect(address)  # checks first that the address answers
    try:
        grouped = by_profile(fleet_nodes(ray.nodes()))
        check_profiles_present([name], grouped)
    except BaseException:
        ray.shutdown()
        raise
    return FleetTarget(ray=ray, address=address, profile=name, nodes=tuple(grouped[name]))


def parse_budget(text: str) -> float | None:
    """'45m', '1h30m', '90s', '2h', a bare number of minutes, or 'none'."""
    raw = str(text).strip().lower()
    if raw in ("none", "0"):
        return None
    try:
        minutes = float(raw)
    except ValueError:
        match = _DURATION.fullmatch(raw)
        if not raw or match is None or not any(match.groupdict().values()):
            raise TuneError(
                f"--budget {text!r} is not a duration; give e.g. 30m, 1h, 1h30m, 90s or none"
            ) from None
        parts = {key: float(value) for key, value in match.groupdict().items() if value}
        seconds = parts.get("h", 0.0) * 3600 + parts.get("m", 0.0) * 60 + parts.get("s", 0.0)
    else:
        seconds = minutes * 60
    if seconds <= 0:
        raise TuneError(f"--budget {text!r} must be more than nothing; give e.g. 30m or none")
    return seconds


def parse_bound(args: argparse.Namespace) -> QualityBound:
    if args.max_fid_increase is not None:
        value = parse_float("--max-fid-increase", args.max_fid_increase, minimum=0.0, example="2")
        return QualityBound(max_fid_increase=value)
    value = parse_float("--min-psnr", args.min_psnr, minimum=0.0, example="35")
    if value <= 0 or value > MAX_PSNR_BOUND:
        raise TuneError(
            f"--min-psnr {value:g} is out of range; give decibels above 0 and at most "
            f"{MAX_PSNR_BOUND:g}, e.g. 35"
        )
    return QualityBound(min_psnr=value)


def suite_options(args: argparse.Namespace, bound: QualityBound) -> list[str]:
    options = suite_arguments(args, SUITE_OPTIONS)
    if bound.uses_fid:
        options += ["--quality", "fid"]
    return options


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    # Everything a user can get wrong is checked here, before the model is loaded.
    from bench.errors import BenchError
    from models import ModelError
    from optimize.errors import RecipeError

    try:
        bound = parse_bound(args)
        budget_s = parse_budget(args.budget)
        max_candidates = parse_int("--max-candidates", args.max_candidates, minimum=1, maximum=64)
        first_rounds = parse_int("--rounds", args.rounds, minimum=1, maximum=100)
        from bench.suite_config import config_from_options
        from bench.tune.space import parse_pass_set

        passes = parse_pass_set(args.passes)
        lookup = study_lookup(args, SUITE_OPTIONS)
        config = config_from_options(lambda name: "fp32" if name == "--variants" else lookup(name))
        if len(config.workloads) != 1:
            raise TuneError("tune searches one workload; give one --resolution/--steps/... each")
        if args.output.exists() and not args.output.is_dir():
            raise TuneError(f"--output {str(args.output)!r} exists and is not a folder; give a folder")
    except (BenchError, ModelError, RecipeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from bench.tune.search import Search, SearchSettings

    try:
        fleet = None if args.fleet is None else fleet_target(args.fleet, args.profile)
    except BenchError as error:  # TuneError, FleetError: the profile or the cluster
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = SearchSettings(
        config=config,
        suite_options=suite_options(args, bound),
        bound=bound,
        budget_s=budget_s,
        passes=passes,
        max_candidates=max_candidates,
        first_rounds=first_rounds,
        output=args.output,
        command=["diffbench", "tune", *(sys.argv[1:] if argv is None else argv)],
        fleet=fleet,
    )
    try:
        return Search(settings).run()
    except (BenchError, ModelError, RecipeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        if fleet is not None:
            fleet.ray.shutdown()
