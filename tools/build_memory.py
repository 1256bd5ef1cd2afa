"""How much RAM does building a variant take, against the size of the model's weights?

    HF_HUB_OFFLINE=1 python tools/build_memory.py --model tiny-sd --recipe onnx
    HF_HUB_OFFLINE=1 python tools/build_memory.py --model sd15 --recipe ort-int8 --output sd15-int8.json
    HF_HUB_OFFLINE=1 python tools/build_memory.py --model sd15 --narrow 0.3 --recipe onnx

Loads the model (random weights unless `--weights`), then builds the recipe with a fresh,
throw-away variant cache and bench's peak-RSS meter (the kernel's high-water mark, reset
when the build starts), exactly as the suite does. Prints:
- `weights_mib`: the pipeline's fp32 parameter and buffer bytes;
- `interpreter_mib`: RSS before the model was loaded (Python, torch, diffusers, onnxruntime);
- `source_mib`: RSS before the build (the source model resident, as in a run);
- `build_peak_mib`: the build's peak RSS (the manifest's `build_peak_ram_mib`);
- `ratio`: build_peak / weights (the issue's bound: 2.5 for sd15 onnx and ort-int8), and
  `ratio_less_interpreter`: (build_peak - interpreter) / weights, the figure that means
  something for small models, whose weights are dwarfed by the interpreter.

`--narrow F` builds a registry model's layout with every width scaled by F (multiples of 32):
a mid-size model that shows the same copies as sd15 at a fraction of its memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from bench.instruments.memory import MIB, RssSampler
from bench.machine import cpu_flags, cpu_name
from models import RANDOM, LoadedModel, ModelError, get_spec, load_model
from models.fingerprint import random_fingerprint
from models.random_build import build_random_pipeline
from optimize import VariantCache, build_variant, parse_recipe
from optimize.errors import PassError


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def weights_bytes(pipeline: Any) -> int:
    """Parameters and buffers of every torch component, each tensor storage counted once."""
    seen: set[int] = set()
    total = 0
    for module in pipeline.components.values():
        if not isinstance(module, torch.nn.Module):
            continue
        for tensor in (*module.parameters(), *module.buffers()):
            if tensor.data_ptr() in seen:
                continue
            seen.add(tensor.data_ptr())
            total += tensor.numel() * tensor.element_size()
    return total


def _width(value: int, factor: float) -> int:
    return max(32, round(value * factor / 32) * 32)


def narrowed(name: str, factor: float, seed: int) -> LoadedModel:
    """The registry model's layout with its widths scaled by `factor` (depths, vocab and heads kept)."""
    spec = get_spec(name)
    parts = json.loads(json.dumps(spec.components))  # a deep copy of plain config dicts
    for part in ("unet", "vae"):
        parts[part]["block_out_channels"] = [_width(c, factor) for c in parts[part]["block_out_channels"]]
    text = parts["text_encoder"]
    text["hidden_size"] = _width(text["hidden_size"], factor)
    text["intermediate_size"] = 4 * text["hidden_size"]
    text["projection_dim"] = text["hidden_size"]
    text["num_attention_heads"] = text["hidden_size"] // 32
    if "cross_attention_dim" in parts["unet"]:
        parts["unet"]["cross_attention_dim"] = text["hidden_size"]
    label = f"{name}-narrow{factor:g}"
    spec = dataclasses.replace(spec, name=label, components=parts)
    return LoadedModel(
        label, RANDOM, random_fingerprint(label, parts, seed), build_random_pipeline(spec, seed)
    )


def measure(model_name: str, recipe_text: str, weights: str | None, narrow: float | None, seed: int) -> dict:
    recipe = parse_recipe(recipe_text)
    interpreter = rss_mib()
    model = narrowed(model_name, narrow, seed) if narrow else load_model(model_name, weights, seed)
    source = rss_mib()
    weights_mib = weights_bytes(model.pipeline) / MIB
    with tempfile.TemporaryDirectory(prefix="diffbench-build-memory-") as cache_dir:
        variant = build_variant(
            model,
            recipe,
            torch.device("cpu"),
            VariantCache(Path(cache_dir)),
            seed=seed,
            peak_meter=RssSampler,
        )
        peak = variant.manifest["build_peak_ram_mib"]
        build_s = variant.build_s
        del variant
    return {
        "model": model.name,
        "recipe": recipe.canonical,
        "weights_mib": round(weights_mib, 1),
        "interpreter_mib": round(interpreter, 1),
        "source_mib": round(source, 1),
        "build_peak_mib": round(peak, 1),
        "ratio": round(peak / weights_mib, 2),
        "ratio_less_interpreter": round((peak - interpreter) / weights_mib, 2),
        "build_s": round(build_s, 1),
        "cpu": cpu_name(),
        # The flags that change what int8/bf16 kernels do (and so what ORT allocates for them).
        "cpu_flags": [f for f in cpu_flags() if f.startswith(("avx2", "avx512", "amx"))],
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-sd", help="a registry name or a local diffusers folder")
    parser.add_argument("--weights", default=None, help="random (default) or a local weights path")
    parser.add_argument("--recipe", default="onnx", help="e.g. onnx, ort, ort-int8, ort-int8(mode=static)")
    parser.add_argument("--narrow", type=float, default=None, help="scale the registry model's widths by F")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.narrow is not None and not 0 < args.narrow <= 1:
        print(f"build_memory: --narrow {args.narrow} must be in (0, 1]", file=sys.stderr)
        return 2
    try:
        figures = measure(args.model, args.recipe, args.weights, args.narrow, args.seed)
    except (ModelError, PassError) as error:
        print(f"build_memory: {error}", file=sys.stderr)
        return 2
    for key in ("model", "recipe", "weights_mib", "interpreter_mib", "source_mib", "build_peak_mib"):
        print(f"{key:>24}: {figures[key]}")
    print(f"{'peak / weights':>24}: {figures['ratio']}")
    print(f"{'(peak - interp) / weights':>24}: {figures['ratio_less_interpreter']}")
    if args.output is not None:
        text = json.dumps(figures, indent=2) + "\n"
        staging = args.output.with_name(args.output.name + ".tmp")
        staging.write_text(text)
        os.replace(staging, args.output)  # atomic: a reader never sees half a file
    return 0


if __name__ == "__main__":
    sys.exit(main())
