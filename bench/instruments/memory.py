"""Peak memory: host RSS (the kernel's high-water mark, or sampled), CUDA allocator peaks, NVML."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import psutil
import torch

from bench.instruments.nvml import (
    PROCESS,
    NvmlMemory,
    device_handle,
    process_used_mib,
    utilisation_pct,
)

MIB = 1 << 20


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    """A `VmXXX:` line of /proc/self/status in KiB, or None off Linux."""
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def reset_kernel_peak() -> bool:
    """Reset the kernel's peak RSS (VmHWM) to the current RSS; False where the kernel can't.

    Writing "5" to /proc/self/clear_refs does this (Linux 4.0+, documented in proc(5)); the
    kernel then tracks the true peak at no cost to the process, where a sampling thread both
    misses short peaks and takes CPU from the work it measures.
    """
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


class RssSampler:
    """Peak resident set size of this process while the block runs.

    On Linux the kernel's own high-water mark (VmHWM, reset on entry) is read: exact, and no
    thread runs during the measured work. Elsewhere (or where /proc/self/clear_refs is not
    writable) a thread samples RSS every `interval` s. One snapshot at the end would miss the
    peak either way: activations are freed before the call returns. Blocks must not nest: the
    kernel keeps one high-water mark per process.
    """

    def __init__(
        self,
        interval: float = 0.005,
        also: Callable[[], None] | None = None,
        use_kernel: bool = True,
        also_interval: float = 0.05,
    ) -> None:
        """`also` runs in a thread (NVML sampling on CUDA), so its peak is a real peak: every
        `interval` s when RSS must be sampled too, else every `also_interval` s.
        `use_kernel=False` forces thread sampling (to compare the two in tools/instrument_overhead.py)."""
        self.interval = interval
        self.also_interval = also_interval
        self.also = also
        self.use_kernel = use_kernel
        self.process = psutil.Process(os.getpid())
        self.peak_bytes = 0
        self.start_bytes = 0
        self.source = "sampled"
        self._kernel = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        tick = self.also_interval if self._kernel else self.interval
        while not self._stop.is_set():
            if not self._kernel:
                self.peak_bytes = max(self.peak_bytes, self.process.memory_info().rss)
            if self.also is not None:
                self.also()
            self._stop.wait(tick)

    def __enter__(self) -> RssSampler:
        self._kernel = self.use_kernel and reset_kernel_peak()
        self.source = "kernel-hwm" if self._kernel else "sampled"
        self.start_bytes = self.process.memory_info().rss
        self.peak_bytes = self.start_bytes
        self._stop.clear()
        if not self._kernel or self.also is not None:
            self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.peak_bytes = max(self.peak_bytes, self.process.memory_info().rss)
        if self._kernel:
            hwm_kib = _status_kib("VmHWM")
            if hwm_kib is not None:
                self.peak_bytes = max(self.peak_bytes, hwm_kib * 1024)

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / MIB

    def current_peak_mib(self) -> float:
        """The peak so far, read inside the block (the kernel's mark, or the samples so far)."""
        peak = max(self.peak_bytes, self.process.memory_info().rss)
        if self._kernel:
            hwm_kib = _status_kib("VmHWM")
            if hwm_kib is not None:
                peak = max(peak, hwm_kib * 1024)
        return peak / MIB

    @property
    def start_mib(self) -> float:
        return self.start_bytes / MIB


class CudaPeak:
    """torch allocator peaks since `reset`, plus NVML's view of this process (CUDA context included).

    NVML reads the device torch uses (by UUID, see bench/instruments/nvml.py); where NVML does not
    list this process (containers), its figure is the device's used-memory delta since `reset`, and
    `peak_vram_nvml_basis` says which one the row holds."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._nvml = NvmlMemory(device) if device.type == "cuda" else None
        self._nvml_peak: float | None = None
        self._nvml_basis: str | None = None
        # GPU utilisation (NVML's % of time a kernel ran, over its last sample period), per tick.
        self._utilisation: list[int] = []

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            if self._nvml is not None:
                self._nvml.reset()  # after empty_cache: the delta fallback starts from here

    def sample_nvml(self) -> None:
        if self._nvml is None:
            return
        reading = self._nvml.read()
        if reading.mib is not None:
            self._nvml_peak = max(self._nvml_peak or 0.0, reading.mib)
            # One basis per row: once the process was seen, a later miss does not switch it.
            self._nvml_basis = self._nvml_basis if self._nvml_basis == PROCESS else reading.basis
        busy = self._nvml.utilisation()
        if busy is not None:
            self._utilisation.append(busy)

    def read(self) -> dict[str, float | str | None]:
        if self.device.type != "cuda":
            return {
                "peak_vram_allocated_mib": None,
                "peak_vram_reserved_mib": None,
                "peak_vram_nvml_mib": None,
                "peak_vram_nvml_basis": None,
                "gpu_util_pct": None,
            }
        self.sample_nvml()
        samples = self._utilisation
        return {
            "peak_vram_allocated_mib": torch.cuda.max_memory_allocated(self.device) / MIB,
            "peak_vram_reserved_mib": torch.cuda.max_memory_reserved(self.device) / MIB,
            "peak_vram_nvml_mib": self._nvml_peak,
            "peak_vram_nvml_basis": self._nvml_basis,
            # The whole device's utilisation: other processes' kernels count too (NVML has no
            # per-process figure on most drivers); the mean over the sampled ticks.
            "gpu_util_pct": sum(samples) / len(samples) if samples else None,
        }


def nvml_process_mib(device: torch.device) -> float | None:
    """Memory NVML attributes to this process on `device` (CUDA context included), or None."""
    handle = device_handle(device)
    return process_used_mib(handle, os.getpid()) if handle is not None else None


def nvml_utilisation_pct(device: torch.device) -> int | None:
    """NVML's GPU utilisation of `device` (percent of the last sample period a kernel ran), or None."""
    handle = device_handle(device)
    return utilisation_pct(handle) if handle is not None else None
