"""A variant that fails after its timed rounds is one row, status error, its rounds kept.

pytest-benchmark saves the rounds of a test whose error came after them; the suite used to add a
failure row beside that timed row, so the run held the variant twice (one row with no status and
a latency, one `error` row), and `recommend` could recommend the failed variant.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers.fail_after_rounds import MESSAGE
from helpers.suite_process import ROOT, run_bench

import reports
from reports import compare


def run_fp32_bf16_with(plugin: str, rounds: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The suite with `plugin` (a module of tests/helpers) loaded, saving into tmp_path/runs."""
    return run_bench(
        *("-p", plugin, "--variants", "fp32,bf16", "--rounds", str(rounds), "--benchmark-save=faulty"),
        f"--benchmark-storage={tmp_path / 'runs'}",
        f"--cache-dir={tmp_path / 'cache'}",
        env={"PYTHONPATH": str(ROOT / "tests")},
    )


def test_a_failure_after_the_rounds_is_the_timed_rows_status(tmp_path: Path) -> None:
    storage = tmp_path / "runs"
    result = run_fp32_bf16_with("helpers.fail_after_rounds", 1, tmp_path)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "1 failed, 1 passed" in result.stdout
    frame = reports.load([storage])
    assert sorted(frame["variant"]) == ["bf16", "fp32"]  # once each
    bf16 = frame[frame["variant"] == "bf16"].iloc[0]
    assert bf16["status"] == "error" and bf16["reason"] == f"RuntimeError: {MESSAGE}"
    assert bf16["latency_median_s"] > 0  # its rounds kept
    assert frame[frame["variant"] == "fp32"].iloc[0]["status"] == "ok"
    # Where its latency is shown, it says the variant failed: a number alone would read as a result.
    latency_table = compare.to_markdown(compare.compare(frame, "machine")).split("## ")[1]
    (line,) = [line for line in latency_table.splitlines() if "| bf16" in line]
    assert "(error)" in line


def test_a_failure_inside_the_rounds_is_one_failure_row_and_the_journal_closes(tmp_path: Path) -> None:
    """pytest-benchmark drops a benchmark whose timed call raised; the journal must not keep it
    (it did, and its hook raised on the empty statistics), so the run is complete and closed."""
    from helpers.fail_in_round import MESSAGE as IN_ROUND

    storage = tmp_path / "runs"
    result = run_fp32_bf16_with("helpers.fail_in_round", 2, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "1 failed, 1 passed" in result.stdout, output[-3000:]
    assert "raised an exception during" not in output and "could not be verified" not in output
    assert list(storage.glob(".journal/*")) == []  # closed: nothing left to recover
    frame = reports.load([storage])
    assert sorted(frame["variant"]) == ["bf16", "fp32"]
    bf16 = frame[frame["variant"] == "bf16"].iloc[0]
    assert bf16["status"] == "error" and bf16["reason"] == f"RuntimeError: {IN_ROUND}"
