"""Latency on a profile, projected from the traced work over the profile's datasheet rates.

A roofline per op, summed: each op takes max(FLOPs / (peak x efficiency), bytes /
(bandwidth x efficiency)). Matrix ops (convolutions, matmuls, attention) use the profile's
matrix rate for their dtype; every other op is bandwidth-bound. A generation is the text
encoder(s), the UNet once per step, and the VAE decode.

Kernel launches: eager PyTorch issues every op from the host, asynchronously, through a queue
deep enough (about a thousand launches) that host and card overlap. So a stage takes the
slower of the two: its roofline on the card, or its kernel count x the profile's `launch_us`
(table.py). A stage where the second wins is *launch-bound*: the model is too small for the
card, and the figure says how fast the host issues kernels, not what the card computes; the row
says so (`projection_note`). Not modelled: CPU-side scheduler work, host-device copies (small
for these pipelines); calibrating the efficiency and launch_us from measured runs absorbs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.profiles.cost import OpCost, Trace
from bench.profiles.estimate import PipelineEstimate
from bench.profiles.table import Profile


@dataclass(frozen=True)
class Projection:
    profile: str
    step_s: float | None
    latency_s: float | None
    note: str  # how it was made, or why there is none
    kernels: int | None = None  # kernels per UNet step (ops of the trace)
    launch_note: str | None = None  # set when the step is launch-bound: the figure means little

    @property
    def step_ms(self) -> float | None:
        return None if self.step_s is None else self.step_s * 1e3


def op_seconds(op: OpCost, profile: Profile) -> float:
    """Roofline time of one op on a profile (which must have rates)."""
    assert profile.bandwidth_gbs is not None
    efficiency = profile.efficiency
    memory_s = op.bytes / (profile.bandwidth_gbs * 1e9 * efficiency)
    if op.flops <= 0:
        return memory_s
    rate = profile.matrix_tflops(op.dtype)
    if rate is None or not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"{profile.name} has no {op.dtype} rate")
    return max(op.flops / (rate * 1e12 * efficiency), memory_s)


def roofline_seconds(trace: Trace, profile: Profile) -> float:
    return sum(op_seconds(op, profile) for op in trace.ops)


def launch_seconds(trace: Trace, profile: Profile) -> float:
    """The host's time to issue the trace's kernels, one per op (views launch nothing)."""
    return len(trace.ops) * profile.launch_us * 1e-6


def trace_seconds(trace: Trace, profile: Profile) -> float:
    """Host and card overlap through the launch queue: the slower of the two (module docstring)."""
    return max(roofline_seconds(trace, profile), launch_seconds(trace, profile))


def launch_bound_note(trace: Trace, profile: Profile) -> str | None:
    """Why a UNet step's projection means little on this card, or None when the card's work dominates."""
    roofline_s, launch_s = roofline_seconds(trace, profile), launch_seconds(trace, profile)
    if launch_s <= roofline_s:
        return None
    return (
        f"launch-bound on {profile.name}: {len(trace.ops)} kernels/step x {profile.launch_us:g} us "
        f"({profile.launch_source}) = {launch_s * 1e3:.2f} ms against {roofline_s * 1e3:.3f} ms of "
        f"roofline work; the model is too small for the card, so the figure is the host's kernel-issue "
        f"rate, not the card's speed"
    )


def project(estimate: PipelineEstimate, profile: Profile, dtype: str) -> Projection:
    """`dtype` is the variant's compute dtype (`float16`, ...); a dtype the card cannot run,
    or a profile without rates (cpu, host), gives no figure and says why."""
    if not profile.has_rates:
        return Projection(profile.name, None, None, f"not projected: {profile.name} has no datasheet rates")
    refused = profile.unsupported_reason(dtype)
    if refused:
        return Projection(profile.name, None, None, f"not projected: {refused}")
    try:
        stage_s = {stage.name: trace_seconds(stage.trace, profile) for stage in estimate.stages}
    except ValueError as error:
        return Projection(profile.name, None, None, f"not projected: {error}")
    unet = estimate.stage("unet")
    step_s = stage_s["unet"] * unet.calls
    latency_s = sum(stage_s[stage.name] * estimate.calls_per_generation(stage) for stage in estimate.stages)
    note = (
        f"roofline over {len(unet.trace.ops)} ops/step ({unet.trace.flops / 1e12:.2f} TFLOP, "
        f"{unet.trace.bytes / 1e9:.2f} GB) at {profile.efficiency:.2f} of {profile.name} peak "
        f"({profile.efficiency_source}), at least {profile.launch_us:g} us per kernel launch"
    )
    warning = profile.dtype_warning(dtype)
    if warning:
        note += f"; warning: {warning}"
    launch_note = launch_bound_note(unet.trace, profile)
    return Projection(profile.name, step_s, latency_s, note, len(unet.trace.ops), launch_note)
