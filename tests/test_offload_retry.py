"""`--offload auto` after an out-of-memory, exercised on the CPU by injecting the error.

DIFFBENCH_FAULT_OOM (bench/faults.py) makes the chosen variant's first measure attempt raise
torch.OutOfMemoryError, as a full device would. The retry must run with the failed variant
already freed (its pipeline's weak reference dead), and the row must say which offload fit.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from suite_process import run_bench


def _run(tmp_path: Path, fault: str, *options: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    log = tmp_path / "faults.jsonl"
    result = run_bench(
        "--model=tiny-sd",
        "--variants=fp32",
        "--rounds=1",
        "--warmup=0",
        "--steps=2",
        f"--cache-dir={tmp_path / 'cache'}",
        f"--benchmark-storage={tmp_path / 'storage'}",
        "--benchmark-save=oom",
        *options,
        env={"DIFFBENCH_FAULT_OOM": fault, "DIFFBENCH_FAULT_LOG": str(log)},
    )
    (saved,) = (tmp_path / "storage").rglob("*_oom*.json")
    data = json.loads(saved.read_text())
    rows = [b["extra_info"] for b in data["benchmarks"]] + [
        r["extra_info"] for r in data["diffbench"]["rows"]
    ]
    (row,) = rows
    attempts = [json.loads(line) for line in log.read_text().splitlines()]
    return result, {"row": row, "attempts": attempts}


def test_offload_auto_retries_after_the_failed_variant_is_freed(tmp_path):
    result, found = _run(tmp_path, "fp32*1", "--offload=auto")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    row, attempts = found["row"], found["attempts"]
    assert row["status"] == "ok" and row["offload"] == "model"
    assert "injected by DIFFBENCH_FAULT_OOM" in row["offload_note"]
    assert row["step_median_ms"] is not None  # the retry was really timed
    # attempt 1 failed; attempt 2 (model offload) ran with attempt 1's pipeline already gone
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert attempts[1]["previous_failed_pipeline_alive"] is False


def test_without_offload_an_out_of_memory_is_an_oom_row(tmp_path):
    result, found = _run(tmp_path, "fp32*1")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    row = found["row"]
    assert row["status"] == "oom" and row["offload"] is None
    assert row["reason"].startswith("out of memory: injected by DIFFBENCH_FAULT_OOM")
