"""Energy per generation over the timed rounds, read from the hardware's own counters through Zeus.

Zeus (ML.ENERGY, `zeus.monitor.ZeusMonitor`) reads NVML's cumulative energy counter
(`nvmlDeviceGetTotalEnergyConsumption`, Volta and newer, Turing included) and RAPL's package
and DRAM counters (`/sys/class/powercap/intel-rapl*/energy_uj`). A window is the difference of
two readings, so nothing is sampled or integrated here: what a row reports is what the counters
counted. Only the GPU the run uses is read (an idle second GPU is not this variant's energy);
RAPL counts the whole CPU package and DRAM, other processes included, which is why a row names
its counters and the gate compares only rows that used the same ones.

Where no counter can be read (no NVIDIA driver, a run on the CPU of a machine without RAPL, a
RAPL the user may not read), ZeusMonitor raises nothing: it quietly watches no device and
returns empty dicts. So the meter asks Zeus's device layer itself which counters exist, and a
row without any says why in `energy_reason`, with `energy_j` null: never an estimate (Zeus's
power polling for pre-Volta GPUs and its `approx_instant_energy` are estimates, so neither is
used).

The meter is used per timed round (`begin()` / `end()`, summed) or around all of them (`with`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

POWERCAP = Path("/sys/class/powercap")
JOULES_PER_KWH = 3.6e6
NO_ZEUS = "zeus (ML.ENERGY) is not installed: pip install zeus"


@dataclass(frozen=True)
class Energy:
    """What the counters counted over the windows; `joules` None, with the reason, when none was read."""

    joules: float | None  # the sum over windows of every counter used
    seconds: float  # the windows' total length
    generations: int  # timed generations inside the windows
    images_per_generation: int
    counters: str | None  # "nvml:gpu0+rapl:cpu0+rapl:dram0"
    reason: str | None  # None when measured

    def fields(self) -> dict[str, float | str | None]:
        """The row's fields: energy_j (per generation), images_per_kwh, energy_counters, energy_reason."""
        energy_j: float | None = None
        per_kwh: float | None = None
        if self.joules is not None and self.generations > 0:
            energy_j = self.joules / self.generations
            per_kwh = self.images_per_generation / (energy_j / JOULES_PER_KWH) if energy_j > 0 else None
        return {
            "energy_j": energy_j,
            "images_per_kwh": per_kwh,
            "energy_counters": self.counters,
            "energy_reason": self.reason,
        }


def unmeasured(reason: str) -> dict[str, float | str | None]:
    """The energy fields of a row whose energy was not read, with the reason."""
    return Energy(None, 0.0, 0, 0, None, reason).fields()


@dataclass(frozen=True)
class Counters:
    """The devices Zeus will read for this run, or why none (`reason` set and both lists empty)."""

    gpu_indices: list[int]
    cpu_indices: list[int]
    gpu_library: str  # "nvml" or "amdsmi": the counter's name in `energy_counters`
    reason: str | None


def _gpu_counters(device: torch.device) -> tuple[list[int], str, str | None]:
    """The run's own GPU when its energy counter can be read; else why not (None: not a GPU run)."""
    if device.type != "cuda":
        return [], "nvml", None
    from zeus.device import get_gpus
    from zeus.device.gpu.common import ZeusGPUInitError

    index = device.index if device.index is not None else torch.cuda.current_device()
    try:
        gpus = get_gpus()
    except ZeusGPUInitError:
        return [], "nvml", "no NVML (nvidia-ml-py or the NVIDIA driver library missing)"
    library = "amdsmi" if type(gpus).__name__.startswith("AMD") else "nvml"
    if index >= len(gpus):
        return [], library, f"{library} lists {len(gpus)} GPUs, not the run's cuda:{index}"
    if not gpus.supports_get_total_energy_consumption(index):
        return [], library, f"cuda:{index} has no energy counter (NVML's needs Volta or newer)"
    return [index], library, None


