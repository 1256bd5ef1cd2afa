"""The memory-fit and projected-latency table: models x resolutions x dtypes x profiles.

    python -m bench.profiles.fit_table [--models sd15,sdxl] [--resolutions 512,1024]
        [--dtypes fp32,fp16,bf16] [--steps 20] [--profile-file FILE.toml] [--output FILE.md]

Every figure is estimated on the meta device (bench/profiles/estimate.py): no weights, no
generation, seconds per row. Random-weight architectures (the registry's configs).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import date
from pathlib import Path

import torch
from tqdm import tqdm

from bench.errors import BenchError
from bench.profiles.estimate import MIB, PipelineEstimate, estimate_pipeline
from bench.profiles.fit import fits
from bench.profiles.meta_build import meta_components
from bench.profiles.projection import project
from bench.profiles.table import BUILTIN, Profile
from bench.profiles.user import load_profiles
from models import ModelError, get_spec

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _split(text: str) -> list[str]:
    return [piece.strip() for piece in text.split(",") if piece.strip()]


def _row(model: str, size: int, dtype: str, estimate: PipelineEstimate, profiles: list[Profile]) -> list[str]:
    dtype_name = str(DTYPES[dtype]).removeprefix("torch.")
    fit_cells = []
    step_cells = []
    for profile in profiles:
        fit = fits(estimate, profile, dtype_name)
        refused = profile.unsupported_reason(dtype_name)
        fit_cells.append("yes" if fit else f"**no** (no {dtype})" if refused else "**no**")
        projection = project(estimate, profile, dtype_name)
        step = "n/a" if projection.step_ms is None else f"{projection.step_ms:,.0f}"
        step_cells.append(f"{step} (launch-bound)" if projection.launch_note else step)
    unet = estimate.stage("unet")
    return [
        model,
        f"{size}x{size}",
        dtype,
        f"{estimate.weights_bytes / MIB:,.0f}",
        f"{estimate.activation_peak_bytes / MIB:,.0f}",
        f"{estimate.peak_mib:,.0f}",
        f"{unet.trace.flops / 1e12:.2f}",
        *fit_cells,
        *step_cells,
    ]


def build_table(
    models: list[str], sizes: list[int], dtypes: list[str], steps: int, profiles: list[Profile]
) -> str:
    names = [profile.name for profile in profiles]
    header = [
        "model",
        "size",
        "dtype",
        "weights MiB",
        "activations MiB",
        "est. peak MiB",
        "UNet TFLOP/step",
        *[f"fits {n}" for n in names],
        *[f"step ms {n}" for n in names],
    ]
    rows: list[list[str]] = []
    jobs = [(m, s, d) for m in models for s in sizes for d in dtypes]
    components = {}
    for model, size, dtype in tqdm(jobs, desc="estimating", unit="row"):
        if model not in components:
            components[model] = meta_components(get_spec(model))
        estimate = estimate_pipeline(components[model], size, size, steps, dtype=DTYPES[dtype])
        rows.append(_row(model, size, dtype, estimate, profiles))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profiles.fit_table", description=__doc__)
    parser.add_argument("--models", default="sd15,sdxl")
    parser.add_argument("--resolutions", default="512,1024")
    parser.add_argument("--dtypes", default="fp32,fp16,bf16")
    parser.add_argument("--steps", default=20, type=int)
    parser.add_argument(
        "--profile-file", default=None, help="TOML file of extra profiles (columns after the built-in ones)"
    )
    parser.add_argument("--output", default=None, help="write the markdown table here (default: print it)")
    args = parser.parse_args(argv)
    try:
        models = _split(args.models)
        for model in models:
            get_spec(model)
        sizes = []
        for text in _split(args.resolutions):
            if not text.isdigit() or int(text) % 8:
                raise BenchError(f"--resolutions {text!r}: give square sizes, multiples of 8, e.g. 512,1024")
            sizes.append(int(text))
        dtypes = _split(args.dtypes)
        for dtype in dtypes:
            if dtype not in DTYPES:
                raise BenchError(f"--dtypes {dtype!r} is unknown; accepted: {', '.join(DTYPES)}")
        profiles = [
            *BUILTIN.values(),
            *(load_profiles(args.profile_file).values() if args.profile_file else ()),
        ]
        table = build_table(models, sizes, dtypes, args.steps, profiles)
    except (BenchError, ModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = "python -m bench.profiles.fit_table " + " ".join(argv if argv is not None else sys.argv[1:])
    text = f"<!-- {command.strip()} | {platform.machine()} | {date.today()} -->\n{table}\n"
    if args.output is None:
        print(text, end="")
        return 0
    output = Path(args.output)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, output)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
