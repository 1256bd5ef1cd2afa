"""What every figure needs beside it: GPU, driver, CUDA, library versions, CPU, RAM."""

from __future__ import annotations

import os
import socket
from importlib import metadata
from typing import Any

import psutil
import torch

from bench.profiles.detect import cpu_name
from optimize.cpu_features import host_flags
from reports.record import SCHEMA

_PACKAGES = ("torch", "diffusers", "transformers", "onnxruntime", "onnxruntime-gpu", "tensorrt", "diffbench")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# The CPU features that decide which recipe is fastest on a CPU: bf16 beats fp32 3x with AMX and
# loses 10x on an AVX2-only CPU (docs/results/2026-11-21 vs 2026-12-01 pages, two different VMs).
_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """Which of the flags above the CPU has (empty where /proc/cpuinfo can't be read)."""
    present = host_flags(cpuinfo)
    return [flag for flag in _CPU_FLAGS if flag in present]


def cpu_capability() -> str | None:
    """torch's CPU kernel level (`AVX2`, `AVX512`, ...)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return None


def gpu_driver() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        driver = pynvml.nvmlSystemGetDriverVersion()
        return driver.decode() if isinstance(driver, bytes) else str(driver)
    except Exception:  # NVML absent or unusable: the driver is simply unknown.
        return None


def machine_info() -> dict[str, Any]:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    hostname = socket.gethostname()
    return {
        "schema": SCHEMA,
        "machine": f"{hostname}/{cpu_name()}/{gpu or 'no-gpu'}",
        "hostname": hostname,
        "cpu": cpu_name(),
        "cpu_cores": psutil.cpu_count(logical=True),
        "cpu_flags": cpu_flags(),
        "cpu_capability": cpu_capability(),
        # Two threads on a loaded 2-core machine made small models tens of times slower.
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "ram_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
        "gpu": gpu,
        "gpu_driver": gpu_driver() if gpu else None,
        "cuda": torch.version.cuda,
        "versions": {package: _version(package) for package in _PACKAGES},
    }
