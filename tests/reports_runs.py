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


REPO = Path(__file__).resolve().parents[1]


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
