"""Row fields `macs_g` and `unet_macs_g`, counted by bench/instruments/flops.py from the row's
shared meta-device trace (bench/instruments/meta_trace.py)."""

from __future__ import annotations

import warnings
from typing import Any

from bench.collectors import FinishedRun, collector


@collector(order=40)
def macs_fields(run: FinishedRun) -> dict[str, Any]:
    """`macs_g` per image (all stages) and `unet_macs_g` per UNet call per image; None if uncountable."""
    traced = run.meta_trace
    counted = traced.macs
    if counted is None:  # a component that is not plain torch (ONNX session, engine): no figure
        message = f"macs not counted for {run.variant.name}: {traced.macs_error}".splitlines()[0]
        warnings.warn(message, stacklevel=2)
        return {"macs_g": None, "unet_macs_g": None}
    unet = counted.unet / 1e9 if counted.has_unet else None
    return {"macs_g": counted.per_image / 1e9, "unet_macs_g": unet}
