"""Row fields of quantised variants: param_mb (every variant), quantised_layers, skipped_layers
and quantised_bytes_ratio (null for variants without a quantisation pass). See docs/run-format.md."""

from __future__ import annotations

from typing import Any

from bench.collectors import FinishedRun, collector
from optimize.quantisation.footprint import pipeline_parameter_bytes, quantisation_summary


@collector(order=50)
def quantisation_fields(run: FinishedRun) -> dict[str, Any]:
    return {
        "param_mb": pipeline_parameter_bytes(run.variant.pipeline) / 1e6,
        **quantisation_summary(run.variant.manifest.get("checks", {})),
    }
