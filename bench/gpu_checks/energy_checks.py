"""Energy: NVML's energy counter read through Zeus over real generations, and the suite's rows carrying it.

On a machine without a GPU these never run (every check is SKIP with the no-CUDA reason, and
tests/bench/test_energy.py checks that the row's energy is null with its reason there).
"""

from __future__ import annotations

import importlib.util
import time

import torch

from bench.generate import generate
from bench.gpu_checks.base import CheckContext, Outcome, check, failed, passed, skipped
from bench.gpu_checks.suite_checks import _sd15_run  # the sd15 run the VRAM checks read, shared
from bench.gpu_checks.suite_run import figures, row_problem
from bench.instruments.energy import JOULES_PER_KWH, NO_ZEUS, EnergyMeter, find_counters
from bench.schedulers import set_scheduler
from bench.workload import Workload

# A busy GPU draws tens to hundreds of watts (an H100/H200 SXM up to 700 W, a GTX 1650 75 W);
# a mean outside this range over seconds of generations is a misread counter, not a GPU.
MIN_GPU_W, MAX_GPU_W = 5.0, 1500.0
GENERATE_FOR_S = 3.0  # long enough for many updates of the counter
# The rounds' windows leave out only the gaps between rounds (a Python loop), so their sum is
# most of the enclosing window's energy, and never more than it plus the counter's resolution.
MIN_ROUNDS_SHARE, MAX_ROUNDS_SHARE = 0.5, 1.05


def _gpu_joules(meter: EnergyMeter, index: int) -> float | None:
    return meter.joules.get(f"{meter.library}:gpu{index}")


@check(
    "energy-counter", "NVML's energy counter through Zeus; per-round windows agree with one around them", 120
)
def energy_counter(context: CheckContext) -> Outcome:
    if (skip := _without_zeus()) is not None:
        return skip
    device = context.device
    assert device is not None  # run_checks skips every check without CUDA
    index = device.index if device.index is not None else torch.cuda.current_device()
    counters = find_counters(device)
    if counters.reason is not None or index not in counters.gpu_indices:
        return failed(f"no GPU energy counter for {device}: {counters.reason or 'the GPU is not counted'}")
    from models import load_model

    pipeline = load_model("tiny-sd").to(device)
    pipeline.set_progress_bar_config(disable=True)
    workload = Workload(width=256, height=256, steps=4)
    set_scheduler(pipeline, workload.scheduler)
    generate(pipeline, workload, device)  # the first call (kernels, allocator) outside the windows
    whole, rounds = EnergyMeter(device), EnergyMeter(device)
    generations = 0
    with whole:
        started = time.monotonic()
        while time.monotonic() - started < GENERATE_FOR_S:
            rounds.begin()  # as the interleaved path uses it: one window per timed round, summed
            generate(pipeline, workload, device)
            rounds.end()
            generations += 1
    total, summed = _gpu_joules(whole, index), _gpu_joules(rounds, index)
    energy = whole.result(generations, workload.batch)
    found = {
        "generations": generations,
        "seconds": round(energy.seconds, 2),
        "counters": energy.counters,
        "whole_j": round(total or 0.0, 2),
        "rounds_j": round(summed or 0.0, 2),
        **{k: _rounded(v) for k, v in energy.fields().items() if k in ("energy_j", "images_per_kwh")},
    }
    if not total or not summed or total <= 0 or summed <= 0:
        return failed(f"the GPU counter did not advance: {energy.reason or 'zero joules'}", **found)
    watts = total / energy.seconds
    found["mean_w"] = round(watts, 1)
    if not MIN_GPU_W <= watts <= MAX_GPU_W:
        return failed(f"mean GPU power {watts:.1f} W is outside {MIN_GPU_W:g}-{MAX_GPU_W:g} W", **found)
    share = summed / total
    if not MIN_ROUNDS_SHARE <= share <= MAX_ROUNDS_SHARE:
        return failed(f"the rounds' windows hold {share:.0%} of the enclosing window's energy", **found)
    return passed(f"{watts:.0f} W over {energy.seconds:.1f} s; the rounds' windows hold {share:.0%}", **found)


@check("energy-row", "the sd15 fp32 row carries energy_j and images_per_kwh from the GPU's counter", 300)
def energy_row(context: CheckContext) -> Outcome:
    if (skip := _without_zeus()) is not None:
        return skip
    run = _sd15_run(context)
    problem = row_problem(run, "fp32")
    if problem:
        return failed(problem)
    row = run.row("fp32") or {}
    found = figures(row, "energy_j", "images_per_kwh", "energy_counters", "energy_reason")
    energy, per_kwh = row.get("energy_j"), row.get("images_per_kwh")
    counters = row.get("energy_counters") or ""
    if not energy or energy <= 0:
        return failed(f"no energy in the fp32 row: {row.get('energy_reason') or 'no reason given'}", **found)
    if "gpu" not in counters:
        return failed(f"the row's counters ({counters}) leave out the GPU", **found)
    batch = (row.get("workload_detail") or {}).get("batch", 1)
    if not per_kwh or abs(per_kwh - batch * JOULES_PER_KWH / energy) > 1e-6 * per_kwh:
        return failed("images_per_kwh is not batch / (energy_j / 3.6e6)", **found)
    return passed(f"{energy:.1f} J per generation from {counters}", **found)


def _rounded(value: object) -> object:
    return round(value, 2) if isinstance(value, float) else value


def _without_zeus() -> Outcome | None:
    """SKIP when Zeus is absent (the bench extra installs it, so only on a partial install)."""
    return None if importlib.util.find_spec("zeus") else skipped(NO_ZEUS)
