"""A check's result, the registry, and what every check gets: the device, a time budget, runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

Status = Literal["PASS", "FAIL", "SKIP"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


def passed(reason: str, **figures: Any) -> Outcome:
    return Outcome("PASS", reason, figures)


def failed(reason: str, **figures: Any) -> Outcome:
    return Outcome("FAIL", reason, figures)


def skipped(reason: str, **figures: Any) -> Outcome:
    return Outcome("SKIP", reason, figures)


@dataclass
class CheckContext:
    """`device` is None where no CUDA device is visible; `deadline` is time.monotonic() seconds."""

    device: torch.device | None
    work: Path  # scratch: suite storage and a fresh variant cache, so every path really builds
    deadline: float
    no_cuda_reason: str = ""
    logs: Path | None = None  # where each suite run's output is kept (--logs); None: not kept
    runs: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()


@dataclass(frozen=True)
class Check:
    name: str
    summary: str
    timeout_s: float  # the most this check may take; less is left to it when the budget runs low
    run: Callable[[CheckContext], Outcome]


CHECKS: list[Check] = []


def check(name: str, summary: str, timeout_s: float) -> Callable[[Callable[[CheckContext], Outcome]], Any]:
    def register(function: Callable[[CheckContext], Outcome]) -> Callable[[CheckContext], Outcome]:
        CHECKS.append(Check(name, summary, timeout_s, function))
        return function

    return register
