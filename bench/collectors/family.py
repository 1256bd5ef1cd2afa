"""The `family` row field: stable-diffusion, ddpm, vae or gan (models/registry.py FAMILIES).

From the loaded model (its registry spec, or the family, models/families/, of what a local
folder turned out to hold), so a report can group SD pipelines, VAEs and GANs without guessing
from the model's name; it is known even for a row whose variant failed to build.
"""

from __future__ import annotations

from typing import Any

from bench.collectors import FinishedRun, collector


@collector(order=70)
def family_fields(run: FinishedRun) -> dict[str, Any]:
    return {"family": run.model.family}