def _cpu_counters() -> tuple[list[int], str | None]:
    """Every RAPL package Zeus can read, or why none."""
    from zeus.device import get_cpus
    from zeus.device.cpu.common import ZeusCPUInitError, ZeusCPUNoPermissionError

    try:
        cpus = get_cpus()
    except ZeusCPUInitError:
        if not POWERCAP.exists():
            return [], f"no RAPL ({POWERCAP} missing)"
        return [], f"no RAPL zone under {POWERCAP}"
    except ZeusCPUNoPermissionError:
        return [], f"RAPL not readable ({POWERCAP}/intel-rapl*/energy_uj needs root)"
    return list(range(len(cpus))), None


def find_counters(device: torch.device) -> Counters:
    try:
        import zeus  # noqa: F401  (its import takes about a second: only when a row is measured)
    except ImportError:
        return Counters([], [], "nvml", NO_ZEUS)
    gpu_indices, library, gpu_reason = _gpu_counters(device)
    cpu_indices, cpu_reason = _cpu_counters()
    if gpu_indices or cpu_indices:
        return Counters(gpu_indices, cpu_indices, library, None)
    gpu_part = gpu_reason or "the run uses no GPU"
    return Counters([], [], library, f"no counter to read: {gpu_part}, and {cpu_reason}")


class EnergyMeter:
    """Energy over windows: `begin()`/`end()` around each timed round, or `with meter:` around all.

    `monitor` is Zeus's ZeusMonitor (or anything with its begin_window/end_window); by default one
    is made for the counters `find_counters` finds for `device`.
    """

    def __init__(self, device: torch.device, monitor: Any | None = None, library: str = "nvml") -> None:
        self.reason: str | None = None
        self.library = library
        if monitor is None:
            counters = find_counters(device)
            self.library = counters.gpu_library
            self.reason = counters.reason
            if counters.reason is None:
                from zeus.monitor import ZeusMonitor

                monitor = ZeusMonitor(
                    gpu_indices=counters.gpu_indices,
                    cpu_indices=counters.cpu_indices,
                    sync_execution_with="torch",
                )
        self.monitor = monitor
        self.joules: dict[str, float] = {}
        self.seconds = 0.0
        self.windows = 0
        self._open: str | None = None

    def begin(self) -> None:
        if self.monitor is None:
            return
        self._open = f"diffbench-energy-{self.windows}"
        # Zeus synchronises the GPU before reading, so queued work is not counted in this window.
        self.monitor.begin_window(self._open)

    def end(self) -> None:
        if self.monitor is None or self._open is None:
            return
        with warnings.catch_warnings():
            # Zeus warns when a GPU counter did not advance; result() says so on the row instead.
            warnings.simplefilter("ignore")
            measured = self.monitor.end_window(self._open)
        self._open = None
        self.windows += 1
        self.seconds += float(measured.time)
        for prefix, readings in (
            (f"{self.library}:gpu", measured.gpu_energy),
            ("rapl:cpu", measured.cpu_energy),
            ("rapl:dram", measured.dram_energy),
        ):
            for index, joules in _items(readings):
                name = f"{prefix}{index}"
                self.joules[name] = self.joules.get(name, 0.0) + float(joules)

    def __enter__(self) -> EnergyMeter:
        self.begin()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()

    def result(self, generations: int, images_per_generation: int) -> Energy:
        """The energy of `generations` timed generations, each making `images_per_generation` images."""
        if self.reason is not None:
            return self._none(generations, images_per_generation, self.reason)
        if not self.windows or not self.joules:
            return self._none(generations, images_per_generation, "no window was measured")
        counters = "+".join(self.joules)
        total = sum(self.joules.values())
        stalled = [name for name, joules in self.joules.items() if joules <= 0 or not math.isfinite(joules)]
        if stalled:
            # A counter that did not advance over the rounds: they were shorter than its update
            # period (or it wrapped); a zero would be a false measurement.
            reason = f"{', '.join(stalled)} did not advance over {self.seconds:.3g} s of timed rounds"
            return Energy(None, self.seconds, generations, images_per_generation, counters, reason)
        return Energy(total, self.seconds, generations, images_per_generation, counters, None)

    def _none(self, generations: int, images: int, reason: str) -> Energy:
        return Energy(None, self.seconds, generations, images, None, reason)


def _items(readings: Mapping[int, float] | None) -> list[tuple[int, float]]:
    return sorted((readings or {}).items())
