"""`python -m bench.gpu_check`'s plumbing on any machine: the page, the exit codes, bad input, and
the suite runs its checks read (a real `pytest bench/` on the CPU). The checks themselves need a GPU."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from bench.gpu_check import main
from bench.gpu_checks import CHECKS, CheckContext
from bench.gpu_checks.suite_run import row_problem, suite_run
from bench.studies.runner import ROOT

NO_CUDA = pytest.mark.skipif(
    torch.cuda.is_available(), reason="on a GPU this runs every check: run python -m bench.gpu_check"
)


@NO_CUDA
def test_without_cuda_every_check_is_skipped_with_its_reason_and_the_page_is_written(tmp_path, capsys):
    page = tmp_path / "results" / "gpu-check.md"
    assert main(["--output", str(page)]) == 0
    text = page.read_text()
    assert "0 PASS, 0 FAIL" in text and f"{len(CHECKS)} SKIP" in text
    for check in CHECKS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {check.name} |"))
        assert "| SKIP | no CUDA device visible" in row
    assert "GPU: none visible" in text and "versions: torch" in text and "Tolerances" in text
    assert not list(page.parent.glob(".*.tmp"))  # written atomically, nothing left over


@NO_CUDA
def test_the_module_runs_as_a_command(tmp_path):
    page = tmp_path / "page.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check", "--output", str(page), "--only", "compile,nvml-device"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| compile |" in page.read_text() and "| sd15-dtypes |" not in page.read_text()


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--device", "cpu"], "'cpu'"),
        (["--only", "compile,warp-drive"], "warp-drive"),
        (["--only", ","], "none given"),
        (["--budget-s", "nan"], "nan"),
        (["--budget-s", "0"], "0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_check(arguments, named, tmp_path, capsys):
    page = tmp_path / "page.md"
    assert main([*arguments, "--output", str(page)]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith("error:") and named in error
    assert not page.exists()


def test_check_names_are_unique_and_each_has_a_summary():
    names = [check.name for check in CHECKS]
    assert len(names) == len(set(names)) and all(check.summary for check in CHECKS)


def test_a_suite_run_gives_the_checks_its_rows(tmp_path, monkeypatch):
    # The same subprocess and JSON reading the GPU checks use, on the CPU with tiny-sd. fp16 runs
    # out of memory (injected), so its row is one of the run's failure rows, not a benchmark.
    monkeypatch.setenv("DIFFBENCH_FAULT_OOM", "fp16*9")
    context = CheckContext(torch.device("cpu"), tmp_path, time.monotonic() + 600, logs=tmp_path / "logs")
    options = ("--model", "tiny-sd", "--device", "cpu", "--resolution", "32", "--steps", "2")
    run = suite_run(context, (*options, "--variants", "fp32,fp16"), timeout_s=600)
    assert run.error == "", run.error
    assert row_problem(run, "fp32") is None
    assert row_problem(run, "fp16", "oom") is None
    assert "--variants fp32,fp16" in (tmp_path / "logs" / "gpu-check-1.log").read_text()
    fp32 = run.row("fp32")
    assert fp32["latency_median_s"] > 0 and fp32["step_median_ms"] > 0
    assert suite_run(context, (*options, "--variants", "fp32,fp16"), timeout_s=600) is run  # shared
    assert "expected oom" in row_problem(run, "fp32", "oom")
    assert "no row" in row_problem(run, "bf16")


def test_a_run_in_which_nothing_could_be_timed_still_gives_its_rows(tmp_path, monkeypatch):
    # pytest-benchmark writes no JSON when no benchmark ran; the journal saves the failure rows
    # (found on the first GPU: the gtx1650 check's fp32-oom/bf16-unsupported run read as "no rows").
    monkeypatch.setenv("DIFFBENCH_FAULT_OOM", "fp32*9")
    context = CheckContext(torch.device("cpu"), tmp_path, time.monotonic() + 600)
    options = ("--model", "tiny-sd", "--device", "cpu", "--resolution", "32", "--steps", "2")
    run = suite_run(context, (*options, "--variants", "fp32"), timeout_s=600)
    assert run.error == "", run.error
    assert row_problem(run, "fp32", "oom") is None


def test_a_suite_run_past_its_time_is_an_error_not_a_hang(tmp_path):
    context = CheckContext(torch.device("cpu"), tmp_path, time.monotonic() + 600)
    started = time.monotonic()
    run = suite_run(context, ("--model", "tiny-sd", "--device", "cpu"), timeout_s=2)
    assert time.monotonic() - started < 60
    assert "did not finish in 2 s" in run.error and row_problem(run, "fp32") == run.error
