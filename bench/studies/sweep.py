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

from bench.studies.runner import StudyError, add_suite_passthrough, run_report, run_suite, suite_passthrough

DEFAULT_OUTPUT = Path("sweep-study")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sweep",
        help="latency, memory and PSNR across steps, guidance, scheduler, resolution, batch, seeds, prompts",
        description="Run the suite over a workload sweep and write runs/, sweep.md and sweep.png.",
    )
    parser.add_argument(
        "--sweep",
        action="append",
        required=True,
        metavar="AXIS=V1,V2",
        help="steps, guidance, scheduler, resolution, batch, seed or prompt; repeatable",
    )
    parser.add_argument(
        "--sweep-mode", default="product", help="product (default) or each (one axis at a time)"
    )
    parser.add_argument("--prompts-file", help="a text file of prompts, one per line (a prompt axis)")
    parser.add_argument("--seeds", help="comma-separated seeds (a seed axis)")
    parser.add_argument("--model", default="tiny-sd", help="model name or local folder (default tiny-sd)")
    parser.add_argument("--variants", default="fp32", help="comma-separated recipes (default fp32)")
    parser.add_argument("--rounds", default="3", help="timed rounds per workload (default 3)")
    parser.add_argument(
        "--name", default="sweep", help="run name: DIR/runs/.../NNNN_NAME.json (default sweep)"
    )
    parser.add_argument(
        "--output-dir", type=Path, default=DEFAULT_OUTPUT, help=f"results folder (default {DEFAULT_OUTPUT})"
    )
    add_suite_passthrough(parser)
    parser.set_defaults(run=run)


def suite_options(args: argparse.Namespace) -> list[str]:
    options = ["--model", args.model, "--variants", args.variants, "--rounds", args.rounds]
    options += ["--sweep-mode", args.sweep_mode]
    for axis in args.sweep:
        options += ["--sweep", axis]
    if args.prompts_file:
        options += ["--prompts-file", args.prompts_file]
    if args.seeds:
        options += ["--seeds", args.seeds]
    return options + suite_passthrough(args)


def run(args: argparse.Namespace) -> int:
    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise StudyError(f"--output-dir {args.output_dir} exists and is not a folder")
    _check_sweep(args)
    runs = args.output_dir / "runs"
    saved = run_suite(suite_options(args), runs, args.name)
    print(f"[study] saved {saved}")
    return run_report(["sweep", str(saved), "--output-dir", str(args.output_dir)])


def _check_sweep(args: argparse.Namespace) -> None:
    """The sweep's own errors, one line, before a pytest process starts."""
    from bench.errors import BenchError
    from bench.sweep import expand, sweep_axes

    base = {"resolution": "64", "steps": "4", "batch": "1", "guidance": "7.5"}
    base |= {"scheduler": "euler", "prompt": "p", "seed": "0"}
    try:
        expand(base, sweep_axes(args.sweep, args.prompts_file, args.seeds), args.sweep_mode)
    except BenchError as error:
        raise StudyError(str(error)) from None
