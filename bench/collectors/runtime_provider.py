"""The `provider` row field: the execution provider an exported variant's sessions really got.

Read from the live sessions (`session.get_providers()`), not from what was requested:
onnxruntime-gpu falls back to the CPU silently when CUDA libraries are missing, and such a
row must say CPUExecutionProvider. Null for torch variants.
"""

from __future__ import annotations

from typing import Any

from bench.collectors import FinishedRun, collector
from optimize.export.modules import exported_components


def provider_label(pipeline: Any) -> str | None:
    providers = {name: part.provider for name, part in exported_components(pipeline).items()}
    if not providers:
        return None
    distinct = sorted(set(providers.values()))
    if len(distinct) == 1:
        return distinct[0]
    return ",".join(f"{name}={provider}" for name, provider in sorted(providers.items()))


@collector(order=60)
def runtime_provider(run: FinishedRun) -> dict[str, Any]:
    return {"provider": provider_label(run.variant.pipeline)}
