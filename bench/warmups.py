"""The run's own generations as build-time warm-ups (BuildContext.warmups), one per distinct shape.

A pass that compiles for the shapes it sees (torch.compile with static shapes) runs these in
its build, so the first and timed calls of every workload find their graphs compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import torch
from diffusers import DiffusionPipeline

from bench.generate import generate
from bench.schedulers import set_scheduler
from bench.workload import Workload

# Two steps: the first and a later denoising step, every UNet input shape and dtype a longer
# run uses (more steps only repeat them).
WARMUP_STEPS = 2


def shape_key(workload: Workload) -> tuple[object, ...]:
    """What decides the compiled graphs' input shapes and dtypes: size, batch, whether CFG doubles
    the UNet batch, and the scheduler (Euler's timesteps are float, DDIM's integer)."""
    return (workload.width, workload.height, workload.batch, workload.guidance > 1, workload.scheduler)


def warmups_for(
    workloads: Iterable[Workload], device: torch.device
) -> dict[str, Callable[[DiffusionPipeline], object]]:
    """One short generation per distinct shape, keyed by the first such workload's label."""
    chosen: dict[tuple[object, ...], Workload] = {}
    for workload in workloads:
        chosen.setdefault(shape_key(workload), workload)

    def runner(workload: Workload) -> Callable[[DiffusionPipeline], object]:
        short = replace(workload, steps=min(workload.steps, WARMUP_STEPS))

        def run(pipeline: DiffusionPipeline) -> object:
            set_scheduler(pipeline, short.scheduler)
            return generate(pipeline, short, device)

        return run

    return {workload.label: runner(workload) for workload in chosen.values()}
