"""The hardware profiles: what a class of card can hold and how fast it can go, from datasheets.

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


_TECHPOWERUP = "TechPowerUp GPU database"

BUILTIN: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="gtx1650",
            description="GeForce GTX 1650 (Turing TU117), 4 GB GDDR5",
            kind="gpu",
            vram_mib=4 * MIB_PER_GIB,
            bandwidth_gbs=128.0,  # GDDR5; the GDDR6 variant has 192 GB/s
            fp32_tflops=2.98,
            # No tensor cores: fp16 with fp32 accumulation runs on the fp32 FMA units.
            fp16_tflops=2.98,
            fp16_acc16_tflops=5.97,
            bf16_tflops=None,
            int8_tops=11.9,  # DP4A, 4x the fp32 rate
            tensor_cores=False,
            compute_capability=(7, 5),
            known_issues=(FP16_NAN_ISSUE, "no bf16 (Turing)"),
            references=(
                "NVIDIA GeForce GTX 1650 specifications: 896 CUDA cores, 1665 MHz boost, 4 GB GDDR5, 128-bit",
                f"{_TECHPOWERUP}: TU117, FP32 2.984 TFLOPS, FP16 5.967 TFLOPS (2:1), 128.1 GB/s",
            ),
        ),
        Profile(
            name="rtx3050-laptop",
            description="GeForce RTX 3050 Laptop GPU (Ampere GA107), 4 GB GDDR6, 80 W boost clock",
            kind="gpu",
            vram_mib=4 * MIB_PER_GIB,
            # 128-bit GDDR6 at 12 Gbps = 192 GB/s (some laptops ship 14 Gbps, 224 GB/s).
            bandwidth_gbs=192.0,
            # Derived: 16 SMs x 128 FP32 lanes x 2 x 1.74 GHz (the top 80 W TGP boost clock;
            # 35 W parts boost to ~1.06 GHz, so a thin laptop can be ~40% slower).
            fp32_tflops=7.13,
            # GA10x tensor cores: 512 dense fp16 FLOP/clk/SM with fp32 accumulation
            # (1024 with fp16 accumulation), as on the RTX 3080 datasheet (119 / 59.5 TF at 68 SMs).
            fp16_tflops=14.3,
            fp16_acc16_tflops=28.5,
            bf16_tflops=14.3,
            int8_tops=57.0,
            tensor_cores=True,
            compute_capability=(8, 6),
            known_issues=("clock and power vary by laptop (35-80 W TGP): expect up to ~40% slower",),
            references=(
                "notebookcheck: GA107, 2048 shaders, boost 1058-1740 MHz for 35-80 W TGP",
                "technical.city: GA107, 2048 CUDA cores, 4 GB GDDR6",
            ),
        ),
        Profile(
            name="rtx3050",
            description="GeForce RTX 3050 (Ampere GA106), 8 GB GDDR6 desktop",
            kind="gpu",
            vram_mib=8 * MIB_PER_GIB,
            bandwidth_gbs=224.0,
            fp32_tflops=9.1,
            fp16_tflops=18.2,
            fp16_acc16_tflops=36.4,
            bf16_tflops=18.2,
            int8_tops=72.8,
            tensor_cores=True,
            compute_capability=(8, 6),
            references=(
                "NVIDIA GeForce RTX 3050 specifications: 2560 CUDA cores, 1777 MHz boost, 8 GB GDDR6",
                f"{_TECHPOWERUP}: GA106, FP32 9.098 TFLOPS, 224.0 GB/s",
                "NVIDIA Ampere GA102 GPU Architecture whitepaper: GA10x tensor cores, 512 dense fp16 "
                "FLOP/clk/SM with fp32 accumulation (1024 with fp16), applied to 20 SMs at 1777 MHz",
            ),
        ),
        Profile(
            name="rtx3080",
            description="GeForce RTX 3080 (Ampere GA102), 10 GB GDDR6X",
            kind="gpu",
            vram_mib=10 * MIB_PER_GIB,
            bandwidth_gbs=760.0,
            fp32_tflops=29.8,
            fp16_tflops=59.5,
            fp16_acc16_tflops=119.0,
            bf16_tflops=59.5,
            int8_tops=238.0,
            tensor_cores=True,
            compute_capability=(8, 6),
            references=(
                "NVIDIA Ampere GA102 GPU Architecture whitepaper, appendix A (GeForce RTX 3080): 29.8 TFLOPS "
                "FP32, 119 / 59.5 TFLOPS fp16 tensor (fp16 / fp32 accumulate), 238 TOPS int8, 760 GB/s",
            ),
        ),
        Profile(
            name="rtx3080-12",
            description="GeForce RTX 3080 12 GB (Ampere GA102, 70 SMs), 12 GB GDDR6X",
            kind="gpu",
            vram_mib=12 * MIB_PER_GIB,
            bandwidth_gbs=912.0,  # 384-bit at 19 Gbps
            # Derived: 70 SMs x 128 x 2 x 1.71 GHz; tensor rates scale the 3080's by 70/68 SMs.
            fp32_tflops=30.6,
            fp16_tflops=61.3,
            fp16_acc16_tflops=122.6,
            bf16_tflops=61.3,
            int8_tops=245.0,
            tensor_cores=True,
            compute_capability=(8, 6),
            references=("TechPowerUp: 8960 shaders, boost 1710 MHz, 384-bit 19 Gbps",),
        ),
    )
}

GPU_CLASSES: tuple[str, ...] = tuple(BUILTIN)
SPECIAL = ("cpu", "host")
