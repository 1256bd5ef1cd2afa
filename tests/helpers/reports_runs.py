"""Hand-made saved runs for the reports tests: the shape pytest-benchmark 5.3.1 writes, with
diffbench's extra_info (docs/run-format.md), built from a few figures per row."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

WORKLOAD = "64x64/4steps/cfg7.5/b1/euler"


def row(
    variant: str,
    median: float | None = 1.0,
    iqr: float = 0.02,
    rounds: int = 5,
    status: str = "ok",
    reason: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """One row: a timed benchmark (status ok) or a failure row (anything else)."""
    info: dict[str, Any] = {
        "schema": 1,
        "model": "tiny-sd",
        "weights": "random",
        "variant": variant,
        "baseline_variant": "fp32",
        "device": "cpu",
        "profile": "cpu",
        "dtype": "float32",
        "workload": WORKLOAD,
        "workload_detail": {"width": 64, "height": 64, "steps": 4, "guidance": 7.5, "batch": 1},
        "status": status,
        "reason": reason,
        "rounds": rounds if status == "ok" else None,
        "text_encoder_s": None if median is None else 0.05 * median,
        "step_median_ms": None if median is None else 200.0 * median,
        "vae_decode_s": None if median is None else 0.1 * median,
        "peak_vram_allocated_mib": None,
        "peak_ram_mib": 500.0,
        "params": 2622859,
        "size_mb": 10.0,
        "psnr_vs_baseline": None if variant == "fp32" else 45.0,
        "fid": None,
        "macs_g": None,
        "cache_hit": True,
    }
    info.update(extra)
    name = f"test_generation[{info['model']}-{variant}-{info['workload']}-{info['profile']}]"
    entry: dict[str, Any] = {
        "name": name,
        "fullname": f"bench/test_generation.py::{name}",
        "extra_info": info,
    }
    if status == "ok":
        assert median is not None
        entry["stats"] = {
            "min": median - iqr,
            "max": median + iqr,
            "mean": median,
            "stddev": iqr / 1.35,
            "rounds": rounds,
            "median": median,
            "iqr": iqr,
            "q1": median - iqr / 2,
            "q3": median + iqr / 2,
            "iterations": 1,
        }
    return entry


def run_doc(
    rows: list[dict[str, Any]], machine: str = "vm/AMD EPYC/no-gpu", when: str = "2026-11-21T10:00:00+00:00"
) -> dict[str, Any]:
    timed = [r for r in rows if "stats" in r]
    failed = [r for r in rows if "stats" not in r]
    return {
        "machine_info": {
            "node": "vm",
            "diffbench": {"schema": 1, "machine": machine, "gpu": None, "cpu": "AMD EPYC", "cpu_cores": 2},
        },
        "commit_info": {},
        "benchmarks": timed,
        "datetime": when,
        "version": "5.3.1",
        "diffbench": {"schema": 1, "rows": failed},
    }


def write_run(path: Path, rows: list[dict[str, Any]], **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run_doc(rows, **kwargs), indent=1))
    return path


REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """`python -m reports ARGS` as a user runs it, in a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # `-m reports` resolves to this checkout from anywhere
    return subprocess.run(
        [sys.executable, "-m", "reports", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single `error: ...` line of a failed command (exit 2, no traceback, nothing on stdout)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert result.stdout == ""
    return lines[0]


def call(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI in this process (fast); the same result shape as ``run_cli``."""
    from reports.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return subprocess.CompletedProcess(["reports", *map(str, args)], code, out.getvalue(), err.getvalue())


# --- a CI storage over time: the gate scenario of issue 15 (docs/results/2026-12-04-gate-second-push.md)

CI_MACHINE_DIR = "Linux-CPython-3.11-64bit"
# Two rows whose medians drift by about 1% from run to run, independently: the quiet main line.
MAIN_DRIFT = {
    "fp32": (1.000, 1.012, 0.991, 1.006, 0.988, 1.010, 0.995, 1.003),
    "bf16": (1.004, 0.993, 1.009, 0.997, 1.011, 0.990, 1.002, 0.996),
}
BASE_MEDIAN = {"fp32": 1.0, "bf16": 0.6}


def ci_run(storage: Path, number: int, name: str, factors: dict[str, float], **extra: Any) -> Path:
    """Run ``NNNN_<name>`` of the CI storage: each row's median is its base median x its factor.

    Each run is tight within itself (IQR 0.5% of its median), as on a dedicated runner, and is
    dated ``number`` hours after the first, so run order and time order agree.
    """
    rows = [
        row(variant, BASE_MEDIAN[variant] * factor, iqr=0.005 * BASE_MEDIAN[variant] * factor, **extra)
        for variant, factor in factors.items()
    ]
    when = f"2026-11-{1 + number // 24:02d}T{number % 24:02d}:00:00+00:00"
    return write_run(storage / CI_MACHINE_DIR / f"{number:04d}_{name}.json", rows, when=when)


def ci_main_line(storage: Path, levels: tuple[float, ...] | None = None) -> int:
    """Eight main runs with ~1% drift (times ``levels[i]`` for run i, a step change); the last number."""
    levels = levels or (1.0,) * len(MAIN_DRIFT["fp32"])
    for i, level in enumerate(levels):
        ci_run(storage, i + 1, "main", {v: drift[i] * level for v, drift in MAIN_DRIFT.items()})
    return len(levels)


def ci_newest_main(storage: Path) -> dict[str, float]:
    """The newest main run's factor per row (what a pull request is measured against)."""
    newest = max((storage / CI_MACHINE_DIR).glob("*_main.json"))
    doc = json.loads(newest.read_text())
    return {
        b["extra_info"]["variant"]: b["stats"]["median"] / BASE_MEDIAN[b["extra_info"]["variant"]]
        for b in doc["benchmarks"]
    }
