"""The suite run as a user runs it: `pytest bench/ --benchmark-save=NAME`, in a subprocess.

The ordinary run and its repeat are the session's shared `tiny_runs` (tests/conftest.py); the bad
options' runs start together, each stopping at its option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers.suite_process import ROOT, run_bench
from helpers.suite_runs import SHARED_STEPS, assert_one_line_exit_2, runs_in_own_folders


def suite_options(tmp_path: Path) -> tuple[str, ...]:
    return (f"--benchmark-storage={tmp_path / 'storage'}", "--rounds=2", "--warmup=0")


def run_suite(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return run_bench(*suite_options(tmp_path), *options, env={"DIFFBENCH_CACHE": str(tmp_path / "cache")})


def saved_runs(tmp_path: Path) -> list[Path]:  # tests/bench/test_quality_suite.py's
    return sorted((tmp_path / "storage").rglob("*.json"))


def test_suite_passes_and_saves_runs(tiny_runs):
    first, second = tiny_runs.first, tiny_runs.second
    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert [p.name for p in tiny_runs.saved()] == ["0001_first.json", "0002_second.json"]


def test_saved_run_carries_extra_info_and_failure_rows(tiny_runs):
    run = tiny_runs.load(0)
    info = {b["extra_info"]["variant"]: b["extra_info"] for b in run["benchmarks"]}
    assert set(info) == {"fp32", "bf16"}
    for row in info.values():
        assert row["status"] == "ok"
        assert row["step_median_ms"] > 0 and row["text_encoder_s"] > 0 and row["vae_decode_s"] > 0
        assert row["peak_ram_mib"] > 100
        assert row["params"] > 1_000_000
    assert info["fp32"]["psnr_vs_baseline"] is None
    assert 20 < info["bf16"]["psnr_vs_baseline"] < float("inf")
    assert info["bf16"]["size_mb"] < 0.55 * info["fp32"]["size_mb"]
    (failure,) = run["diffbench"]["rows"]
    assert failure["extra_info"]["variant"] == "fp16+bf16"
    assert failure["extra_info"]["status"] == "unsupported"
    assert "sets the compute dtype once" in failure["extra_info"]["reason"]
    assert run["machine_info"]["diffbench"]["versions"]["torch"].startswith("2.")


def test_second_run_builds_nothing(tiny_runs):
    first, second = tiny_runs.load(0), tiny_runs.load(1)
    assert [b["extra_info"]["cache_hit"] for b in first["benchmarks"]] == [False, False]
    assert [b["extra_info"]["cache_hit"] for b in second["benchmarks"]] == [True, True]


def test_report_table_reads_the_runs(tiny_runs):
    import reports

    frame = reports.load([tiny_runs.storage])
    assert len(frame) == 6  # 2 runs x (2 timed + 1 unsupported)
    timed = frame[frame.status == "ok"]
    assert (timed.latency_median_s > 0).all() and (timed.peak_ram_mib > 0).all()
    unsupported = frame[frame.status == "unsupported"]
    assert unsupported.latency_median_s.isna().all()


def test_pytest_benchmark_compare_reads_the_runs(tiny_runs):
    cli = str(Path(sys.executable).with_name("pytest-benchmark"))
    storage = f"--storage={tiny_runs.storage}"
    result = subprocess.run(
        [cli, storage, "compare", "0001", "0002"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert f"test_generation[bf16-64x64-{SHARED_STEPS}steps-cfg7.5-b1-euler]" in result.stdout


BAD_OPTIONS = [
    ("--variants=prune(", "malformed recipe 'prune('"),
    ("--variants=int9", "unknown pass 'int9'"),
    ("--model=sd99", "unknown model 'sd99'"),
    ("--resolution=65", "--resolution '65'"),
    ("--steps=zero", "--steps 'zero'"),
    ("--scheduler=lms", "--scheduler 'lms' is unknown; accepted: euler"),
    ("--device=tpu", "--device 'tpu' is unknown; accepted: auto, cpu"),
    ("--model=sd15 --weights=/no/such/file.safetensors", "'/no/such/file.safetensors' does not exist"),
]


@pytest.fixture(scope="module")
def bad_option_runs(tmp_path_factory):
    """Every bad option's run, each as run_suite runs it in its own folder, started together."""
    return runs_in_own_folders(tmp_path_factory, "bad-option", suite_options, BAD_OPTIONS)


@pytest.mark.parametrize(("option", "named"), BAD_OPTIONS)
def test_bad_options_exit_2_with_one_line(bad_option_runs, option, named):
    tmp_path, result = bad_option_runs[option]
    assert_one_line_exit_2(result, named)
    assert not (tmp_path / "storage").exists()
