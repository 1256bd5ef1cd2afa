"""Device memory while a local web UI works, from NVML, sampled in a background thread.

The web UI is another process (a black box), so torch's allocator counters cannot see it;
NVML's device-wide "memory used" can, when the server runs on this machine. Everything else
on the GPU counts too, so the figure before the load (`idle_mib`) is kept beside the peak.
A remote server, or no NVML (nvidia-ml-py absent, no driver), gives null with the reason.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any

from bench.instruments.nvml import MIB, nvml

INTERVAL_S = 0.01


def is_local(host: str) -> bool:
    """The host is this machine: a loopback name or address, or this host's own name."""
    if host in ("localhost", socket.gethostname()):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _device_used_mib(pynvml: Any) -> float:
    """Memory used on every GPU of this machine together, MiB: the server may use any of them
    (its CUDA_VISIBLE_DEVICES is not ours), so NVML's whole-machine list is the honest scope."""
    count = pynvml.nvmlDeviceGetCount()
    handles = [pynvml.nvmlDeviceGetHandleByIndex(index) for index in range(count)]
    return sum(pynvml.nvmlDeviceGetMemoryInfo(handle).used for handle in handles) / MIB


class DeviceMemorySampler:
    """Peak NVML device memory used while the block runs; `peak_mib` None and `note` says why not."""

    def __init__(self, host: str, interval: float = INTERVAL_S) -> None:
        self.interval = interval
        self.idle_mib: float | None = None
        self.peak_mib: float | None = None
        self.note = ""
        self._pynvml: Any | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if not is_local(host):
            self.note = (
                f"not measured: the server {host!r} is not on this machine (NVML sees local GPUs only)"
            )
            return
        pynvml = nvml()
        if pynvml is None:
            self.note = "not measured: NVML unavailable (nvidia-ml-py not installed, or no NVIDIA driver)"
            return
        try:
            if pynvml.nvmlDeviceGetCount() == 0:
                self.note = "not measured: NVML sees no GPU"
                return
        except pynvml.NVMLError as error:
            self.note = f"not measured: NVML error {error}"
            return
        self._pynvml = pynvml
        self.note = (
            "NVML device memory used, all processes on all GPUs of this machine (idle figure beside it)"
        )

    def _sample(self) -> None:
        assert self._pynvml is not None
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib or 0.0, _device_used_mib(self._pynvml))
            self._stop.wait(self.interval)

    def __enter__(self) -> DeviceMemorySampler:
        if self._pynvml is not None:
            self.idle_mib = _device_used_mib(self._pynvml)
            self.peak_mib = self.idle_mib
            self._thread = threading.Thread(target=self._sample, name="webui-vram", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            assert self._pynvml is not None
            self.peak_mib = max(self.peak_mib or 0.0, _device_used_mib(self._pynvml))
