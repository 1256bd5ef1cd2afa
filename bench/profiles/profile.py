"""A hardware profile: what a class of card can hold and how fast it can go.

Rates are dense peaks at the boost clock. `fp16_tflops` and `bf16_tflops` are the rates of
matrix work with fp32 accumulation, which is what PyTorch's fp16/bf16 matmuls and convolutions
use (cuBLAS and cuDNN are called with fp32 compute for fp16/bf16 inputs unless reduced-precision
reduction is allowed): on Ampere the fp32-accumulate tensor-core rate, on a GTX 16xx (no tensor
cores) the fp32 FMA rate. The fp16-accumulate rate is kept apart (`fp16_acc16_tflops`) for
reference only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

MIB_PER_GIB = 1024

# The fraction of the datasheet peak that eager PyTorch reaches, for both arithmetic and memory
# traffic, before any calibration. Chosen a priori (cuDNN/cuBLAS kernels on these cards
# typically reach 40-70% of peak; elementwise kernels 60-80% of bandwidth) and never tuned to
# the community figures we compare against (docs/results/). Calibrate it per profile from a
# measured run (`python -m bench.profiles calibrate`).
DEFAULT_EFFICIENCY = 0.5

# Host time to issue one kernel in eager PyTorch: the op's dispatch in the framework plus
# cudaLaunchKernel, commonly quoted at 5-10 us per op on a desktop CPU (the launch call alone is
# 2-5 us; CUDA Graphs exist to remove exactly this cost). A GPU cannot finish a step faster than
# the host issues its kernels, so a small model on a fast card is bound by this, not by the
# datasheet. A priori like DEFAULT_EFFICIENCY; calibrate it per profile from a measured run of
# a launch-bound model (`python -m bench.profiles calibrate`) or set `launch_us`.
DEFAULT_LAUNCH_US = 8.0

# VRAM a process cannot give to tensors: the CUDA context, cuBLAS/cuDNN handles and, on a
# desktop card, what the display holds. 500 MiB is a typical figure for a PyTorch process on
# Turing/Ampere (the context alone is 300-400 MiB); a user profile can override it.
DEFAULT_RESERVED_MIB = 500.0

FP16_NAN_ISSUE = (
    "GTX 16xx cards are known to give NaN / black images in fp16 (run fp32, or fp16 with an fp32 VAE)"
)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    kind: str  # "gpu" or "cpu"
    vram_mib: float | None
    bandwidth_gbs: float | None
    fp32_tflops: float | None
    fp16_tflops: float | None  # matrix rate, fp32 accumulation (what PyTorch uses)
    bf16_tflops: float | None  # None: the card has no bf16
    int8_tops: float | None
    tensor_cores: bool
    compute_capability: tuple[int, int] | None
    fp16_acc16_tflops: float | None = None
    known_issues: tuple[str, ...] = ()
    efficiency: float = DEFAULT_EFFICIENCY
    efficiency_source: str = "default, uncalibrated"
    launch_us: float = DEFAULT_LAUNCH_US  # host time to issue one kernel (see DEFAULT_LAUNCH_US)
    launch_source: str = "default, uncalibrated"
    reserved_mib: float = DEFAULT_RESERVED_MIB
    source: str = "built-in"
    references: tuple[str, ...] = field(default=(), compare=False)

    @property
    def bf16(self) -> bool:
        return self.bf16_tflops is not None

    @property
    def fp16_nan_risk(self) -> bool:
        return FP16_NAN_ISSUE in self.known_issues

    @property
    def usable_mib(self) -> float | None:
        """Memory left for weights and activations once the context is loaded."""
        if self.vram_mib is None:
            return None
        return max(self.vram_mib - self.reserved_mib, 0.0)

    @property
    def has_rates(self) -> bool:
        return self.bandwidth_gbs is not None and self.fp32_tflops is not None

    def matrix_tflops(self, dtype: str) -> float | None:
        """Peak matrix rate for a compute dtype (`float32`, `float16`, `bfloat16`, `int8`)."""
        return {
            "float32": self.fp32_tflops,
            "float16": self.fp16_tflops,
            "bfloat16": self.bf16_tflops,
            "int8": self.int8_tops,
        }.get(dtype, self.fp32_tflops)

    def unsupported_reason(self, dtype: str) -> str | None:
        """Why this card cannot run a compute dtype, or None."""
        if dtype == "bfloat16" and self.kind == "gpu" and not self.bf16:
            capability = self.capability_text
            return (
                f"{self.name} ({capability}) has no bf16: it needs compute capability 8.0+ (Ampere or newer)"
            )
        return None

    def dtype_warning(self, dtype: str) -> str | None:
        if dtype == "float16" and self.fp16_nan_risk:
            return FP16_NAN_ISSUE
        return None

    @property
    def capability_text(self) -> str:
        if self.compute_capability is None:
            return "no compute capability"
        major, minor = self.compute_capability
        return f"sm_{major}{minor}"

    def with_efficiency(self, efficiency: float, source: str) -> Profile:
        return replace(self, efficiency=efficiency, efficiency_source=source)

    def with_launch(self, launch_us: float, source: str) -> Profile:
        return replace(self, launch_us=launch_us, launch_source=source)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "vram_mib": self.vram_mib,
            "bandwidth_gbs": self.bandwidth_gbs,
            "fp32_tflops": self.fp32_tflops,
            "fp16_tflops": self.fp16_tflops,
            "bf16_tflops": self.bf16_tflops,
            "int8_tops": self.int8_tops,
            "tensor_cores": self.tensor_cores,
            "compute_capability": self.capability_text if self.compute_capability else None,
            "efficiency": self.efficiency,
            "launch_us": self.launch_us,
            "source": self.source,
        }
