"""`python -m bench.studies family`: a Stable Diffusion pipeline, a VAE and a GAN, one table.

    python -m bench.studies family [--output-dir DIR] [--models tiny-sd,tiny-vae,tiny-dcgan]
        [--variants fp32] [--rounds 5] [-- SUITE OPTIONS]

Runs the suite once per model (each model is its own run: `--model` is one per run), saved
in DIR/runs as NNNN_family-MODEL.json, then `python -m reports family` over exactly those
runs writes DIR/family.md and DIR/family.png. Anything after `--` goes to every
`pytest bench/` unchanged (e.g. `-- --device cuda --resolution 128`).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from tqdm.auto import tqdm

from bench.options import add_study_arguments, suite_arguments
from bench.studies.runner import StudyError, add_suite_passthrough, run_report, run_suite, suite_passthrough

DEFAULT_OUTPUT = Path("family-study")
DEFAULT_MODELS = "tiny-sd,tiny-vae,tiny-dcgan"
# The suite options this study declares and passes on (bench/options: same names and help).
SUITE_OPTIONS = ("--variants", "--rounds")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "family",
        help="SD pipeline vs VAE vs GAN: latency, peak RAM/VRAM, params and MACs in one table",
        description="Run the suite once per model and write runs/, family.md and family.png.",
    )
    parser.add_argument(
        "--models",
        default=DEFAULT_MODELS,
        help=f"comma-separated model names or local folders (default {DEFAULT_MODELS})",
    )
    add_study_arguments(parser, *SUITE_OPTIONS, defaults={"--variants": "fp32"})
    parser.add_argument(
        "--output-dir", type=Path, default=DEFAULT_OUTPUT, help=f"results folder (default {DEFAULT_OUTPUT})"
    )
    add_suite_passthrough(parser)
    parser.set_defaults(run=run)


def parse_models(text: str) -> list[str]:
    """Registry names or existing paths, in order, each once; one-line error otherwise."""
    from models import REGISTRY

    models = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not models:
        raise StudyError(f"--models {text!r} names no model; e.g. --models {DEFAULT_MODELS}")
    for model in models:
        if model not in REGISTRY and not Path(model).expanduser().exists():
            known = ", ".join(REGISTRY)
            raise StudyError(f"--models: {model!r} is neither a known model ({known}) nor an existing folder")
    return models


def run_name(model: str) -> str:
    """`family-tiny-sd`; a path becomes its folder name, so the run file's name stays plain."""
    stem = Path(model).name if ("/" in model or Path(model).exists()) else model
    return "family-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "model")


def suite_options(args: argparse.Namespace, model: str) -> list[str]:
    return ["--model", model, *suite_arguments(args, SUITE_OPTIONS), *suite_passthrough(args)]


def run(args: argparse.Namespace) -> int:
    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise StudyError(f"--output-dir {args.output_dir} exists and is not a folder")
    if not str(args.variants).strip():
        raise StudyError("--variants is empty; e.g. --variants fp32 or --variants fp32,bf16")
    models = parse_models(args.models)
    runs = args.output_dir / "runs"
    saved: list[Path] = []
    for model in tqdm(models, desc="family study", unit="model"):
        path = run_suite(suite_options(args, model), runs, run_name(model), quiet=True)
        tqdm.write(f"[study] {model}: saved {path}")
        saved.append(path)
    return run_report(["family", *map(str, saved), "--output-dir", str(args.output_dir)])
