"""Row fields `macs_g` and `unet_macs_g`, counted by bench/instruments/flops.py."""

from __future__ import annotations

import warnings
from typing import Any

from bench.collectors import FinishedRun, collector
from bench.instruments.flops import image_macs


@collector(order=40)
def macs_fields(run: FinishedRun) -> dict[str, Any]:
    """`macs_g` per image (all stages) and `unet_macs_g` per UNet call per image; None if uncountable."""
    try:
        counted = image_macs(run.variant.pipeline, run.workload)
    except Exception as error:  # a component that is not plain torch (ONNX session, engine): no figure
        warnings.warn(f"macs not counted for {run.variant.name}: {error}".splitlines()[0], stacklevel=2)
        return {"macs_g": None, "unet_macs_g": None}
    unet = counted.unet / 1e9 if counted.has_unet else None
    return {"macs_g": counted.per_image / 1e9, "unet_macs_g": unet}
