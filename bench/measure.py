"""Time one variant on one workload: first call, warm-up, then timed rounds with stages and peaks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline

from bench.generate import generate
from bench.instruments.memory import CudaPeak, RssSampler
from bench.instruments.stages import StageRecorder
from bench.schedulers import set_scheduler
from bench.workload import Workload


@dataclass
class Measurement:
    images: np.ndarray
    first_call_s: float
    stages: dict[str, float | None]
    peak_ram_mib: float
    vram: dict[str, float | None]


def measure(
    pipeline: DiffusionPipeline,
    workload: Workload,
    device: torch.device,
    benchmark: Any,
    rounds: int,
    warmup: int,
) -> Measurement:
    """`benchmark` is pytest-benchmark's fixture; only the `rounds` after warm-up are its statistics."""
    set_scheduler(pipeline, workload.scheduler)
    pipeline.set_progress_bar_config(disable=True)
    cuda = CudaPeak(device)
    cuda.reset()
    with RssSampler(also=cuda.sample_nvml) as rss, StageRecorder(pipeline, device) as stages:
        started = time.perf_counter()
        images = generate(pipeline, workload, device)
        first_call_s = time.perf_counter() - started
        for _ in range(warmup):
            generate(pipeline, workload, device)
        stages.clear()
        benchmark.pedantic(
            generate,
            args=(pipeline, workload, device, stages),
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
    )
