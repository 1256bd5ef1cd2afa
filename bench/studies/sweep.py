"""`python -m bench.studies sweep`: sweep steps, guidance, scheduler, resolution, batch, seeds, prompts.

    python -m bench.studies sweep --sweep steps=10,20,50 --sweep guidance=5,7.5,10 \\
        [--sweep-mode product|each] [--prompts-file FILE] [--seeds 0,1,2] \\
        [--model tiny-sd] [--variants fp32] [--rounds 3] [--output-dir DIR] [-- SUITE OPTIONS]

One suite run over every workload of the sweep (bench/sweep.py expands it), saved in
DIR/runs, then `python -m reports sweep` writes DIR/sweep.md and DIR/sweep.png. Anything after
`--` goes to `pytest bench/` unchanged (e.g. `-- --device cuda --profile rtx3050`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.options import add_study_arguments, study_lookup, suite_arguments
from bench.studies.runner import StudyError, add_suite_passthrough, run_report, run_suite, suite_passthrough

DEFAULT_OUTPUT = Path("sweep-study")
# The suite options this study declares and passes on (bench/options: same names and help).
SUITE_OPTIONS = ("--sweep", "--sweep-mode", "--prompts-file", "--seeds", "--model", "--variants", "--rounds")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sweep",
        help="latency, memory and PSNR across steps, guidance, scheduler, resolution, batch, seeds, prompts",
        description="Run the suite over a workload sweep and write runs/, sweep.md and sweep.png.",
    )
    add_study_arguments(
        parser,
        *SUITE_OPTIONS,
        defaults={"--variants": "fp32", "--rounds": "3"},
        changes={"--sweep": {"required": True}},
    )
    parser.add_argument(
        "--name", default="sweep", help="run name: DIR/runs/.../NNNN_NAME.json (default sweep)"
    )
    parser.add_argument(
        "--output-dir", type=Path, default=DEFAULT_OUTPUT, help=f"results folder (default {DEFAULT_OUTPUT})"
    )
    add_suite_passthrough(parser)
    parser.set_defaults(run=run)


def suite_options(args: argparse.Namespace) -> list[str]:
    return suite_arguments(args, SUITE_OPTIONS) + suite_passthrough(args)


def run(args: argparse.Namespace) -> int:
    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise StudyError(f"--output-dir {args.output_dir} exists and is not a folder")
    _check_sweep(args)
    runs = args.output_dir / "runs"
    saved = run_suite(suite_options(args), runs, args.name)
    print(f"[study] saved {saved}")
    return run_report(["sweep", str(saved), "--output-dir", str(args.output_dir)])


def _check_sweep(args: argparse.Namespace) -> None:
    """The sweep's own errors, one line, before a pytest process starts: the suite's workload
    options parse them (the same messages)."""
    from bench.errors import BenchError
    from bench.options import WorkloadOptions

    try:
        WorkloadOptions.parse(study_lookup(args, SUITE_OPTIONS), args.model)
    except BenchError as error:
        raise StudyError(str(error)) from None
