"""The gate's energy check (`--energy 10%`): energy_j per generation, compared only between rows
measured with the same counters; null on either side is "not compared", with why, never a verdict."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers.reports_runs import call, one_error_line, row, write_run

import reports
from reports import gate
from reports.gate import Thresholds

GPU = "nvml:gpu0"
NO_COUNTER = "no counter to read: the run uses no GPU, and no RAPL (/sys/class/powercap missing)"


def measured(variant: str, joules: float, counters: str = GPU) -> dict:
    return row(
        variant,
        1.0,
        energy_j=joules,
        images_per_kwh=3.6e6 / joules,
        energy_counters=counters,
        energy_reason=None,
    )


def unmeasured(variant: str, reason: str = NO_COUNTER) -> dict:
    return row(variant, 1.0, energy_j=None, images_per_kwh=None, energy_counters=None, energy_reason=reason)


def load(tmp_path: Path, name: str, rows: list[dict]) -> pd.DataFrame:
    return reports.load(write_run(tmp_path / f"{name}.json", rows))


def energy_checks(result: gate.GateResult) -> dict[str, gate.Check]:
    return {check.key[1]: check for check in result.checks if check.figure == "energy_j"}


def test_more_energy_than_the_threshold_fails_and_less_passes(tmp_path: Path) -> None:
    baseline = load(tmp_path, "a", [measured("fp32", 100.0), measured("bf16", 50.0)])
    candidate = load(tmp_path, "b", [measured("fp32", 111.0), measured("bf16", 54.0)])  # +11%, +8%
    result = gate.gate(baseline, candidate, Thresholds())
    checks = energy_checks(result)
    assert checks["fp32"].regressed and checks["fp32"].change == "+11.0%" and checks["fp32"].limit == "+10%"
    assert not checks["bf16"].regressed
    assert [(c.key[1], c.figure) for c in result.regressions] == [("fp32", "energy_j")]
    assert result.not_compared == []
    # A looser threshold, or none, and the same rows pass.
    assert gate.gate(baseline, candidate, Thresholds(energy=0.2)).regressions == []
    off = gate.gate(baseline, candidate, Thresholds(energy=None))
    assert off.regressions == [] and energy_checks(off) == {} and off.not_compared == []


def test_null_energy_on_either_side_is_not_compared_with_the_reason(tmp_path: Path) -> None:
    baseline = load(tmp_path, "a", [measured("fp32", 100.0), unmeasured("bf16")])
    candidate = load(
        tmp_path, "b", [unmeasured("fp32", "nvml:gpu0 did not advance"), measured("bf16", 900.0)]
    )
    result = gate.gate(baseline, candidate, Thresholds())
    assert energy_checks(result) == {} and result.regressions == []
    reasons = {item.key[1]: item.reason for item in result.not_compared}
    assert reasons == {"fp32": "candidate: nvml:gpu0 did not advance", "bf16": f"baseline: {NO_COUNTER}"}
    text = gate.to_markdown(result, "a", "b", Thresholds())
    assert "## Energy not compared (2)" in text and "No regressions." in text
    assert f"- baseline: {NO_COUNTER}: tiny-sd / bf16" in text


def test_other_counters_are_not_compared(tmp_path: Path) -> None:
    # RAPL counts the whole CPU package: more joules, not a regression of the variant.
    baseline = load(tmp_path, "a", [measured("fp32", 100.0)])
    candidate = load(tmp_path, "b", [measured("fp32", 180.0, counters=f"{GPU}+rapl:cpu0")])
    result = gate.gate(baseline, candidate, Thresholds())
    assert result.regressions == []
    [item] = result.not_compared
    assert item.reason == f"other counters ({GPU} vs {GPU}+rapl:cpu0): not the same energy"


def test_runs_saved_before_energy_are_not_compared_and_say_so(tmp_path: Path) -> None:
    old = load(tmp_path, "a", [row("fp32", 1.0)])  # no energy keys at all
    result = gate.gate(old, load(tmp_path, "b", [measured("fp32", 100.0)]), Thresholds())
    [item] = result.not_compared
    assert item.reason == "baseline: no energy recorded (a run saved before energy_j)"


def test_a_failed_row_has_no_energy_verdict(tmp_path: Path) -> None:
    baseline = load(tmp_path, "a", [measured("fp32", 100.0)])
    candidate = load(tmp_path, "b", [row("fp32", None, status="oom", reason="CUDA out of memory")])
    result = gate.gate(baseline, candidate, Thresholds())
    assert [c.figure for c in result.regressions] == ["status"] and result.not_compared == []


def test_the_command_gates_energy_and_takes_energy_off(tmp_path: Path) -> None:
    storage = tmp_path / ".benchmarks"
    write_run(storage / "m" / "0001_main.json", [measured("fp32", 100.0)], when="2026-11-20T10:00:00+00:00")
    write_run(storage / "m" / "0002_pr.json", [measured("fp32", 130.0)], when="2026-11-21T10:00:00+00:00")
    common = ("gate", "--baseline", "main", "--candidate", "pr", "--storage", storage, "--no-history")
    result = call(*common)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "| energy_j |" in result.stdout and "+30.0%" in result.stdout and "energy +10%" in result.stdout
    assert call(*common, "--energy", "50%").returncode == 0
    quiet = call(*common, "--energy", "off")
    assert quiet.returncode == 0 and "energy off" in quiet.stdout


@pytest.mark.parametrize(
    ("value", "expected"), [("10", "'10' is not a percentage"), ("x%", "'x%' is not a number")]
)
def test_a_bad_energy_threshold_is_one_line_exit_2(tmp_path: Path, value: str, expected: str) -> None:
    storage = tmp_path / ".benchmarks"
    write_run(storage / "m" / "0001_main.json", [measured("fp32", 100.0)])
    line = one_error_line(
        call("gate", "--baseline", "main", "--candidate", "main", "--storage", storage, f"--energy={value}")
    )
    assert "--energy" in line and expected in line
