"""`--offload auto` after an out-of-memory, exercised on the CPU by injecting the error.

DIFFBENCH_FAULT_OOM (bench/faults.py) makes the chosen variant's first measure attempt raise
torch.OutOfMemoryError, as a full device would. The retry must run with the failed variant
already freed (its pipeline's weak reference dead), and the row must say which offload fit.
The two runs (with and without `--offload auto`) start together.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers.suite_runs import run_bench_together


def _options(folder: Path, *options: str) -> tuple[str, ...]:
    return (
        "--model=tiny-sd",
        "--variants=fp32",
        "--rounds=1",
        "--warmup=0",
        "--steps=2",
        f"--cache-dir={folder / 'cache'}",
        f"--benchmark-storage={folder / 'storage'}",
        "--benchmark-save=oom",
        *options,
    )


def _found(folder: Path) -> dict:
    (saved,) = (folder / "storage").rglob("*_oom*.json")
    data = json.loads(saved.read_text())
    rows = [b["extra_info"] for b in data["benchmarks"]] + [
        r["extra_info"] for r in data["diffbench"]["rows"]
    ]
    (row,) = rows
    attempts = [json.loads(line) for line in (folder / "faults.jsonl").read_text().splitlines()]
    return {"row": row, "attempts": attempts}


@pytest.fixture(scope="module")
def oom_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    """Both runs (with and without --offload auto), fp32's first attempt failing, started together."""
    extra = {"offload": ("--offload=auto",), "none": ()}
    folders = {name: tmp_path_factory.mktemp(f"oom-{name}") for name in extra}
    envs = [
        {"DIFFBENCH_FAULT_OOM": "fp32*1", "DIFFBENCH_FAULT_LOG": str(folder / "faults.jsonl")}
        for folder in folders.values()
    ]
    option_sets = [_options(folders[name], *options) for name, options in extra.items()]
    results = run_bench_together(option_sets, envs=envs)
    return {name: (result, folders[name]) for name, result in zip(extra, results, strict=True)}


def test_offload_auto_retries_after_the_failed_variant_is_freed(oom_runs):
    result, folder = oom_runs["offload"]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    found = _found(folder)
    row, attempts = found["row"], found["attempts"]
    assert row["status"] == "ok" and row["offload"] == "model"
    assert "injected by DIFFBENCH_FAULT_OOM" in row["offload_note"]
    assert row["step_median_ms"] is not None  # the retry was really timed
    # attempt 1 failed; attempt 2 (model offload) ran with attempt 1's pipeline already gone
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert attempts[1]["previous_failed_pipeline_alive"] is False


def test_without_offload_an_out_of_memory_is_an_oom_row(oom_runs):
    result, folder = oom_runs["none"]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    row = _found(folder)["row"]
    assert row["status"] == "oom" and row["offload"] is None
    assert row["reason"].startswith("out of memory: injected by DIFFBENCH_FAULT_OOM")
