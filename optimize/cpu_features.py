"""What the CPU can do natively: the flags that decide int8 and half-precision recipes on a CPU.

Every decision is a pure function of a flag set (as /proc/cpuinfo spells the flags) and the
architecture, so a test can ask what an AVX2-only EPYC would get without one.

- int8 (ONNX Runtime's u8s8 kernels, uint8 activations x int8 weights): with VNNI (AVX512-VNNI,
  AVX-VNNI) or AMX the products accumulate straight into int32. Without it, x86 kernels use
  VPMADDUBSW, which adds two u8 x s8 products into a *saturating int16*: 2 x 255 x 127 = 64,770
  overflows 32,767, so full-range weights saturate. Quantising weights to 7 bits
  (`reduce_range`) keeps the pair within 2 x 255 x 64 = 32,640 (ONNX Runtime's quantisation docs:
  "reduce_range ... may improve the accuracy for some models running on non-VNNI machine").
- bf16 and fp16: PyTorch's CPU kernels run them natively with AVX512-BF16/AMX-BF16 and
  AVX512-FP16/AMX-FP16; elsewhere every op converts to fp32 and back (several times slower
  than fp32 itself).
"""

from __future__ import annotations

import platform
from collections.abc import Iterable

import torch

from optimize.cpu_flags import BF16_FLAGS, FP16_FLAGS, host_flags

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
NATIVE_FLAGS: dict[torch.dtype, tuple[str, ...]] = {torch.bfloat16: BF16_FLAGS, torch.float16: FP16_FLAGS}
X86 = ("x86_64", "amd64", "i386", "i686")


def host_arch() -> str:
    return platform.machine().lower()


def is_x86(arch: str) -> bool:
    return arch.lower() in X86


def has_vnni(flags: Iterable[str]) -> bool:
    return not set(flags).isdisjoint(VNNI_FLAGS)


def reduce_range_for(
    device: torch.device, flags: Iterable[str] | None = None, arch: str | None = None
) -> bool:
    """Whether ONNX Runtime int8 weights built for `device` must be 7-bit (see the docstring).

    CUDA (and TensorRT) kernels accumulate in int32 and want the full int8 range; so do x86
    CPUs with VNNI/AMX, and ARM (its int8 dot products accumulate in int32). An x86 CPU whose
    flags are unknown gets 7 bits: one bit of weight precision lost, never saturation."""
    if device.type != "cpu":
        return False
    flags = host_flags() if flags is None else flags
    arch = host_arch() if arch is None else arch
    return is_x86(arch) and not has_vnni(flags)


def int8_basis(
    reduce_range: bool, device: torch.device, flags: Iterable[str] | None = None, arch: str | None = None
) -> str:
    """One line for the manifest: why the weights are (or are not) 7-bit for this device."""
    if device.type != "cpu":
        return f"full-range weights: {device.type} int8 kernels accumulate in int32"
    flags = host_flags() if flags is None else frozenset(flags)
    arch = host_arch() if arch is None else arch
    if reduce_range:
        return f"7-bit weights: {arch} CPU without VNNI ({'/'.join(VNNI_FLAGS)}), u8s8 would saturate int16"
    present = [flag for flag in VNNI_FLAGS if flag in flags]
    if present:
        return f"full-range weights: the CPU has {', '.join(present)} (int32 accumulation)"
    return f"full-range weights: {arch} int8 dot products accumulate in int32"


def emulated_dtype_note(
    dtype: torch.dtype, device: torch.device, flags: Iterable[str] | None = None
) -> str | None:
    """Why a CPU runs `dtype` by conversion to fp32 (slow), or None when it runs natively."""
    wanted = NATIVE_FLAGS.get(dtype)
    if device.type != "cpu" or wanted is None:
        return None
    flags = host_flags() if flags is None else frozenset(flags)
    if not flags or not flags.isdisjoint(wanted):
        return None  # native, or flags unknown (no /proc/cpuinfo): claim nothing
    name = str(dtype).removeprefix("torch.").replace("bfloat16", "bf16").replace("float16", "fp16")
    return f"the CPU emulates {name} (no {'/'.join(wanted)}): converted to fp32 per op, slower than fp32"
