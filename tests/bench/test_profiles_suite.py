"""`pytest bench/ --profile gtx1650` on this CPU, as a user runs it (in a subprocess).

The gtx1650 run and its repeat (with `--benchmark-compare`) are the session's shared `tiny_runs`
(tests/conftest.py), which tests/bench/test_suite_e2e.py reads too; the bad options' runs start together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.suite_process import ROOT
from helpers.suite_runs import SHARED_PROFILE, SHARED_STEPS, assert_one_line_exit_2, runs_in_own_folders


def test_runs_pass_and_are_stored_per_profile(tiny_runs):
    first, second = tiny_runs.first, tiny_runs.second
    for result in (first, second):
        assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = {path.parent for path in tiny_runs.storage.rglob("*.json")}
    # pytest-benchmark's machine id, then the profile and where it was measured
    assert folder.name.startswith("Linux-CPython-") and folder.name.endswith(f"-{SHARED_PROFILE}-on-cpu")
    assert sorted(path.name for path in folder.glob("*.json")) == ["0001_first.json", "0002_second.json"]
    # --benchmark-compare found the first gtx1650 run as its baseline
    assert "0001_first" in second.stdout + second.stderr


def test_rows_carry_profile_fit_and_projection(tiny_runs):
    (path,) = tiny_runs.storage.rglob("0001_first.json")
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


def test_pytest_benchmark_compare_reads_profiled_runs(tiny_runs):
    cli = str(Path(sys.executable).with_name("pytest-benchmark"))
    result = subprocess.run(
        [cli, f"--storage={tiny_runs.storage}", "compare", "0001", "0002"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"test_generation[fp32-64x64-{SHARED_STEPS}steps-cfg7.5-b1-euler]" in result.stdout


def test_report_reads_the_profile_columns(tiny_runs):
    import reports

    frame = reports.load([tiny_runs.storage])
    gtx = frame[(frame.profile == "gtx1650") & frame.variant.isin(["fp32", "bf16"])]
    assert len(gtx) == 4 and (gtx.est_peak_mem_mib > 0).all()
    assert gtx[gtx.variant == "fp32"].fits.all() and not gtx[gtx.variant == "bf16"].fits.any()
    assert gtx[gtx.variant == "fp32"].projected_latency_s.notna().all()
    # variants x profiles, from one run's fits on every profile
    fits = gtx.groupby("variant")[["fits_gtx1650", "fits_rtx3050_laptop", "fits_rtx3080"]].all()
    assert fits.shape == (2, 3) and fits.loc["fp32"].all()
    assert fits.loc["bf16"].tolist() == [False, True, True]  # bf16: not on Turing


def suite_options(tmp_path: Path) -> tuple[str, ...]:
    return (
        f"--benchmark-storage={tmp_path / 'storage'}",
        "--rounds=1",
        "--warmup=0",
        "--steps=2",
        "--variants=fp32,bf16",
    )


BAD_OPTIONS = [
    ("--profile=rtx9090", "--profile 'rtx9090' is unknown; known profiles: auto, gtx1650"),
    ("--offload=always", "--offload 'always' is unknown; accepted: none, auto"),
    ("--profile-file=/no/such/profiles.toml", "--profile-file '/no/such/profiles.toml' does not exist"),
]


@pytest.fixture(scope="module")
def bad_option_runs(tmp_path_factory):
    """Every bad option's run in its own folder, started together."""
    return runs_in_own_folders(tmp_path_factory, "bad-profile", suite_options, BAD_OPTIONS)


@pytest.mark.parametrize(("option", "named"), BAD_OPTIONS)
def test_bad_profile_options_exit_2_with_one_line(bad_option_runs, option, named):
    assert_one_line_exit_2(bad_option_runs[option][1], named)
