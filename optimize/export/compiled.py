"""torch.compile (inductor) of the modules a pipeline's family names (Stable Diffusion: the
UNet and the VAE decoder), warmed up so that the compilation happens inside the build
(build_s), not in the first timed call.

What can be cached: not the compiled graph itself (inductor code is tied to the process);
the variant cache stores the weights and the manifest, and inductor's own on-disk caches
(FX graph / AOTAutograd, under TORCHINDUCTOR_CACHE_DIR, default /tmp/torchinductor_<user>)
make the next process's compile of the same graph faster.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from diffusers import DiffusionPipeline

from models.families import family_of
from optimize.export.recording import default_size

COMPILED_PREFIX = "_orig_mod."
MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead")

# One generation the run will time, on the pipeline it is given (see BuildContext.warmups).
WarmUp = Callable[[DiffusionPipeline], object]


def compile_options(mode: str, dynamic: bool) -> dict[str, Any]:
    """torch.compile's arguments. `dynamic` goes through as given: False is static (one graph per
    shape, never symbolic), True compiles dynamic at once; None (automatic dynamic: recompile
    as dynamic when a second shape arrives) is not offered, since it moves a recompile into
    whichever call first sees a new shape."""
    return {"backend": "inductor", "mode": mode, "dynamic": bool(dynamic)}


def _attribute(root: object, path: str) -> object:
    """`root.a.b` for the dotted path "a.b" (None where a part is missing)."""
    for part in path.split("."):
        root = getattr(root, part, None)
    return root


def compiled_modules(pipeline: DiffusionPipeline) -> dict[str, torch.nn.Module | None]:
    """The modules its family lets torch.compile wrap, by dotted path (None: the pipeline lacks
    it, or it is not a torch module)."""
    found = {path: _attribute(pipeline, path) for path in family_of(pipeline).compile_modules}
    return {path: module if isinstance(module, torch.nn.Module) else None for path, module in found.items()}


def compile_pipeline(pipeline: DiffusionPipeline, mode: str, dynamic: bool) -> DiffusionPipeline:
    options = compile_options(mode, dynamic)
    for path, module in compiled_modules(pipeline).items():
        parent, _, name = path.rpartition(".")
        setattr(_attribute(pipeline, parent) if parent else pipeline, name, torch.compile(module, **options))
    return pipeline


def compiled_graph_count() -> int:
    """Graphs dynamo has compiled in this process so far; a rise across a call is a recompilation."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def warm_up(
    pipeline: DiffusionPipeline, device: torch.device, warmups: Mapping[str, WarmUp] | None = None
) -> dict[str, Any]:
    """Compile inside the build: run each of the run's own generations (`warmups`, by workload
    label) so that every shape, batch and timestep dtype the timed calls use is compiled here.
    Without them, one 1-step generation at min(native, 256) px; a run at another shape then
    recompiles in its first call (the manifest says which shapes were warmed up)."""
    pipeline.set_progress_bar_config(disable=True)
    graphs_before = compiled_graph_count()
    started = time.perf_counter()
    # Kernels, CUDA graphs and streams for the device given, whatever the current device is.
    guard = torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
    with guard:
        if warmups:
            for run in warmups.values():
                run(pipeline)
            shapes: list[Any] = list(warmups)
        else:
            size = default_size(pipeline)
            with torch.inference_mode():
                pipeline(
                    prompt="warm-up",
                    height=size,
                    width=size,
                    num_inference_steps=1,
                    generator=torch.Generator(device="cpu").manual_seed(0),
                    output_type="np",
                )
            shapes = [f"{size}x{size}/1step (default: no workload given)"]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    record: dict[str, Any] = {
        "warmup_s": time.perf_counter() - started,
        "warmup_workloads": shapes,
        "graphs_compiled": compiled_graph_count() - graphs_before,
        "inductor_cache_dir": os.environ.get(
            "TORCHINDUCTOR_CACHE_DIR", "default (/tmp/torchinductor_<user>)"
        ),
    }
    limit = int(torch._dynamo.config.recompile_limit)
    if len(shapes) > limit:
        # Past the limit dynamo runs the frame eagerly: later workloads would time eager code.
        record["note"] = (
            f"{len(shapes)} workloads: past {limit} distinct shapes (dynamo's recompile_limit) the "
            "rest run uncompiled; use compile(dynamic=true) or fewer shapes"
        )
    return record


def uncompiled_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict without torch.compile's `_orig_mod.` prefixes, loadable into the plain module."""
    return {key.replace(COMPILED_PREFIX, ""): value for key, value in module.state_dict().items()}
