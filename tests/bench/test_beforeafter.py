"""The before/after layout (`reports beforeafter`), GPU utilisation sampling, and the study end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers.reports_runs import call, row, write_run

import reports
from reports.beforeafter import pairs, table

REPO = Path(__file__).resolve().parents[2]


def profile_rows(profile: str, device: str, fp32: float, bf16: float, **bf16_extra) -> list[dict]:
    projected = profile not in ("cpu", "host")
    common = {"profile": profile, "device": device, "est_peak_mem_mib": 140.0}
    return [
        row("fp32", 1.3, projected_latency_s=fp32 if projected else None, gpu_util_pct=None, **common),
        row("bf16", 0.65, projected_latency_s=bf16 if projected else None, **{**common, **bf16_extra}),
    ]


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_run(root / "m-cpu" / "0001_ba.json", profile_rows("cpu", "cpu", 1.3, 0.65, psnr_vs_baseline=47.0))
    write_run(root / "m-rtx3080" / "0001_ba.json", profile_rows("rtx3080", "cpu", 0.004, 0.001))
    return root


def test_before_after_per_profile_uses_measured_or_projected_time(runs: Path) -> None:
    long = table(pairs(reports.load([runs]), "bf16"), "profile")
    times = long[long["figure"] == "generation time (s)"].set_index("profile")
    assert times.loc["cpu", "before"] == pytest.approx(1.3) and times.loc["cpu", "basis"] == "measured"
    assert (
        times.loc["rtx3080", "after"] == pytest.approx(0.001) and times.loc["rtx3080", "basis"] == "projected"
    )
    assert times.loc["rtx3080", "delta_pct"] == pytest.approx(-75.0)
    hundred = long[long["figure"] == "time for 100 prompts (s)"].set_index("profile")
    assert hundred.loc["cpu", "after"] == pytest.approx(65.0)  # 100 x the median, labelled as such
    vram = long[long["figure"] == "peak VRAM (MiB)"].set_index("profile")
    assert set(vram["basis"]) == {"estimated"}  # nothing measured it on a GPU


def test_command_writes_tables_plot_and_a_recommendation_per_profile(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = call("beforeafter", runs, "--recipe", "bf16", "--output-dir", out)
    assert result.returncode == 0, result.stderr
    text = (out / "beforeafter.md").read_text()
    assert "## tiny-sd · 64x64/4steps/cfg7.5/b1/euler · profile cpu" in text
    assert "## tiny-sd · 64x64/4steps/cfg7.5/b1/euler · profile rtx3080" in text
    assert "| generation time (s)      |             1.3 |           0.65 | -50.0% | measured" in text
    recommendations = text[text.index("## Recommendation per profile") :]
    assert "| cpu       | tiny-sd | 64x64/4steps/cfg7.5/b1/euler | bf16" in recommendations
    assert "| rtx3080   |" in recommendations
    assert (out / "beforeafter.png").read_bytes()[:4] == b"\x89PNG"


def test_a_recipe_not_in_the_runs_is_one_line_naming_those_there(runs: Path) -> None:
    result = call("beforeafter", runs, "--recipe", "int8")
    assert result.returncode == 2
    assert "no rows of recipe 'int8' in these runs; variants there: fp32, bf16" in result.stderr


def test_a_recipe_without_its_baseline_says_how_to_get_one(tmp_path: Path) -> None:
    run = write_run(tmp_path / "0001_x.json", [row("bf16", 0.5)])
    result = call("beforeafter", run, "--recipe", "bf16")
    assert result.returncode == 2 and "--variants fp32,RECIPE" in result.stderr


def test_gpu_utilisation_is_null_on_cpu_not_invented() -> None:
    from bench.instruments.memory import CudaPeak

    peak = CudaPeak(torch.device("cpu"))
    peak.sample_nvml()
    assert peak.read()["gpu_util_pct"] is None


def test_gpu_util_column_is_read(tmp_path: Path) -> None:
    run = write_run(tmp_path / "0001_x.json", [row("fp32", gpu_util_pct=87.5)])
    frame = reports.load([run])
    assert frame["gpu_util_pct"].iloc[0] == 87.5 and pd.api.types.is_float_dtype(frame["gpu_util_pct"])


def test_beforeafter_study_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "study"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DIFFBENCH_CACHE": str(tmp_path / "cache")}
    command = [
        sys.executable,
        "-m",
        "bench.studies",
        "beforeafter",
        "--recipe",
        "BF16",
        "--profiles",
        "cpu,rtx3080",
    ]
    command += [
        "--rounds",
        "1",
        "--output-dir",
        str(out),
        "--",
        "--resolution",
        "32",
        "--steps",
        "2",
        "--warmup",
        "0",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    text = (out / "beforeafter.md").read_text()
    assert "# Before / after: bf16" in text  # the canonical recipe
    assert "profile rtx3080" in text and "projected" in text  # no RTX 3080 here: its time is projected
    assert "## Recommendation per profile" in text
    assert (out / "beforeafter.png").stat().st_size > 1000


def test_beforeafter_study_refuses_the_baseline_as_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    # The study's own entry point (`python -m bench.studies`), in this process: it stops at the
    # option, before any run (the end-to-end test above is the subprocess).
    from bench.studies.cli import main

    assert main(["beforeafter", "--recipe", "fp32"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error: --recipe 'fp32' is the baseline itself")
    assert "Traceback" not in err
