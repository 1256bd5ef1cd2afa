"""In-process checks of the device itself: bf16 by compute capability, NVML reading this GPU."""

from __future__ import annotations

import torch

from bench.gpu_checks.base import CheckContext, Outcome, check, failed, passed, skipped
from bench.instruments.nvml import device_handle, nvml
from optimize import parse_recipe


@check("bf16-capability", "bf16 allowed exactly when the device's compute capability is 8.0+", 30)
def bf16_capability(context: CheckContext) -> Outcome:
    major, minor = torch.cuda.get_device_capability(context.device)
    reason = parse_recipe("bf16").unsupported_reason(context.device)
    found = {
        "capability": f"{major}.{minor}",
        "emulated_bf16_per_torch": torch.cuda.is_bf16_supported(including_emulation=True),
    }
    if ((major, minor) >= (8, 0)) != (reason is None):
        verdict = "refused" if reason else "allowed"
        return failed(f"bf16 {verdict} on compute capability {major}.{minor}", **found)
    return passed(reason or f"bf16 allowed on {major}.{minor}", **found)


@check("nvml-device", "NVML reads the GPU torch uses (by UUID, CUDA_VISIBLE_DEVICES respected)", 30)
def nvml_device(context: CheckContext) -> Outcome:
    pynvml = nvml()
    if pynvml is None:
        return skipped("NVML unavailable (nvidia-ml-py not installed, or no driver library)")
    handle = device_handle(context.device)
    uuid = str(torch.cuda.get_device_properties(context.device).uuid)
    found = {"torch_uuid": uuid}
    if handle is None:
        return failed("no NVML device has this device's UUID or PCI bus id", **found)
    nvml_uuid = pynvml.nvmlDeviceGetUUID(handle)
    found["nvml_uuid"] = nvml_uuid
    if not str(nvml_uuid).lower().endswith(uuid.lower()):
        return failed("NVML's device is not torch's", **found)
    return passed("NVML's handle is torch's device", **found)
