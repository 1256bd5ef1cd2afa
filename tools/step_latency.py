"""Denoising-step latency of any variants' UNets, interleaved so that machine noise hits every variant alike.

    python tools/step_latency.py --model sd15 --resolution 256 --rounds 15 \\
        --variants "fp32,prune(0.3),bf16+compile,ort-int8" --cache-dir DIR --output FILE.json

On a shared machine a sequential suite run can measure one variant during a burst of other
work and the next one in quiet: their ratio is then noise. Here every variant's UNet stays in
memory and each round times one denoising step (a UNet call on the CFG batch of 2) of every
variant in turn, in a rotating order, so that slow periods are shared. Variants come from the
variant cache (built there, or by the suite, under the same key), so what is timed is what
the suite runs: torch modules, compiled ones, ONNX Runtime sessions (through the same wrapper
the pipeline calls) alike. Text encoder and VAE are dropped: they are not part of a step.
The first variant is the baseline of `speedup_vs_first`. The price of interleaving: a step
that follows another model's step runs slower, and fast variants lose the most (sd15 bf16
took 24% longer beside fp32, 41% longer beside three other UNets; docs/results/2026-12-02-*),
so against the baseline these ratios are a lower bound; time one variant per process
(`--variants bf16`) for its undisturbed figure. Lab code (tools/README.md): the suite's
interleaved timing (the tune issue) is meant to replace it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from bench.cli_parser import OneLineParser
from bench.instruments.flops import image_macs
from bench.options.model import split_top_level
from bench.profiles.detect import cpu_name
from bench.workload import make_workload, parse_resolution
from models import ModelError, load_model
from optimize import VariantCache, build_variant, parse_recipe
from optimize.components import count_parameters
from optimize.errors import PassError


def _step_inputs(unet: torch.nn.Module, height: int, width: int) -> dict[str, Any]:
    """One classifier-free-guidance step: latents for the conditional and unconditional halves."""
    dtype = unet.dtype  # torch, compiled (forwarded to the original) and ONNX wrappers all say
    generator = torch.Generator().manual_seed(0)
    config = unet.config
    return {
        "sample": torch.randn(2, config.in_channels, height, width, generator=generator).to(dtype),
        "timestep": torch.tensor([500, 500]),
        "encoder_hidden_states": torch.randn(2, 77, config.cross_attention_dim, generator=generator).to(
            dtype
        ),
    }


def measure(
    variants: dict[str, torch.nn.Module], height: int, width: int, rounds: int
) -> dict[str, list[float]]:
    inputs = {name: _step_inputs(unet, height, width) for name, unet in variants.items()}
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    with torch.inference_mode():
        for name in names:  # warm-up: first calls allocate and pick kernels
            variants[name](**inputs[name], return_dict=False)
        for round_index in tqdm(range(rounds), desc="interleaved rounds"):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                variants[name](**inputs[name], return_dict=False)
                times[name].append(time.perf_counter() - started)
    return times


def _unet_macs_g(pipeline: Any, workload: Any) -> float | None:
    """One UNet call for one image, as the suite's unet_macs_g counts it; None where the UNet runs
    outside torch (an ONNX Runtime session: its operators are invisible to the counting hooks)."""
    try:
        return image_macs(pipeline, workload).unet / 1e9
    except Exception:  # any failure to count means "not counted", as in the suite
        return None


def _build_unets(
    args: argparse.Namespace, workload: Any
) -> tuple[dict[str, torch.nn.Module], dict[str, dict[str, Any]], int]:
    """Every variant's UNet (built or loaded from the cache) and its facts; the latent scale."""
    model = load_model(args.model)
    cache = VariantCache(args.cache_dir)
    scale = 2 ** (len(model.pipeline.vae.config.block_out_channels) - 1)
    unets: dict[str, torch.nn.Module] = {}
    facts: dict[str, dict[str, Any]] = {}
    for text in split_top_level(args.variants):
        recipe = parse_recipe(text)
        variant = build_variant(model, recipe, torch.device("cpu"), cache)
        unet = variant.pipeline.unet
        unets[recipe.canonical] = unet
        facts[recipe.canonical] = {
            "params": count_parameters(variant.pipeline),
            "unet_params": None
            if getattr(unet, "weights_outside_torch", False)
            else sum(p.numel() for p in unet.parameters()),
            "unet_macs_g": _unet_macs_g(variant.pipeline, workload),
            "provider": getattr(unet, "provider", "torch"),
            "cache_hit": variant.cache_hit,
            "build_s": variant.build_s,
        }
        del variant
        gc.collect()
    del model
    gc.collect()
    return unets, facts, scale


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python tools/step_latency.py", description=__doc__)
    parser.add_argument("--model", default="sd15")
    parser.add_argument("--resolution", default="256")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--variants", default="fp32,prune(0.1),prune(0.2),prune(0.3),prune(0.4),prune(0.5)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        print(f"error: --rounds {args.rounds} must be at least 1", file=sys.stderr)
        return 2
    try:
        width, height = parse_resolution(args.resolution)
        workload = make_workload(args.resolution, 1, 1, 7.5, "euler", "macs", 0)
        unets, facts, scale = _build_unets(args, workload)
    except (PassError, ModelError, ValueError) as error:  # a user's bad recipe, model or size: one line
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    times = measure(unets, height // scale, width // scale, args.rounds)
    load_after = os.getloadavg()
    baseline = statistics.median(next(iter(times.values())))
    result = {
        "command": " ".join(["python tools/step_latency.py", *(argv or sys.argv[1:])]),
        "model": args.model,
        "machine": {
            "cpu": cpu_name() or platform.machine(),
            "threads": torch.get_num_threads(),
            # 1-minute load average before and after the timed rounds: how shared the machine was.
            "load_before": load_before[0],
            "load_after": load_after[0],
        },
        "torch": torch.__version__,
        "resolution": f"{width}x{height}",
        "rounds": args.rounds,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "variants": {
            name: {
                **facts[name],
                "step_median_ms": statistics.median(samples) * 1e3,
                "step_min_ms": min(samples) * 1e3,
                "step_iqr_ms": (lambda q: (q[2] - q[0]) * 1e3)(statistics.quantiles(samples, n=4))
                if len(samples) > 1
                else None,
                "speedup_vs_first": baseline / statistics.median(samples),
                "samples_ms": [s * 1e3 for s in samples],
            }
            for name, samples in times.items()
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.output.with_suffix(".tmp")
    temporary.write_text(json.dumps(result, indent=1))
    os.replace(temporary, args.output)
    for name, item in result["variants"].items():
        print(
            f"{name:>32}  step median {item['step_median_ms']:8.0f} ms  min {item['step_min_ms']:8.0f} ms  "
            f"x{item['speedup_vs_first']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
