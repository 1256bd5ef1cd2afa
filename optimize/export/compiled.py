"""torch.compile (inductor) of a pipeline's UNet and VAE decoder, warmed up so that the
compilation happens inside the build (build_s), not in the first timed call.

What can be cached: not the compiled graph itself (inductor code is tied to the process);
the variant cache stores the weights and the manifest, and inductor's own on-disk caches
(FX graph / AOTAutograd, under TORCHINDUCTOR_CACHE_DIR, default /tmp/torchinductor_<user>)
make the next process's compile of the same graph faster.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch
from diffusers import DiffusionPipeline

from optimize.export.recording import default_size

COMPILED_PREFIX = "_orig_mod."
MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead")


def compile_pipeline(pipeline: DiffusionPipeline, mode: str, dynamic: bool) -> DiffusionPipeline:
    options: dict[str, Any] = {"backend": "inductor", "mode": mode, "dynamic": dynamic or None}
    pipeline.unet = torch.compile(pipeline.unet, **options)
    pipeline.vae.decoder = torch.compile(pipeline.vae.decoder, **options)
    return pipeline


def warm_up(pipeline: DiffusionPipeline, device: torch.device) -> dict[str, Any]:
    """One 1-step generation at min(native, 256) px: compiles the UNet (both CFG halves in one
    batch of 2) and the VAE decoder for that shape; another resolution recompiles at its first call."""
    size = default_size(pipeline)
    pipeline.set_progress_bar_config(disable=True)
    started = time.perf_counter()
    with torch.inference_mode():
        pipeline(
            prompt="warm-up",
            height=size,
            width=size,
            num_inference_steps=1,
            generator=torch.Generator(device="cpu").manual_seed(0),
            output_type="np",
        )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return {
        "warmup_s": time.perf_counter() - started,
        "warmup_size": size,
        "inductor_cache_dir": os.environ.get(
            "TORCHINDUCTOR_CACHE_DIR", "default (/tmp/torchinductor_<user>)"
        ),
    }


def uncompiled_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict without torch.compile's `_orig_mod.` prefixes, loadable into the plain module."""
    return {key.replace(COMPILED_PREFIX, ""): value for key, value in module.state_dict().items()}
