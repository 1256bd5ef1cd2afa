"""Peak memory: host RSS sampled in a thread, CUDA allocator peaks, NVML process memory."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any

import psutil
import torch

MIB = 1 << 20


class RssSampler:
    """Peak resident set size of this process while the block runs, sampled every `interval` s.

    One snapshot at the end would miss the peak: activations are freed before the
    call returns.
    """

    def __init__(self, interval: float = 0.005, also: Callable[[], None] | None = None) -> None:
        """`also` runs on every tick too (NVML sampling), so its peak is a real peak."""
        self.interval = interval
        self.also = also
        self.process = psutil.Process(os.getpid())
        self.peak_bytes = 0
        self.start_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.process.memory_info().rss)
            if self.also is not None:
                self.also()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.start_bytes = self.process.memory_info().rss
        self.peak_bytes = self.start_bytes
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self.process.memory_info().rss)

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / MIB


class CudaPeak:
    """torch allocator peaks since `reset`, plus NVML's view of this process (CUDA context included)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._nvml_peak: float | None = None
        # GPU utilisation (NVML's % of time a kernel ran, over its last sample period), per tick.
        self._utilisation: list[int] = []

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)

    def sample_nvml(self) -> None:
        if self.device.type != "cuda":
            return
        used = nvml_process_mib(self.device)
        if used is not None:
            self._nvml_peak = max(self._nvml_peak or 0.0, used)
        busy = nvml_utilisation_pct(self.device)
        if busy is not None:
            self._utilisation.append(busy)

    def read(self) -> dict[str, float | None]:
        if self.device.type != "cuda":
            return {
                "peak_vram_allocated_mib": None,
                "peak_vram_reserved_mib": None,
                "peak_vram_nvml_mib": None,
                "gpu_util_pct": None,
            }
        self.sample_nvml()
        samples = self._utilisation
        return {
            "peak_vram_allocated_mib": torch.cuda.max_memory_allocated(self.device) / MIB,
            "peak_vram_reserved_mib": torch.cuda.max_memory_reserved(self.device) / MIB,
            "peak_vram_nvml_mib": self._nvml_peak,
            # The whole device's utilisation: other processes' kernels count too (NVML has no
            # per-process figure on most drivers); the mean over the sampled ticks.
            "gpu_util_pct": sum(samples) / len(samples) if samples else None,
        }


@functools.cache
def _nvml() -> Any | None:
    """The initialised pynvml module, or None when NVML (nvidia-ml-py) is absent or unusable."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # ImportError, or NVMLError when no driver: both mean "no NVML figure".
        return None
    return pynvml


def nvml_process_mib(device: torch.device) -> float | None:
    """Memory NVML attributes to this process on `device` (CUDA context included), or None."""
    pynvml = _nvml()
    if pynvml is None:
        return None
    try:
        index = device.index if device.index is not None else torch.cuda.current_device()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        processes: list[Any] = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except pynvml.NVMLError:
        return None
    pid = os.getpid()
    used = [p.usedGpuMemory for p in processes if p.pid == pid and p.usedGpuMemory]
    return used[0] / MIB if used else None


def nvml_utilisation_pct(device: torch.device) -> int | None:
    """NVML's GPU utilisation of `device` (percent of the last sample period a kernel ran), or None."""
    pynvml = _nvml()
    if pynvml is None:
        return None
    try:
        index = device.index if device.index is not None else torch.cuda.current_device()
        rates = pynvml.nvmlDeviceGetUtilizationRates(pynvml.nvmlDeviceGetHandleByIndex(index))
    except pynvml.NVMLError:
        return None
    return int(rates.gpu)
