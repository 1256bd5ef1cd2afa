"""Reading a clock only after the device has finished the queued work."""

from __future__ import annotations

import time

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synced_now(device: torch.device) -> float:
    synchronize(device)
    return time.perf_counter()
