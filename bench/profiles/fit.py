"""An estimate turned into row fields: the peak, whether it fits each profile, projected latency."""

from __future__ import annotations

from typing import Any

from bench.profiles.estimate import MIB, PipelineEstimate
from bench.profiles.projection import project
from bench.profiles.table import Profile


def fits(estimate: PipelineEstimate, profile: Profile) -> bool | None:
    """Whether the estimated peak fits the profile's memory less its CUDA-context reserve."""
    usable = profile.usable_mib
    return None if usable is None else estimate.peak_mib <= usable


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
        "fits": fits(estimate, profile),
        "fits_profiles": {name: fits(estimate, p) for name, p in gpu_profiles.items()},
        "projected_step_ms": projection.step_ms,
        "projected_latency_s": projection.latency_s,
        "projection": projection.note,
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
    "projected_step_ms": None,
    "projected_latency_s": None,
    "projection_efficiency": None,
    "projected_step_ms_profiles": None,
}
