"""Time one variant on one workload: first call, warm-up, then timed rounds with stages and peaks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline

from bench import faults, progress
from bench.generate import generate
from bench.instruments.contention import Contention, ContentionMeter
from bench.instruments.energy import Energy, EnergyMeter
from bench.instruments.memory import CudaPeak, RssSampler
from bench.instruments.stages import StageRecorder
from bench.schedulers import set_scheduler
from bench.workload import Workload
from optimize import Variant

# NVML is polled in a thread on CUDA only: every 50 ms catches a peak that lasts a denoising
# step. RSS is sampled every 5 ms only where the kernel keeps no peak (RssSampler).
NVML_INTERVAL_S = 0.05
RSS_INTERVAL_S = 0.005


class OutOfMemory(Exception):
    """The variant did not fit on the device; the row's reason (and the peak it reached) are in `info`."""


def variant_fields(variant: Variant) -> dict[str, Any]:
    """The row's fields about the build (or the cache load) of the variant measured."""
    return {
        "build_s": variant.build_s,
        # On a cache hit build_s is the load; what the build itself took is in the manifest.
        "first_build_s": variant.manifest.get("build_s"),
        "cache_hit": variant.cache_hit,
        "build_peak_ram_mib": variant.peak_ram_mib,
        "params": variant.params,
        "size_mb": variant.size_bytes / 1e6,
    }


@dataclass
class Measurement:
    images: np.ndarray
    first_call_s: float
    stages: dict[str, float | None]
    peak_ram_mib: float
    vram: dict[str, float | None]
    ram_start_mib: float | None = None
    ram_source: str = "sampled"
    contention: Contention | None = None
    energy: Energy | None = None

    def row_fields(self) -> dict[str, Any]:
        """The row's figures for this measurement (stages, VRAM, RAM, contention, energy)."""
        fields: dict[str, Any] = {
            **self.stages,
            **self.vram,
            "first_call_s": self.first_call_s,
            "peak_ram_mib": self.peak_ram_mib,
            "ram_start_mib": self.ram_start_mib,
            "ram_source": self.ram_source,
        }
        if self.contention is not None:
            fields.update(self.contention.fields())
        if self.energy is not None:
            fields.update(self.energy.fields())
        return fields


def measure(
    pipeline: DiffusionPipeline,
    workload: Workload,
    device: torch.device,
    benchmark: Any,
    rounds: int,
    warmup: int,
    label: str = "",
) -> Measurement:
    """`benchmark` is pytest-benchmark's fixture; only the `rounds` after warm-up are its statistics.

    `label` names the variant for fault injection (bench/faults.py) and nothing else."""
    set_scheduler(pipeline, workload.scheduler)
    pipeline.set_progress_bar_config(disable=True)
    cuda = CudaPeak(device)
    cuda.reset()
    nvml = cuda.sample_nvml if device.type == "cuda" else None
    contention = ContentionMeter()
    # Made here, not inside the rounds: finding the counters imports Zeus (about a second).
    energy = EnergyMeter(device)
    with (
        RssSampler(interval=RSS_INTERVAL_S, also=nvml, also_interval=NVML_INTERVAL_S) as rss,
        StageRecorder(pipeline, device) as stages,
    ):
        faults.before_first_call(label, pipeline)
        progress.phase("first call")
        started = time.perf_counter()
        images = generate(pipeline, workload, device)
        first_call_s = time.perf_counter() - started
        for done in range(warmup):
            progress.phase(f"warm-up {done + 1} of {warmup}")
            generate(pipeline, workload, device)
        stages.clear()
        with contention, energy:
            benchmark.pedantic(
                generate,
                args=(pipeline, workload, device, stages),
                setup=progress.round_counter(rounds),  # a line before each round, outside its timing
                rounds=rounds,
                warmup_rounds=0,
                iterations=1,
            )
    return Measurement(
        images=images,
        first_call_s=first_call_s,
        stages=stages.summary(),
        peak_ram_mib=rss.peak_mib,
        vram=cuda.read(),
        ram_start_mib=rss.start_mib,
        ram_source=rss.source,
        contention=contention.result,
        energy=energy.result(rounds, workload.batch),
    )
