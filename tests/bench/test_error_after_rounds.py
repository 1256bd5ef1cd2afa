"""A variant that fails after its timed rounds is one row, status error, its rounds kept.

pytest-benchmark saves the rounds of a test whose error came after them; the suite used to add a
failure row beside that timed row, so the run held the variant twice (one row with no status and
a latency, one `error` row), and `recommend` could recommend the failed variant.
"""

from __future__ import annotations

from pathlib import Path

from helpers.fail_after_rounds import MESSAGE
from helpers.suite_process import ROOT, run_bench

import reports


def test_a_failure_after_the_rounds_is_the_timed_rows_status(tmp_path: Path) -> None:
    storage = tmp_path / "runs"
    result = run_bench(
        "-p",
        "helpers.fail_after_rounds",
        "--variants",
        "fp32,bf16",
        "--rounds",
        "1",
        "--benchmark-save=after",
        f"--benchmark-storage={storage}",
        f"--cache-dir={tmp_path / 'cache'}",
        env={"PYTHONPATH": str(ROOT / "tests")},
    )
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "1 failed, 1 passed" in result.stdout
    frame = reports.load([storage])
    assert sorted(frame["variant"]) == ["bf16", "fp32"]  # once each
    bf16 = frame[frame["variant"] == "bf16"].iloc[0]
    assert bf16["status"] == "error" and bf16["reason"] == f"RuntimeError: {MESSAGE}"
    assert bf16["latency_median_s"] > 0  # its rounds kept
    assert frame[frame["variant"] == "fp32"].iloc[0]["status"] == "ok"
