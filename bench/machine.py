"""What every figure needs beside it: GPU, driver, CUDA, library versions, CPU, RAM."""

from __future__ import annotations

import platform
import socket
from importlib import metadata
from typing import Any

import psutil
import torch

SCHEMA = 1
_PACKAGES = ("torch", "diffusers", "transformers", "onnxruntime", "onnxruntime-gpu", "tensorrt", "diffbench")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
        "ram_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
        "gpu": gpu,
        "gpu_driver": gpu_driver() if gpu else None,
        "cuda": torch.version.cuda,
        "versions": {package: _version(package) for package in _PACKAGES},
    }
