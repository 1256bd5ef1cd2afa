"""What one generation does: resolution, steps, guidance, batch, scheduler, prompt, seed."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from bench.errors import BenchError
from reports.record import DEFAULT_PROMPT, workload_label

SCHEDULERS = ("euler", "ddim", "dpm++2m", "pndm", "default")


@dataclass(frozen=True)
class Workload:
    width: int = 64
    height: int = 64
    steps: int = 4
    guidance: float = 7.5
    batch: int = 1
    scheduler: str = "euler"
    prompt: str = DEFAULT_PROMPT
    seed: int = 0

    @property
    def label(self) -> str:
        """Canonical text, the report's `workload` column (reports/record.py spells it)."""
        return workload_label(
            self.width,
            self.height,
            self.steps,
            self.guidance,
            self.batch,
            self.scheduler,
            self.seed,
            self.prompt,
        )

    @property
    def test_id(self) -> str:
        return self.label.replace("/", "-")

    def detail(self) -> dict[str, Any]:
        return asdict(self)


def parse_resolution(text: str) -> tuple[int, int]:
    """`512` (square) or `768x512` (width x height), multiples of 8."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", str(text))
    if not match:
        raise BenchError(f"--resolution {text!r} is not WIDTH or WIDTHxHEIGHT, e.g. 512 or 768x512")
    width = int(match.group(1))
    height = int(match.group(2) or width)
    for side in (width, height):
        if side < 8 or side % 8:
            raise BenchError(f"--resolution {text!r}: sides must be positive multiples of 8")
    return width, height


def positive_int(option: str, text: str | int) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise BenchError(f"{option} {text!r} is not an integer; give a positive whole number") from None
    if value < 1:
        raise BenchError(f"{option} {value} must be at least 1")
    return value


def make_workload(
    resolution: str,
    steps: str | int,
    batch: str | int,
    guidance: str | float,
    scheduler: str,
    prompt: str,
    seed: int,
) -> Workload:
    width, height = parse_resolution(resolution)
    if scheduler not in SCHEDULERS:
        raise BenchError(f"--scheduler {scheduler!r} is unknown; accepted: {', '.join(SCHEDULERS)}")
    try:
        guidance_value = float(guidance)
    except (TypeError, ValueError):
        raise BenchError(f"--guidance {guidance!r} is not a number, e.g. 7.5") from None
    if guidance_value < 0:
        raise BenchError(f"--guidance {guidance_value} must be 0 or more")
    return Workload(
        width=width,
        height=height,
        steps=positive_int("--steps", steps),
        guidance=guidance_value,
        batch=positive_int("--batch", batch),
        scheduler=scheduler,
        prompt=prompt,
        seed=int(seed),
    )
