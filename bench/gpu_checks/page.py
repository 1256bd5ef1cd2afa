"""The GPU check's results page: the machine, each check's status, reason and figures, the tolerances."""

from __future__ import annotations

import os
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from bench.gpu_checks.base import Check, Outcome
from bench.machine import cpu_name, gpu_driver

PACKAGES = (
    "torch",
    "diffusers",
    "onnxruntime",
    "onnxruntime-gpu",
    "tensorrt",
    "bitsandbytes",
    "nvidia-ml-py",
    "zeus",
)
TOLERANCES = """\
- VRAM (sd15-vram): allocated <= reserved <= 1.3 x allocated + 512 MiB; where NVML lists this
  process, reserved <= NVML <= reserved + 2048 MiB (the CUDA context and library workspaces);
  fp16 and bf16 peak allocated at most 0.65 x fp32's.
- Timing (sd15-dtypes): text encoder + steps x median step + VAE decode, each synchronised,
  within 15% of the synchronised whole call.
- Exports (ort-cuda, tensorrt): the provider the sessions really got, and PSNR against the
  fp32 torch image of at least 20 dB (tiny-sd, random weights).
- compile: first call at most 3 x the timed call + 0.5 s (a recompilation takes seconds).
- Energy (energy-counter, energy-row): NVML's counter through Zeus advances over 3 s of tiny-sd
  generations, at a mean of 5-1500 W; per-round windows hold 50-105% of one window around them;
  the sd15 fp32 row has energy_j > 0 from a GPU counter and images_per_kwh = batch x 3.6e6 / energy_j.
"""


def default_output(today: date | None = None) -> Path:
    return Path("docs/results") / f"{(today or date.today()).isoformat()}-gpu-check.md"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def machine_lines(device: torch.device | None) -> list[str]:
    lines = [f"- CPU: {cpu_name()}"]
    if device is None:
        lines.append("- GPU: none visible to torch (torch.cuda.is_available() is False)")
    else:
        properties = torch.cuda.get_device_properties(device)
        lines += [
            f"- GPU: {properties.name} ({device}), compute capability {properties.major}.{properties.minor}, "
            f"{properties.total_memory / (1 << 30):.1f} GiB",
            f"- driver {gpu_driver() or 'unknown'}, CUDA (torch build) {torch.version.cuda}",
            f"- CUDA_VISIBLE_DEVICES: {os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}",
        ]
    lines.append("- versions: " + ", ".join(f"{p} {_version(p)}" for p in PACKAGES))
    return lines


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _figures(figures: dict[str, Any]) -> str:
    return "; ".join(f"{key}={value}" for key, value in figures.items()) or "-"


def render(
    results: list[tuple[Check, Outcome, float]],
    device: torch.device | None,
    command: str,
    seconds: float,
    budget_s: float,
) -> str:
    counts = {status: sum(o.status == status for _, o, _ in results) for status in ("PASS", "FAIL", "SKIP")}
    lines = [
        f"# GPU check, {date.today().isoformat()}",
        "",
        f"Command: `{command}`",
        "",
        *machine_lines(device),
        "",
        f"Result: {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP "
        f"in {seconds:.0f} s (budget {budget_s:.0f} s).",
        "",
        "| check | what | status | reason | figures | s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for check, outcome, taken in results:
        cells = (check.name, check.summary, outcome.status, outcome.reason, _figures(outcome.figures))
        lines.append("| " + " | ".join(_cell(c) for c in cells) + f" | {taken:.0f} |")
    lines += ["", "Tolerances:", "", TOLERANCES]
    return "\n".join(lines)


def write_page(text: str, output: Path) -> None:
    """Atomically: a reader never sees half a page."""
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, output)
