"""Denoising-step latency of pruned UNets, interleaved so that machine noise hits every variant alike.

    python -m bench.prune_step_latency --model sd15 --resolution 256 --rounds 15 \\
        --variants "fp32,prune(0.1),prune(0.3),prune(0.3)+bf16" --cache-dir DIR --output FILE.json

On a shared machine a sequential suite run can measure one variant during a burst of other
work and the next one in quiet: their ratio is then noise. Here every variant's UNet stays in
memory and each round times one denoising step (a UNet call on the CFG batch of 2) of every
variant in turn, in a rotating order, so that slow periods are shared. Variants come from the
variant cache (built there, or by the suite, under the same key), so what is timed is what
the suite runs. Text encoder and VAE are dropped: they are not part of a step.
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

from bench.instruments.flops import image_macs
from bench.machine import cpu_name
from bench.suite_config import _split_top_level
from bench.workload import make_workload, parse_resolution
from models import load_model
from optimize import VariantCache, build_variant, parse_recipe
from optimize.components import count_parameters


def _step_inputs(unet: torch.nn.Module, height: int, width: int) -> dict[str, Any]:
    """One classifier-free-guidance step: latents for the conditional and unconditional halves."""
    dtype = next(unet.parameters()).dtype
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prune_step_latency", description=__doc__)
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
    width, height = parse_resolution(args.resolution)
    model = load_model(args.model)
    cache = VariantCache(args.cache_dir)
    workload = make_workload(args.resolution, 1, 1, 7.5, "euler", "macs", 0)
    scale = 2 ** (len(model.pipeline.vae.config.block_out_channels) - 1)
    unets: dict[str, torch.nn.Module] = {}
    facts: dict[str, dict[str, Any]] = {}
    for text in _split_top_level(args.variants):
        recipe = parse_recipe(text)
        variant = build_variant(model, recipe, torch.device("cpu"), cache)
        unets[recipe.canonical] = variant.pipeline.unet
        facts[recipe.canonical] = {
            "params": count_parameters(variant.pipeline),
            "unet_params": sum(p.numel() for p in variant.pipeline.unet.parameters()),
            # One UNet call for one image at this resolution, as the suite's unet_macs_g counts it.
            "unet_macs_g": image_macs(variant.pipeline, workload).unet / 1e9,
            "cache_hit": variant.cache_hit,
            "build_s": variant.build_s,
        }
        del variant
        gc.collect()
    del model
    gc.collect()
    load_before = os.getloadavg()
    times = measure(unets, height // scale, width // scale, args.rounds)
    load_after = os.getloadavg()
    baseline = statistics.median(next(iter(times.values())))
    result = {
        "command": " ".join(["python -m bench.prune_step_latency", *(argv or sys.argv[1:])]),
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
            f"{name:>18}  step median {item['step_median_ms']:8.0f} ms  min {item['step_min_ms']:8.0f} ms  "
            f"x{item['speedup_vs_first']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
