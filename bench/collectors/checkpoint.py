"""Row fields `checkpoint` and `adapters`: which fine-tuning artefacts the row's model carried.

`checkpoint` is the short name (a UNet checkpoint's folder such as `step-000100`, else the
LoRA/embedding file stems) that the `checkpoints` study and report group by; `adapters` is
the full description (paths, LoRA scales, tokens). Both are null for a model without any.
"""

from __future__ import annotations

from typing import Any

from bench.checkpoint_options import adapters_of
from bench.collectors import FinishedRun, collector


@collector(order=80)
def checkpoint_fields(run: FinishedRun) -> dict[str, Any]:
    adapters = adapters_of(run.config)
    if not adapters:
        return {"checkpoint": None, "adapters": None}
    return {"checkpoint": adapters.label(), "adapters": adapters.describe()}
