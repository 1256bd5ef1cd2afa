"""An estimate turned into row fields: the peak, whether it fits each profile, projected latency."""

from __future__ import annotations

from typing import Any

from bench.profiles.estimate import MIB, PipelineEstimate
from bench.profiles.projection import project
from bench.profiles.table import Profile


def fits(estimate: PipelineEstimate, profile: Profile, dtype: str | None = None) -> bool | None:
    """Whether the variant can run on the profile: its compute dtype (`bfloat16`, ...) is one the
    card has, and the estimated peak fits the card's memory less its CUDA-context reserve."""
    if dtype is not None and profile.unsupported_reason(dtype):
        return False  # a card that cannot run the dtype holds nothing of it, whatever its memory
    usable = profile.usable_mib
    return None if usable is None else estimate.peak_mib <= usable


def fit_note(profiles: dict[str, Profile], dtype: str) -> str | None:
    """Why `fits` is false on some profiles regardless of memory, one clause per card."""
    reasons = [reason for p in profiles.values() if (reason := p.unsupported_reason(dtype))]
    return "; ".join(reasons) or None


def fit_fields(
    estimate: PipelineEstimate, profile: Profile, catalogue: dict[str, Profile], dtype: str
) -> dict[str, Any]:
    """Row fields for the row's `profile`, plus fits and projected steps on every GPU profile."""
    projection = project(estimate, profile, dtype)
    gpu_profiles = {name: p for name, p in catalogue.items() if p.kind == "gpu" and p.vram_mib is not None}
    gpu_profiles.setdefault(profile.name, profile)
    return {
        "est_peak_mem_mib": round(estimate.peak_mib, 1),
        "est_weights_mib": round(estimate.weights_bytes / MIB, 1),
        "fits": fits(estimate, profile, dtype),
        "fits_profiles": {name: fits(estimate, p, dtype) for name, p in gpu_profiles.items()},
        "fit_note": fit_note(gpu_profiles, dtype),
        "projected_step_ms": projection.step_ms,
        "projected_latency_s": projection.latency_s,
        "projection": projection.note,
        "projection_note": projection.launch_note,
        "projection_kernels": projection.kernels,
        "projection_efficiency": profile.efficiency if projection.step_s is not None else None,
        "projected_step_ms_profiles": {
            name: project(estimate, p, dtype).step_ms for name, p in gpu_profiles.items()
        },
    }


EMPTY_FIELDS: dict[str, Any] = {
    "est_peak_mem_mib": None,
    "est_weights_mib": None,
    "fits": None,
    "fits_profiles": None,
    "fit_note": None,
    "projected_step_ms": None,
    "projected_latency_s": None,
    "projection_note": None,
    "projection_kernels": None,
    "projection_efficiency": None,
    "projected_step_ms_profiles": None,
}
