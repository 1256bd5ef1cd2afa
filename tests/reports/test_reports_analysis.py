"""`compare`, `delta` and `recommend` on small hand-made runs (tests/helpers/reports_runs.py)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd
import pytest
from helpers.reports_runs import call, one_error_line, row, write_run

import reports
from reports import compare, delta, frames, recommend


@pytest.fixture
def two_machines(tmp_path: Path) -> Path:
    """A CPU box (two runs, the newer one slower) and a GPU box on the rtx3080 profile."""
    root = tmp_path / "store"
    cpu_rows = [
        row("fp32", 1.0, peak_ram_mib=500.0, size_mb=10.0),
        row("bf16", 0.5, peak_ram_mib=450.0, size_mb=5.0, psnr_vs_baseline=46.0),
        row("fp16", None, status="unsupported", reason="fp16 needs a CUDA device"),
    ]
    write_run(root / "cpu-box" / "0001_a.json", cpu_rows, machine="cpu-box", when="2026-11-20T10:00:00+00:00")
    newer = [
        row("fp32", 2.0, peak_ram_mib=500.0),
        row("bf16", 1.5, peak_ram_mib=450.0, psnr_vs_baseline=46.0),
    ]
    write_run(root / "cpu-box" / "0002_b.json", newer, machine="cpu-box", when="2026-11-21T10:00:00+00:00")
    gpu = dict(profile="rtx3080", device="cuda:0")
    gpu_rows = [
        row("fp32", 0.20, peak_vram_allocated_mib=3000.0, fid=20.0, **gpu),
        row("fp16", 0.08, peak_vram_allocated_mib=1600.0, fid=20.4, psnr_vs_baseline=60.0, **gpu),
        row("int8", 0.06, peak_vram_allocated_mib=1200.0, fid=23.0, psnr_vs_baseline=30.0, **gpu),
    ]
    write_run(root / "gpu-box" / "0001_a.json", gpu_rows, machine="gpu-box", when="2026-11-21T09:00:00+00:00")
    return root


# --- shared rules (frames) ----------------------------------------------------------------------


def test_baseline_is_taken_from_the_same_run(two_machines: Path) -> None:
    df = frames.normalised(reports.load(two_machines))
    base = frames.baseline_rows(df)
    bf16_new = df[(df["run"] == "0002_b") & (df["variant"] == "bf16")].index[0]
    assert base.loc[bf16_new, "latency_median_s"] == 2.0  # 0002_b's fp32, not 0001_a's
    assert base.loc[bf16_new, "run"] == "0002_b"


def test_a_run_without_its_baseline_uses_the_machines_newest(two_machines: Path) -> None:
    write_run(
        two_machines / "cpu-box" / "0003_c.json",
        [row("bf16", 0.9)],
        machine="cpu-box",
        when="2026-11-22T10:00:00+00:00",
    )
    df = frames.normalised(reports.load(two_machines))
    base = frames.baseline_rows(df)
    lonely = df[df["run"] == "0003_c"].index[0]
    assert base.loc[lonely, "run"] == "0002_b"


def test_no_baseline_on_the_machine_is_nan(tmp_path: Path) -> None:
    df = frames.normalised(reports.load(write_run(tmp_path / "r.json", [row("bf16")])))
    assert frames.baseline_rows(df)["latency_median_s"].isna().all()


# --- compare ------------------------------------------------------------------------------------


def test_compare_by_profile_pivots_the_newest_figures(two_machines: Path) -> None:
    result = compare.compare(reports.load(two_machines), "profile")
    latency = next(s for s in result.sections if s.column == "latency_median_s").values
    assert list(latency.columns) == ["cpu", "rtx3080"]
    assert latency.loc[("tiny-sd", row("fp32")["extra_info"]["workload"], "fp32"), "cpu"] == 2.0  # newest run
    assert latency.xs("int8", level="variant")["rtx3080"].iloc[0] == 0.06
    assert math.isnan(latency.xs("int8", level="variant")["cpu"].iloc[0])
    ratio = next(s for s in result.sections if s.column == "latency_ratio").values
    assert ratio.xs("fp16", level="variant")["rtx3080"].iloc[0] == pytest.approx(0.4)
    assert ratio.xs("bf16", level="variant")["cpu"].iloc[0] == pytest.approx(0.75)
    assert "projected latency (s)" in result.unmeasured


def test_compare_by_run_keeps_every_run_in_time_order(two_machines: Path) -> None:
    result = compare.compare(reports.load(two_machines), "run")
    latency = result.sections[0].values
    # Two runs named 0001_a (one per machine) share a column: --by machine tells them apart.
    assert list(latency.columns) == ["0001_a", "0002_b"]
    assert "in the run its column names" in compare.to_markdown(result)  # not "the newest run's"
    assert "on that machine" in compare.to_markdown(compare.compare(reports.load(two_machines), "machine"))


def test_compare_markdown_shows_why_a_cell_is_empty(two_machines: Path) -> None:
    result = call("compare", two_machines, "--by", "machine")
    assert result.returncode == 0, result.stderr
    assert "## latency, median (s)" in result.stdout
    assert "| cpu-box" not in result.stdout  # machines are columns
    assert "unsupported" in result.stdout  # fp16 on the CPU box says why it has no figure
    assert "0.40x" in result.stdout


def test_compare_csv_is_one_wide_table(two_machines: Path) -> None:
    result = call("compare", two_machines, "--by", "profile", "--format", "csv")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(io.StringIO(result.stdout))
    assert {"latency_median_s[cpu]", "latency_median_s[rtx3080]", "fid[rtx3080]"} <= set(table.columns)
    assert len(table) == 4  # fp32, bf16, fp16, int8


# --- delta --------------------------------------------------------------------------------------


def test_delta_gives_before_after_and_percent(two_machines: Path) -> None:
    table = delta.delta(reports.load(two_machines))
    line = table[(table["run"] == "0001_a") & (table["variant"] == "bf16") & (table["metric"] == "size_mb")]
    assert line[["before", "after", "delta", "delta_pct"]].iloc[0].tolist() == [10.0, 5.0, -5.0, -50.0]
    fid = table[(table["variant"] == "int8") & (table["metric"] == "fid")].iloc[0]
    assert fid["delta"] == pytest.approx(3.0)
    assert set(table["variant"]) == {"bf16", "fp16", "int8"}  # never the baseline against itself


def test_delta_latest_keeps_each_machines_newest_run(two_machines: Path) -> None:
    table = delta.delta(reports.load(two_machines), latest_only=True)
    assert set(zip(table["machine"], table["run"], strict=True)) == {
        ("cpu-box", "0002_b"),
        ("gpu-box", "0001_a"),
    }


def test_delta_markdown(two_machines: Path) -> None:
    result = call("delta", two_machines, "--latest")
    assert result.returncode == 0, result.stderr
    assert "## tiny-sd · 64x64/4steps/cfg7.5/b1/euler · rtx3080 · gpu-box · run 0001_a" in result.stdout
    assert "0.08 (-60.0%)" in result.stdout
    assert "| status " in result.stdout


# --- recommend ----------------------------------------------------------------------------------


def test_recommend_takes_the_fastest_that_meets_the_bounds(two_machines: Path) -> None:
    result = recommend.recommend(reports.load(two_machines), "rtx3080", max_fid_increase=1.0)
    [group] = result.groups
    assert group.best is not None and group.best.variant == "fp16"
    assert [c.variant for c in group.ranked] == ["fp16", "fp32"]
    assert group.best.basis == "measured" and group.best.fits == "yes (ran on it)"
    excluded = dict(group.excluded)
    assert "FID +3" in excluded["int8"] and "exceeds +1" in excluded["int8"]


def test_recommend_psnr_bound_and_failure_reasons(two_machines: Path) -> None:
    result = recommend.recommend(reports.load(two_machines), "cpu", min_psnr=50.0)
    [group] = result.groups  # the CPU box, newest run
    assert group.best is not None and group.best.variant == "fp32"  # bf16's 46 dB is too low
    assert "46 dB is below 50 dB" in dict(group.excluded)["bf16"]


def test_recommend_reads_fits_and_projection_columns_when_present(tmp_path: Path) -> None:
    # A CPU machine asked about a GTX 1650: its measured latency is the CPU's, so the projection counts.
    df = reports.load(
        write_run(
            tmp_path / "r.json",
            [row("fp32", 1.0, profile="gtx1650"), row("fp16", 0.9, profile="gtx1650")],
        )
    )
    df["fits"] = pd.array([False, True], dtype="boolean")
    df["projected_latency_s"] = [0.5, 0.3]
    df["est_peak_mem_mib"] = [5000.0, 2600.0]
    result = recommend.recommend(df, "gtx1650")
    [group] = result.groups
    assert group.best is not None and group.best.variant == "fp16"
    assert group.best.basis == "projected" and group.best.latency_s == 0.3
    assert dict(group.excluded)["fp32"] == "does not fit the profile (estimated peak 5000 MiB)"
    assert result.notes == []


def test_recommend_without_fits_says_so_and_marks_the_fit_unknown(tmp_path: Path) -> None:
    path = write_run(tmp_path / "r.json", [row("fp32", 1.0, profile="gtx1650")])
    result = call("recommend", path, "--profile", "gtx1650")
    assert result.returncode == 0, result.stderr
    assert "carry no fits, est_peak_mem_mib, projected_latency_s" in result.stdout
    assert "No variant qualifies." in result.stdout  # measured on cpu, no projection
    assert "no latency for this profile: measured on cpu" in result.stdout


def test_recommend_cli(two_machines: Path) -> None:
    result = call("recommend", two_machines, "--profile", "rtx3080", "--max-fid-increase", "1")
    assert result.returncode == 0, result.stderr
    assert "**Recommended: fp16**" in result.stdout
    assert "Excluded:" in result.stdout


# --- bad input ----------------------------------------------------------------------------------


def test_recommend_unknown_profile_lists_the_known_ones(two_machines: Path) -> None:
    line = one_error_line(call("recommend", two_machines, "--profile", "gtx1650"))
    assert "no rows for profile 'gtx1650'" in line and "cpu, rtx3080" in line
    assert "--profile gtx1650 --benchmark-save=NAME" in line  # the run that makes them


def test_recommend_bad_bound(two_machines: Path) -> None:
    line = one_error_line(call("recommend", two_machines, "--profile", "cpu", "--min-psnr", "lots"))
    assert "--min-psnr" in line and "'lots' is not a number" in line


@pytest.mark.parametrize("command", ["compare", "delta", "recommend"])
def test_no_runs_found(tmp_path: Path, command: str) -> None:
    (tmp_path / "empty").mkdir()
    extra = ["--profile", "cpu"] if command == "recommend" else []
    line = one_error_line(call(command, tmp_path / "empty", *extra))
    assert "no run files" in line


def test_compare_bad_by(two_machines: Path) -> None:
    line = one_error_line(call("compare", two_machines, "--by", "gpu"))
    assert "'gpu'" in line and "profile" in line
