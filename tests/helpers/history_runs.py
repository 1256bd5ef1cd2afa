"""A synthetic line of CI runs for the history page (issue 20 item 1): N runs of a few variants,
each figure drifting by a seeded log-normal noise, and one figure of one variant stepping up at
a chosen run. Used by tests/reports/test_history_page.py and tools/history_page_scale.py, so the
page measured there is the page the tests check."""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import CompletedProcess

from helpers.reports_runs import row, run_doc

MACHINE = "ci-runner/AMD EPYC 7B13/no-gpu"
FOLDER = "Linux-CPython-3.11-64bit"
START = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)  # after the last saved run of docs/results
BASE = {"fp32": 1.0, "bf16": 0.6, "int8": 0.8}  # median seconds per generation of each variant


@dataclass(frozen=True)
class Line:
    runs: int = 20
    step_run: int | None = 12  # the first run (1-based) at the new level; None: no step
    step: float = 0.15  # the relative change of the stepping figure
    variant: str = "bf16"  # the variant whose figure steps
    figure: str = "median"  # which: "median" (latency) or an extra_info field
    noise: float = 0.02  # log-normal sigma of each figure per run
    variants: tuple[str, ...] = ("fp32", "bf16", "int8")
    seed: int = 0
    name: str = "main"


def commit(number: int) -> str:
    return hashlib.sha1(f"synthetic commit {number}".encode()).hexdigest()


def write_line(storage: Path, line: Line) -> list[Path]:
    """``storage/FOLDER/NNNN_<name>.json`` for runs 1..N, an hour apart; their paths."""
    rng = random.Random(line.seed)
    paths = []
    for number in range(1, line.runs + 1):
        rows = []
        for variant in line.variants:
            figures = {
                "median": BASE[variant] * math.exp(rng.gauss(0.0, line.noise)),
                "step_median_ms": 200.0 * BASE[variant] * math.exp(rng.gauss(0.0, line.noise)),
                "peak_ram_mib": 900.0 * math.exp(rng.gauss(0.0, line.noise)),
            }
            if variant == line.variant and line.step_run is not None and number >= line.step_run:
                figures[line.figure] *= 1.0 + line.step
            median = figures.pop("median")
            rows.append(row(variant, median, iqr=0.005 * median, **figures))
        doc = run_doc(rows, machine=MACHINE, when=(START + timedelta(hours=number)).isoformat())
        doc["commit_info"] = {"id": commit(number), "dirty": False, "branch": "main"}
        path = storage / FOLDER / f"{number:04d}_{line.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1))
        paths.append(path)
    return paths


def gate_runs(
    cli: Callable[..., CompletedProcess[str]], storage: Path, paths: list[Path], candidates: tuple[int, ...]
) -> list[int]:
    """The real gate on each candidate run against the run before it, its report written beside the
    runs (``gate-NNNN.md``) as ``gate --output`` does in CI; the gate's exit statuses."""
    statuses = []
    for candidate in candidates:
        report = storage / FOLDER / f"gate-{candidate:04d}.md"
        before, after = paths[candidate - 2], paths[candidate - 1]
        result = cli(
            "gate", "--baseline", before, "--candidate", after, "--storage", storage, "--output", report
        )
        statuses.append(result.returncode)
    return statuses
