"""The screen: what can be said of a candidate without building it.

Each recipe's memory is estimated on the meta device from the source pipeline, its weights
recast to the recipe's compute dtype (bench/profiles/estimate.py, the same figure as a row's
`est_peak_mem_mib`, at the workload's size, steps, batch and guidance). That is exact for a dtype
cast and an upper bound where a pass shrinks weights the estimate still counts in full
(quantisation, pruning): such a candidate is never ruled out on it. The estimate's traces give
the MACs of a generation and, on a profile with datasheet rates, the projected UNet step (both
unknown for a pruned model until it is built: its shapes are not the traced ones).

A candidate whose estimate exceeds the profile's memory (a GPU's VRAM less its CUDA-context
reserve, the CPU's RAM: `Profile.usable_mib`, as the rows' `fits`) does not fit; one whose
compute dtype the card cannot run (bf16 on a GTX 16xx) is refused. Recipes differ in the
estimate only by their dtype, so there is one estimate per distinct dtype.
"""

from __future__ import annotations

from typing import Any

import torch

from bench.instruments.meta_trace import workload_estimate
from bench.profiles.estimate import PipelineEstimate
from bench.profiles.fit import fits
from bench.profiles.projection import project
from bench.profiles.table import Profile
from bench.tune.candidates import Candidate, Status
from bench.workload import Workload
from optimize import parse_recipe
from optimize.passes.base import Pass
from optimize.recipe import Recipe

# Where a pass acts (Pass.tune_stage) when it holds fewer weight bytes than the estimate counts
# (ort-int8 declares "runtime": its smaller int8 graph is not seen here, so its estimate is
# taken as exact and it may be ruled out where it would just fit).
SHRINKING_STAGES = ("structure", "weights")
STRUCTURE_STAGE = "structure"


def screen(candidates: list[Candidate], pipeline: Any, workload: Workload, profile: Profile | None) -> None:
    """Fill the estimate, MACs and projection of every candidate whose status is None; rule out
    those the profile cannot hold (NO_FIT) or whose dtype it cannot run (REFUSED)."""
    estimates: dict[torch.dtype, PipelineEstimate | None] = {}
    for candidate in candidates:
        if candidate.status is not None:
            continue
        recipe = parse_recipe(candidate.recipe)
        dtype = recipe.dtype
        if dtype not in estimates:
            estimates[dtype] = _estimate(pipeline, workload, dtype)
        estimate = estimates[dtype]
        candidate.estimate_bound = any(_shrinks_weights(step) for step in recipe.passes)
        if estimate is None:
            continue
        candidate.estimate_mib = round(estimate.peak_mib, 1)
        pruned = _prunes(recipe)
        candidate.macs_g = None if pruned else generation_macs(estimate) / 1e9
        if profile is not None:
            _judge(candidate, estimate, profile, _dtype_name(dtype), project_step=not pruned)


def generation_macs(estimate: PipelineEstimate) -> int:
    """Multiply-accumulates of one generation (the whole batch, guidance included): every traced
    stage times the calls a generation makes of it."""
    return sum(stage.trace.macs * estimate.calls_per_generation(stage) for stage in estimate.stages)


def _estimate(pipeline: Any, workload: Workload, dtype: torch.dtype) -> PipelineEstimate | None:
    """The workload's estimate as the suite makes it, weights recast to `dtype`; None when the
    modules cannot run on meta tensors (the suite's row then says "not estimated" too)."""
    try:
        return workload_estimate(pipeline, workload, dtype)
    except Exception:  # custom kernels, a family without a denoiser: no screen, the race decides
        return None


def _judge(
    candidate: Candidate, estimate: PipelineEstimate, profile: Profile, dtype: str, *, project_step: bool
) -> None:
    """`project_step` False: the traced shapes are not the candidate's (pruned), so no projection."""
    refused = profile.unsupported_reason(dtype)
    if refused:
        candidate.status, candidate.reason = Status.REFUSED, refused
        return
    if project_step and profile.has_rates:
        candidate.projected_step_ms = project(estimate, profile, dtype).step_ms
    if candidate.estimate_bound or fits(estimate, profile) is not False:
        return
    memory = (
        "RAM" if profile.kind == "cpu" else f"VRAM less its {profile.reserved_mib:g} MiB CUDA-context reserve"
    )
    candidate.status = Status.NO_FIT
    candidate.reason = (
        f"estimated peak {estimate.peak_mib:.1f} MiB > {profile.usable_mib:.1f} MiB usable on "
        f"{profile.name} ({memory})"
    )


def _shrinks_weights(step: Pass) -> bool:
    """Quantisation and pruning hold fewer weight bytes than the recast model the estimate counts."""
    return step.tune_stage in SHRINKING_STAGES


def _prunes(recipe: Recipe) -> bool:
    """A pruned model's shapes (so its MACs) are only known once it is built."""
    return any(step.tune_stage == STRUCTURE_STAGE for step in recipe.passes)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")  # the rows' `dtype`: float32, bfloat16
