"""The `dtype_note` row field: whether the device ran the variant's dtype natively."""

from __future__ import annotations

from typing import Any

import torch

from bench.collectors import FinishedRun, collector
from optimize.cpu_features import emulated_dtype_note


@collector(order=20)
def dtype_native(run: FinishedRun) -> dict[str, Any]:
    """Whether the device ran the variant's dtype natively: a CPU without bf16/fp16 arithmetic
    converts every op to fp32 and back, so its row is slow for a reason the card would not have."""
    dtype = getattr(torch, str(run.row.get("dtype")), None)
    note = emulated_dtype_note(dtype, run.config.device) if isinstance(dtype, torch.dtype) else None
    return {"dtype_note": note}
