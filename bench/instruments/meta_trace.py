"""One meta-device trace per row, shared by the MAC count and the memory estimate/projection.

Both figures come from tracing the variant's modules on the meta device (shapes only, no
arithmetic). A row with a hardware profile whose model has a denoiser gets the memory estimate
(bench/profiles/estimate.py): each stage traced once, at the workload's batch, with a dispatch
mode that records allocations, bytes and FLOPs per op (bench/profiles/cost.py). Those FLOPs are
the ones the MAC count needs, so the count reads them from the estimate's traces instead of
tracing each stage again (bench/instruments/flops.py); it traces only the calls the estimate does
not cover. A row without a profile (or a VAE or GAN alone, which has no estimate) counts its MACs
with optimize/macs.py as before.

Reading the estimate's trace gives the same MACs as tracing the family's batch-1 call: every
counted op (convolutions, linears, matmuls, attention) is linear in the batch, and a trace is
reused only when its inputs have the family call's shapes past the batch dimension and its count
divides evenly by its batch (tests/bench/test_meta_trace.py compares both ways).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from diffusers import DiffusionPipeline

from bench.instruments.flops import ImageMacs, image_macs
from bench.profiles.cost import tensor_shapes
from bench.profiles.estimate import PipelineEstimate, StageEstimate, estimate_pipeline
from bench.workload import Workload
from models.families import family_of
from models.families.base import TracedCall


@dataclass
class RowTrace:
    """What one row's trace gave: each figure, or the error that stopped it (its collector says)."""

    macs: ImageMacs | None = None
    macs_error: Exception | None = None
    # None with no error: not asked for (no hardware profile, or a family without a denoiser).
    estimate: PipelineEstimate | None = None
    estimate_error: Exception | None = None


def trace_row(pipeline: DiffusionPipeline, workload: Workload, *, memory: bool) -> RowTrace:
    """The row's MACs, and with `memory` its memory estimate, from one trace per stage."""
    result = RowTrace()
    if memory and family_of(pipeline).stage_plan.denoiser is not None:
        try:
            result.estimate = workload_estimate(pipeline, workload)
        except Exception as error:  # a module that cannot run on meta (custom kernels)
            result.estimate_error = error
    known = None if result.estimate is None else _EstimateMacs(result.estimate.stages)
    try:
        result.macs = image_macs(pipeline, workload, known)
    except Exception as error:  # a component that is not plain torch (ONNX session, engine)
        result.macs_error = error
    return result


@dataclass(frozen=True)
class _EstimateMacs:
    """The MACs of a family's traced call, read from the estimate stage that traced the same
    module on inputs of the same per-sample shapes (None: no such stage, trace it anew)."""

    stages: list[StageEstimate]

    def __call__(self, call: TracedCall) -> int | None:
        for stage in self.stages:
            if stage.module is call.module and _family_stage(stage.name) == call.stage:
                return _per_sample_macs(stage, call)
        return None


def workload_estimate(
    pipeline: DiffusionPipeline, workload: Workload, dtype: torch.dtype | None = None
) -> PipelineEstimate:
    """The memory estimate of one generation of `workload`: the variant's own modules (pruned
    shapes, cast dtypes) traced with meta weights; `dtype` recasts every floating weight as a
    dtype pass would (tune's screen estimates a recipe from its unbuilt source model so)."""
    return estimate_pipeline(
        pipeline.components,
        workload.width,
        workload.height,
        workload.steps,
        batch=workload.batch,
        guidance=workload.guidance,
        dtype=dtype,
    )


def _family_stage(estimate_stage: str) -> str:
    # The estimate names SDXL's second encoder apart; the family's calls are both `text_encoder`.
    return "text_encoder" if estimate_stage.startswith("text_encoder") else estimate_stage


def _per_sample_macs(stage: StageEstimate, call: TracedCall) -> int | None:
    """The stage's MACs for one sample, where its inputs are the call's at a larger batch."""
    with torch.device("meta"):  # the family's example inputs: shapes only, nothing allocated
        inputs = call.make_inputs()
    family_shapes = _batched_shapes(tensor_shapes(inputs))
    traced_shapes = _batched_shapes(stage.input_shapes)
    if family_shapes is None or traced_shapes is None:
        return None
    (family_batch, family_samples), (rows, traced_samples) = family_shapes, traced_shapes
    macs = stage.trace.macs
    if family_batch != 1 or family_samples != traced_samples or macs % rows:
        return None
    return macs // rows


def _batched_shapes(shapes: Iterable[tuple[int, ...]]) -> tuple[int, frozenset[tuple[int, ...]]] | None:
    """(the batch, the set of per-sample shapes) of the inputs with a dimension past the batch;
    a timestep (a scalar, or one number per sample) is left out: the UNet spreads it over the
    sample's batch. None when the leading dimensions disagree or no input has one."""
    batched = [shape for shape in shapes if len(shape) >= 2]
    batches = {shape[0] for shape in batched}
    if len(batches) != 1:
        return None
    return batches.pop(), frozenset(shape[1:] for shape in batched)
