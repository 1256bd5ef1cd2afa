"""The machine's own device, described, and the profile class it belongs to."""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from bench.profiles.table import BUILTIN, Profile
from optimize.cpu_flags import BF16_FLAGS, host_flags

if TYPE_CHECKING:
    import torch

MIB = 1 << 20


@dataclass(frozen=True)
class DeviceDescription:
    """What detection and the emulation rules need to know about a device; easy to fake in tests."""

    kind: str  # "cpu" or "cuda"
    name: str
    memory_mib: float | None
    compute_capability: tuple[int, int] | None = None


# Device nodes a CUDA (or ROCm) driver creates; with none of them torch can see no GPU either.
_GPU_DRIVER_NODES = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/kfd")


def no_gpu_driver() -> bool:
    """True when this machine certainly has no CUDA device: detection needs no torch (seconds to import)."""
    return not any(Path(node).exists() for node in _GPU_DRIVER_NODES)


# Flags with which PyTorch's CPU kernels run bf16 natively (optimize.cpu_features.NATIVE_FLAGS).
CPU_BF16_FLAGS = BF16_FLAGS


def _cpuinfo_value(key: str) -> str | None:
    """The value of the first /proc/cpuinfo line starting with `key`; None where unreadable."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    return _cpuinfo_value("model name") or platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str]:
    """The CPU's flags (x86 `flags`, aarch64 `Features`), read without torch (optimize/cpu_flags.py)."""
    return host_flags()


def describe_cpu() -> DeviceDescription:
    return DeviceDescription(kind="cpu", name=cpu_name(), memory_mib=psutil.virtual_memory().total / MIB)


def describe_device(device: torch.device) -> DeviceDescription:
    if device.type == "cuda":
        import torch

        properties = torch.cuda.get_device_properties(device)
        return DeviceDescription(
            kind="cuda",
            name=properties.name,
            memory_mib=properties.total_memory / MIB,
            compute_capability=(properties.major, properties.minor),
        )
    return describe_cpu()


def detect_class(device: DeviceDescription) -> str:
    """The built-in class a device belongs to: a class name, `cpu`, or `host` (no class fits)."""
    if device.kind == "cpu":
        return "cpu"
    name = device.name.upper()
    memory_gib = (device.memory_mib or 0.0) / 1024
    if re.search(r"GTX\s*1650", name):
        return "gtx1650"
    if re.search(r"RTX\s*3050", name) and not re.search(r"3050\s*TI", name):
        # The 4 GB laptop GA107 part, or the 8 GB desktop card (6 GB variants fit neither).
        if memory_gib < 4.5:
            return "rtx3050-laptop"
        laptop = "LAPTOP" in name or "MOBILE" in name
        return "rtx3050" if memory_gib > 7 and not laptop else "host"
    if re.search(r"RTX\s*3080", name) and not re.search(r"3080\s*TI|LAPTOP|MOBILE", name):
        return "rtx3080-12" if memory_gib > 11 else "rtx3080"
    return "host"


def cpu_profile(device: DeviceDescription, flags: Iterable[str] | None = None) -> Profile:
    """The CPU as a profile: its RAM is the memory budget; no datasheet rates (its latency is measured).

    `flags`: the CPU's (default: this machine's). With native bf16 the profile says bf16 is
    supported at an unknown rate (NaN, as `host_profile` does); no rate means no projection either way."""
    native_bf16 = not set(cpu_flags() if flags is None else flags).isdisjoint(CPU_BF16_FLAGS)
    return Profile(
        name="cpu",
        description=device.name if device.kind == "cpu" else "the host CPU",
        kind="cpu",
        vram_mib=device.memory_mib if device.kind == "cpu" else psutil.virtual_memory().total / MIB,
        bandwidth_gbs=None,
        fp32_tflops=None,
        fp16_tflops=None,
        bf16_tflops=float("nan") if native_bf16 else None,
        int8_tops=None,
        tensor_cores=False,
        compute_capability=None,
        reserved_mib=0.0,
        source="detected",
    )


def host_profile(device: DeviceDescription) -> Profile:
    """The host's own GPU as a profile: its memory and capability are known, its rates are not."""
    if device.kind == "cpu":
        return cpu_profile(device)
    capability = device.compute_capability
    bf16 = capability is not None and capability >= (8, 0)
    return Profile(
        name="host",
        description=device.name,
        kind="gpu",
        vram_mib=device.memory_mib,
        bandwidth_gbs=None,
        fp32_tflops=None,
        fp16_tflops=None,
        # Unknown rate, but the capability is known: NaN marks "supported, rate unknown".
        bf16_tflops=float("nan") if bf16 else None,
        int8_tops=None,
        tensor_cores=capability is not None and capability >= (7, 0),
        compute_capability=capability,
        source="detected",
    )


def detected_profile(device: DeviceDescription) -> Profile:
    name = detect_class(device)
    if name == "cpu":
        return cpu_profile(device)
    if name == "host":
        return host_profile(device)
    return BUILTIN[name]
