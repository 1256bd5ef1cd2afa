"""`pytest bench/ --profile gtx1650` on this CPU, as a user runs it (in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from suite_process import ROOT, run_bench


def run_suite(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return run_bench(
        f"--benchmark-storage={tmp_path / 'storage'}",
        "--rounds=1",
        "--warmup=0",
        "--steps=2",
        "--variants=fp32,bf16",
        *options,
        env={"DIFFBENCH_CACHE": str(tmp_path / "cache")},
    )


@pytest.fixture(scope="module")
def profiled_runs(tmp_path_factory):
    """A gtx1650 run, and a second one compared against it (the CPU's own profile is the
    default, which tests/test_suite_e2e.py runs)."""
    tmp_path = tmp_path_factory.mktemp("profiles")
    first = run_suite(tmp_path, "--profile=gtx1650", "--benchmark-save=first")
    second = run_suite(tmp_path, "--profile=gtx1650", "--benchmark-save=second", "--benchmark-compare")
    return tmp_path, first, second


def test_runs_pass_and_are_stored_per_profile(profiled_runs):
    tmp_path, first, second = profiled_runs
    for result in (first, second):
        assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = {path.parent for path in (tmp_path / "storage").rglob("*.json")}
    # pytest-benchmark's machine id, then the profile and where it was measured
    assert folder.name.startswith("Linux-CPython-") and folder.name.endswith("-gtx1650-on-cpu")
    assert sorted(path.name for path in folder.glob("*.json")) == ["0001_first.json", "0002_second.json"]
    # --benchmark-compare found the first gtx1650 run as its baseline
    assert "0001_first" in second.stdout + second.stderr


def test_rows_carry_profile_fit_and_projection(profiled_runs):
    tmp_path = profiled_runs[0]
    (path,) = (tmp_path / "storage").rglob("0001_first.json")
    rows = {b["extra_info"]["variant"]: b["extra_info"] for b in json.loads(path.read_text())["benchmarks"]}
    fp32, bf16 = rows["fp32"], rows["bf16"]
    for row in (fp32, bf16):
        assert row["profile"] == "gtx1650" and row["device_name"]
        assert row["emulated"] is False and "no GPU on this machine" in row["emulation"]
        assert row["est_peak_mem_mib"] > row["est_weights_mib"] > 0
        assert set(row["fits_profiles"]) >= {"gtx1650", "rtx3050", "rtx3080"}
    assert fp32["fits"] is True and fp32["fit_note"] is None
    # the GTX 1650 has memory enough for bf16 but cannot run it: it does not fit, and why
    assert bf16["fits"] is False and bf16["fits_profiles"]["gtx1650"] is False
    assert bf16["fits_profiles"]["rtx3080"] is True and "gtx1650 (sm_75) has no bf16" in bf16["fit_note"]
    assert fp32["projected_latency_s"] > 0 and fp32["projected_step_ms"] > 0
    assert "roofline" in fp32["projection"] and fp32["projection_efficiency"] == 0.5
    # bf16 ran on this CPU, but the GTX 1650 cannot run it: no projected figure, and why
    assert bf16["status"] == "ok" and bf16["projected_latency_s"] is None
    assert "has no bf16" in bf16["projection"]
    assert bf16["projected_step_ms_profiles"]["rtx3080"] > 0


def test_pytest_benchmark_compare_reads_profiled_runs(profiled_runs):
    tmp_path = profiled_runs[0]
    cli = str(Path(sys.executable).with_name("pytest-benchmark"))
    result = subprocess.run(
        [cli, f"--storage={tmp_path / 'storage'}", "compare", "0001", "0002"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "test_generation[fp32-64x64-2steps-cfg7.5-b1-euler]" in result.stdout


def test_report_reads_the_profile_columns(profiled_runs):
    import reports

    frame = reports.load([profiled_runs[0] / "storage"])
    gtx = frame[frame.profile == "gtx1650"]
    assert len(gtx) == 4 and (gtx.est_peak_mem_mib > 0).all()
    assert gtx[gtx.variant == "fp32"].fits.all() and not gtx[gtx.variant == "bf16"].fits.any()
    assert gtx[gtx.variant == "fp32"].projected_latency_s.notna().all()
    # variants x profiles, from one run's fits on every profile
    fits = gtx.groupby("variant")[["fits_gtx1650", "fits_rtx3050_laptop", "fits_rtx3080"]].all()
    assert fits.shape == (2, 3) and fits.loc["fp32"].all()
    assert fits.loc["bf16"].tolist() == [False, True, True]  # bf16: not on Turing


@pytest.mark.parametrize(
    ("option", "named"),
    [
        ("--profile=rtx9090", "--profile 'rtx9090' is unknown; known profiles: auto, gtx1650"),
        ("--offload=always", "--offload 'always' is unknown; accepted: none, auto"),
        ("--profile-file=/no/such/profiles.toml", "--profile-file '/no/such/profiles.toml' does not exist"),
    ],
)
def test_bad_profile_options_exit_2_with_one_line(tmp_path, option, named):
    result = run_suite(tmp_path, option)
    assert result.returncode == 2
    output = (result.stdout + result.stderr).strip()
    assert named in output and len(output.splitlines()) == 1, output
    assert "Traceback" not in output
