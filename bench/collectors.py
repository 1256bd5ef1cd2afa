"""Extra row fields computed after a variant is measured (MACs, profile fit, FID, ...).

A collector is a function of the finished run that returns fields for the row's
extra_info. Each lives in its own module and registers itself with `@collector`; import
that module in `_COLLECTOR_MODULES` below so the suite finds it. A collector that cannot
compute its fields returns None values (never invented numbers).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.measure import Measurement
    from bench.suite_config import SuiteConfig
    from bench.workload import Workload
    from models import LoadedModel
    from optimize import Variant


@dataclass
class FinishedRun:
    config: SuiteConfig
    model: LoadedModel
    variant: Variant
    workload: Workload
    measurement: Measurement
    # Fields already in the row (status, latency stages, ...), read-only for collectors.
    row: dict[str, Any]


Collector = Callable[[FinishedRun], dict[str, Any]]
COLLECTORS: list[Collector] = []

# Modules that register collectors; one line per capability.
_COLLECTOR_MODULES: tuple[str, ...] = (
    "bench.profiles.collector",  # est_peak_mem_mib, fits, projected_latency_s, ...
    "bench.quality.collector",  # fid, fid_n, fid_ref, kid, is, ... (with --quality fid)
    "bench.instruments.flops",  # macs_g (per image, all stages), unet_macs_g
    "bench.quantisation_collector",  # param_mb, quantised_layers, skipped_layers, quantised_bytes_ratio
    "bench.runtime_provider",  # provider (ONNX Runtime / TensorRT provider really used)
    "bench.family_collector",  # family (stable-diffusion, ddpm, vae, gan)
    "bench.checkpoint_collector",  # checkpoint, adapters (--lora, --textual-inversion, --unet-checkpoint)
    # After the profile collector: for runtimes outside torch's allocator it decides `fits` from NVML.
    "bench.vram_collector",  # vram_source, vram_capped, vram_cap_note
)


def collector(function: Collector) -> Collector:
    COLLECTORS.append(function)
    return function


def collect(run: FinishedRun) -> dict[str, Any]:
    for module in _COLLECTOR_MODULES:
        importlib.import_module(module)
    fields: dict[str, Any] = {}
    for function in COLLECTORS:
        fields.update(function(run))
    return fields
