"""`--device` text -> torch.device, refusing devices this machine doesn't have."""

from __future__ import annotations

import re

import torch

from bench.errors import BenchError

ACCEPTED = "auto, cpu, cuda, cuda:N"


def resolve_device(text: str) -> torch.device:
    text = text.strip().lower()
    if text == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not match:
        raise BenchError(f"--device {text!r} is unknown; accepted: {ACCEPTED}")
    if not torch.cuda.is_available():
        raise BenchError(f"--device {text!r}: no CUDA device is visible on this machine; use --device cpu")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise BenchError(f"--device {text!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    return torch.device("cuda", index)
