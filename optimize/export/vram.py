"""How an exported variant's GPU memory is seen and capped: the hook a row's VRAM fields read.

torch's allocator sees only what torch allocates. TensorRT engines here allocate through it
(tensorrt_engine.py), so their peaks are torch's and an emulated profile's cap
(torch.cuda.set_per_process_memory_fraction) holds for them. ONNX Runtime's CUDA provider has
its own arena: torch sees none of it, so its figure must come from NVML (the device's used
memory during the run, less before), and its cap is ORT's `gpu_mem_limit`, which bounds each
session's arena only (three sessions, plus cuDNN/cuBLAS workspaces outside any arena): the
row says it is not capped, and why, rather than claiming it fits a profile.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from optimize.export.modules import exported_components

TORCH_ALLOCATOR = "torch-allocator"
NVML_DEVICE_DELTA = "nvml-device-delta"
HOST = "host"  # a CPU run: no VRAM to speak of

ORT_GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def gpu_memory_cap(device: torch.device) -> int | None:
    """Bytes torch may allocate on `device` when an emulated profile capped it, else None."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    fraction = torch.cuda.get_per_process_memory_fraction(device)
    if fraction >= 1.0:
        return None
    return int(torch.cuda.get_device_properties(device).total_memory * fraction)


def vram_accounting(providers: Iterable[str], device_type: str, cap: int | None) -> dict[str, Any]:
    """Row fields for the components' runtimes (`TensorRT`, ORT provider names, `torch`):
    vram_source (where the peak must be read), vram_capped and vram_cap_note (why not)."""
    providers = set(providers)
    if device_type != "cuda":
        return {"vram_source": HOST, "vram_capped": False, "vram_cap_note": "runs on the CPU"}
    outside = sorted(providers & set(ORT_GPU_PROVIDERS))
    if outside:
        limit = f"gpu_mem_limit={cap / (1 << 20):.0f} MiB per session" if cap else "no gpu_mem_limit set"
        return {
            "vram_source": NVML_DEVICE_DELTA,
            "vram_capped": False,
            "vram_cap_note": (
                f"ONNX Runtime ({', '.join(outside)}) allocates outside torch: {limit}, which bounds each "
                "session's arena only (cuDNN/cuBLAS workspaces and the other sessions are outside it); "
                "read the peak from NVML's device delta"
            ),
        }
    capped = cap is not None
    note = "" if capped else "no profile cap on this device"
    return {"vram_source": TORCH_ALLOCATOR, "vram_capped": capped, "vram_cap_note": note}


def pipeline_vram_accounting(pipeline: Any, device: torch.device) -> dict[str, Any]:
    """vram_accounting for a built pipeline: its exported components' runtimes, torch for the rest."""
    parts = exported_components(pipeline)
    providers = [part.provider for part in parts.values()] or ["torch"]
    return vram_accounting(providers, device.type, gpu_memory_cap(device))
