"""Row fields for the run's hardware profile: estimated peak memory, fits, projected latency."""

from __future__ import annotations

from typing import Any

from bench.collectors import FinishedRun, collector
from bench.profiles.fit import EMPTY_FIELDS, fit_fields
from models.families import family_of


@collector(order=10)
def profile_fit(run: FinishedRun) -> dict[str, Any]:
    offload = {"offload": run.row.get("offload") or "none"}
    selection = run.config.hardware
    if selection is None:
        return offload
    if family_of(run.variant.pipeline).stage_plan.denoiser is None:
        # The meta-device trace follows a diffusion pipeline's stages (encoders, UNet x steps, decode).
        reason = "the memory estimate and projection cover UNet pipelines, not a VAE or GAN alone"
        return {**offload, **EMPTY_FIELDS, "projection": f"not estimated: {reason}"}
    # The variant's own modules (pruned shapes, cast dtypes) traced with meta weights, once for
    # the row: the MAC count reads the same trace (bench/instruments/meta_trace.py).
    traced = run.meta_trace
    estimate = traced.estimate
    if estimate is None:  # a module that cannot run on meta (custom kernels): say so, no number
        error = traced.estimate_error
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        return {**offload, **EMPTY_FIELDS, "projection": f"not estimated: {reason}"}
    fields = fit_fields(estimate, selection.profile, selection.catalogue, str(run.row["dtype"]))
    return {
        **offload,
        **fields,
        "est_vs_measured_mib": _against_measured(fields, run.row, offload["offload"]),
    }


def _against_measured(fields: dict[str, Any], row: dict[str, Any], offload: str) -> float | None:
    """Estimate minus the measured CUDA allocator peak (the same quantity), where a GPU measured one."""
    measured = row.get("peak_vram_allocated_mib")
    estimated = fields.get("est_peak_mem_mib")
    if measured is None or estimated is None or offload != "none":
        return None  # no GPU, or offload moved weights out of the device
    return round(estimated - measured, 1)
