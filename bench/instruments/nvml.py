"""NVML's view of the torch device a run uses, found by UUID or PCI bus id, never by index.

torch's `cuda:N` counts only the GPUs that CUDA_VISIBLE_DEVICES exposes, in CUDA's order;
NVML's index counts every GPU of the machine in PCI order. With CUDA_VISIBLE_DEVICES=1,
torch's cuda:0 is NVML's device 1, so reading NVML by torch's index reads another GPU. The
device's UUID (and its PCI address) is the same in both, whatever the visible set.

Process memory: NVML lists the processes using a GPU by host PID. Inside a container (its
own PID namespace) this process's PID is not in that list, so the figure falls back to the
device's used memory since `reset` (a delta: other processes' allocations count, the CUDA
context created before the reset does not), and the row says so.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import torch

MIB = 1 << 20

PROCESS = "process"
DEVICE_DELTA = (
    "device delta: this process's PID is not visible to NVML (a container's PID namespace?), so "
    "the figure is the device's used memory since the reset; other processes count, the CUDA context not"
)


@functools.cache
def nvml() -> Any | None:
    """The initialised pynvml module, or None when NVML (nvidia-ml-py) is absent or unusable."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # ImportError, or NVMLError when no driver: both mean "no NVML figure".
        return None
    return pynvml


def uuid_candidates(torch_uuid: str) -> tuple[str, ...]:
    """NVML spellings of torch's device UUID (`str(get_device_properties(i).uuid)`, bare hex):
    a whole GPU is `GPU-<uuid>`, a MIG instance `MIG-<uuid>`."""
    bare = torch_uuid.strip().lower().removeprefix("gpu-").removeprefix("mig-")
    return (f"GPU-{bare}", f"MIG-{bare}")


def pci_bus_id(domain: int, bus: int, device: int) -> str:
    """NVML's PCI bus id (`nvmlPciInfo_t.busId`: 8-digit domain, bus, device, function 0)."""
    return f"{domain:08X}:{bus:02X}:{device:02X}.0"


@functools.cache
def _handle_for_index(index: int) -> Any | None:
    pynvml = nvml()
    if pynvml is None:
        return None
    properties = torch.cuda.get_device_properties(index)
    for uuid in uuid_candidates(str(properties.uuid)):
        try:
            return pynvml.nvmlDeviceGetHandleByUUID(uuid)
        except pynvml.NVMLError:
            continue
    try:
        address = pci_bus_id(properties.pci_domain_id, properties.pci_bus_id, properties.pci_device_id)
        return pynvml.nvmlDeviceGetHandleByPciBusId(address)
    except pynvml.NVMLError:
        return None  # never guess by index: that may be another GPU


def device_handle(device: torch.device) -> Any | None:
    """NVML's handle of the torch CUDA `device` (cuda without an index: the current one), or None."""
    if device.type != "cuda" or nvml() is None:
        return None
    index = device.index if device.index is not None else torch.cuda.current_device()
    return _handle_for_index(index)


def device_used_mib(handle: Any) -> float | None:
    """Memory used on the whole device (every process), MiB."""
    pynvml = nvml()
    try:
        return pynvml.nvmlDeviceGetMemoryInfo(handle).used / MIB
    except pynvml.NVMLError:
        return None


def process_used_mib(handle: Any, pid: int) -> float | None:
    """Memory NVML attributes to `pid` on the device (CUDA context included); None when the PID is
    not listed (a container) or the driver does not report per-process memory."""
    pynvml = nvml()
    try:
        processes: list[Any] = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except pynvml.NVMLError:
        return None
    used = [p.usedGpuMemory for p in processes if p.pid == pid and p.usedGpuMemory]
    return used[0] / MIB if used else None


def utilisation_pct(handle: Any) -> int | None:
    """Percent of NVML's last sample period in which a kernel ran on the device (all processes)."""
    pynvml = nvml()
    try:
        return int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except pynvml.NVMLError:
        return None


@dataclass(frozen=True)
class MemoryReading:
    mib: float | None
    basis: str | None  # PROCESS, DEVICE_DELTA, or None when nothing could be read


def choose_reading(
    process_mib: float | None, device_mib: float | None, device_at_reset: float | None
) -> MemoryReading:
    """This process's own figure where NVML lists it, else the device's growth since the reset."""
    if process_mib is not None:
        return MemoryReading(process_mib, PROCESS)
    if device_mib is not None and device_at_reset is not None:
        return MemoryReading(max(device_mib - device_at_reset, 0.0), DEVICE_DELTA)
    return MemoryReading(None, None)


class NvmlMemory:
    """NVML memory of one torch device: `reset` before the work, `read` during it."""

    def __init__(self, device: torch.device) -> None:
        self.handle = device_handle(device)
        self.pid = os.getpid()
        self.at_reset: float | None = None

    def reset(self) -> None:
        self.at_reset = device_used_mib(self.handle) if self.handle is not None else None

    def read(self) -> MemoryReading:
        if self.handle is None:
            return MemoryReading(None, None)
        process = process_used_mib(self.handle, self.pid)
        device = device_used_mib(self.handle) if process is None else None
        return choose_reading(process, device, self.at_reset)

    def utilisation(self) -> int | None:
        return utilisation_pct(self.handle) if self.handle is not None else None
