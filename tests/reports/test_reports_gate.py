"""`python -m reports gate`: the noise rule, each regression kind, RUN lookup, and bad input."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers.reports_runs import (
    call,
    ci_main_line,
    ci_newest_main,
    ci_run,
    one_error_line,
    row,
    run_cli,
    write_run,
)

import reports
from reports import gate, thresholds
from reports.errors import ReportError
from reports.gate import Thresholds, Timing, judge_latency, noise_margin

MACHINE_DIR = "Linux-CPython-3.11-64bit"


def base_rows() -> list[dict]:
    return [row("fp32", 1.0, iqr=0.02), row("bf16", 0.6, iqr=0.02), row("int8", 0.5, iqr=0.02)]


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    root = tmp_path / ".benchmarks"
    write_run(root / MACHINE_DIR / "0001_main.json", base_rows(), when="2026-11-20T10:00:00+00:00")
    return root


# --- the noise rule ------------------------------------------------------------------------------


def test_noise_margin_is_the_sum_of_the_two_notch_half_widths() -> None:
    # 1.57 * IQR / sqrt(n) for each side: 1.57 * (0.2/2 + 0.1/1)
    assert noise_margin(0.2, 4, 0.1, 1) == pytest.approx(1.57 * 0.2)


def test_a_run_without_spread_adds_no_margin() -> None:
    assert noise_margin(math.nan, 5, 0.0, 5) == 0.0
    assert noise_margin(0.3, math.nan, 0.3, 0) == 0.0


def verdict(b: tuple[float, ...], c: tuple[float, ...], limit: float = 0.10) -> tuple[bool, bool, bool, bool]:
    """(over, beyond the notches, fastest round slower, regressed) for (median, iqr, rounds, min) pairs."""
    result = judge_latency(Timing(*b), Timing(*c), limit)
    return result.over, result.beyond_notches, result.fastest_slower, result.regressed


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ((1.20, 0.02, 5, 1.18), (True, True, True, True)),  # +20%, tight, every round slower: regression
        ((1.20, 0.40, 5, 1.00), (True, False, False, False)),  # rounds scatter by 40%: within the notches
        ((1.05, 0.00, 5, 1.05), (False, True, False, False)),  # +5% < 10%: under the threshold
        ((0.80, 0.01, 5, 0.79), (False, False, False, False)),  # faster is never a regression
        # The median moved beyond the notches but the fastest round did not: another process
        # slowed some rounds (seen on the shared build machine: bf16 12.65 s -> 20.47 s, min 11.5 -> 10.9).
        ((1.60, 0.05, 5, 0.99), (True, True, False, False)),
    ],
)
def test_latency_needs_threshold_notches_and_fastest_round(
    candidate: tuple[float, ...], expected: tuple[bool, ...]
) -> None:
    assert verdict((1.0, 0.02, 5, 0.98), candidate) == expected


def test_more_rounds_narrow_the_margin() -> None:
    # The same scatter measured over more rounds pins the median better: +20% becomes significant.
    assert verdict((1.0, 0.3, 5, 0.8), (1.2, 0.3, 5, 1.0))[3] is False
    assert verdict((1.0, 0.3, 50, 0.8), (1.2, 0.3, 50, 1.0))[3] is True


def test_a_run_without_a_minimum_is_judged_on_the_median() -> None:
    assert verdict((1.0, 0.02, 5, math.nan), (1.5, 0.02, 5, math.nan))[3] is True


# --- gate() on frames ----------------------------------------------------------------------------


def load_rows(tmp_path: Path, name: str, rows: list[dict]) -> pd.DataFrame:
    return reports.load(write_run(tmp_path / f"{name}.json", rows))


def test_identical_runs_pass(tmp_path: Path) -> None:
    frame = load_rows(tmp_path, "a", base_rows())
    result = gate.gate(frame, frame.copy(), Thresholds())
    assert result.regressions == []
    assert result.matched == 3
    assert {c.figure for c in result.checks} == {"latency_median_s", "peak_ram_mib"}


def test_fifty_percent_slower_fails(tmp_path: Path) -> None:
    baseline = load_rows(tmp_path, "a", base_rows())
    slower = [row("fp32", 1.5, iqr=0.03), row("bf16", 0.6, iqr=0.02), row("int8", 0.5, iqr=0.02)]
    result = gate.gate(baseline, load_rows(tmp_path, "b", slower), Thresholds())
    [check] = result.regressions
    assert (check.key[0], check.key[1], check.figure) == ("tiny-sd", "fp32", "latency_median_s")
    assert check.change == "+50.0%"


def test_status_vram_ram_and_fid_regressions(tmp_path: Path) -> None:
    rows = [
        row("fp32", 1.0, peak_vram_allocated_mib=1000.0, fid=10.0),
        row("bf16", 0.6, peak_ram_mib=540.0),  # +8% RAM: under 10%
        row("int8", 0.5),
    ]
    worse = [
        row("fp32", 1.0, peak_vram_allocated_mib=1060.0, fid=11.5),  # VRAM +6% > 5%; FID +1.5 > 1.0
        row("bf16", 0.6, peak_ram_mib=540.0),
        row("int8", None, status="oom", reason="CUDA out of memory"),
    ]
    result = gate.gate(load_rows(tmp_path, "a", rows), load_rows(tmp_path, "b", worse), Thresholds())
    found = {(c.key[1], c.figure) for c in result.regressions}
    assert found == {("fp32", "peak_vram_mib"), ("fp32", "fid"), ("int8", "status")}
    status = next(c for c in result.regressions if c.figure == "status")
    assert status.change == "ok -> oom" and "CUDA out of memory" in status.note


def test_thresholds_can_be_loosened_or_turned_off(tmp_path: Path) -> None:
    baseline = load_rows(tmp_path, "a", [row("fp32", 1.0, peak_ram_mib=500.0)])
    candidate = load_rows(tmp_path, "b", [row("fp32", 1.3, peak_ram_mib=600.0)])
    assert len(gate.gate(baseline, candidate, Thresholds()).regressions) == 2
    assert gate.gate(baseline, candidate, Thresholds(latency=0.5, ram=None)).regressions == []


def test_a_variant_failing_in_both_runs_is_not_a_regression(tmp_path: Path) -> None:
    failing = [row("fp32", 1.0), row("fp16", None, status="unsupported", reason="needs CUDA")]
    frame = load_rows(tmp_path, "a", failing)
    assert gate.gate(frame, frame.copy(), Thresholds()).regressions == []


def test_rows_on_one_side_are_listed_not_failed(tmp_path: Path) -> None:
    baseline = load_rows(tmp_path, "a", [row("fp32"), row("bf16")])
    candidate = load_rows(tmp_path, "b", [row("fp32"), row("nf4")])
    result = gate.gate(baseline, candidate, Thresholds())
    assert result.regressions == []
    assert [key[1] for key in result.only_baseline] == ["bf16"]
    assert [key[1] for key in result.only_candidate] == ["nf4"]


def test_rows_are_matched_on_profile_too(tmp_path: Path) -> None:
    baseline = load_rows(tmp_path, "a", [row("fp32", profile="cpu")])
    candidate = load_rows(tmp_path, "b", [row("fp32", profile="gtx1650")])
    with pytest.raises(ReportError, match="share no rows"):
        gate.gate(baseline, candidate, Thresholds())


# --- thresholds ----------------------------------------------------------------------------------


def test_threshold_parsing() -> None:
    assert thresholds.percent("10%", "--latency") == pytest.approx(0.10)
    assert thresholds.percent(" 2.5% ", "--vram") == pytest.approx(0.025)
    assert thresholds.percent("off", "--ram") is None
    assert thresholds.absolute("1.0", "--fid", "FID points") == 1.0
    assert thresholds.absolute("OFF", "--fid", "FID points") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [("10", "not a percentage"), ("ten%", "not a number"), ("-5%", ">= 0"), ("nan%", "finite")],
)
def test_bad_percent_thresholds(text: str, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        thresholds.percent(text, "--latency")


# --- the command ---------------------------------------------------------------------------------


def test_identical_candidate_exits_0(storage: Path) -> None:
    result = run_cli("gate", "--baseline", "0001", "--candidate", "main", "--storage", storage)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No regressions." in result.stdout


def test_slower_candidate_exits_1_with_a_table(storage: Path) -> None:
    slower = [row("fp32", 1.5, iqr=0.03), row("bf16", 0.6), row("int8", 0.5)]
    write_run(storage / MACHINE_DIR / "0002_pr.json", slower, when="2026-11-21T10:00:00+00:00")
    result = run_cli("gate", "--baseline", "main", "--candidate", "0002_pr", "--storage", storage)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "## Regressions (1)" in result.stdout
    assert "| tiny-sd | fp32" in result.stdout and "+50.0%" in result.stdout
    assert result.stderr == ""


def test_run_given_as_a_file_and_report_written(storage: Path, tmp_path: Path) -> None:
    path = storage / MACHINE_DIR / "0001_main.json"
    out = tmp_path / "gate.md"
    result = call("gate", "--baseline", path, "--candidate", path, "--output", out)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == result.stdout


def test_a_name_saved_twice_means_the_newest(storage: Path) -> None:
    write_run(storage / MACHINE_DIR / "0002_main.json", [row("fp32", 3.0)], when="2026-11-21T10:00:00+00:00")
    result = call("gate", "--baseline", "0001", "--candidate", "main", "--storage", storage)
    assert result.returncode == 1
    assert "0002_main.json" in result.stdout


def test_runs_are_looked_up_in_every_storage_given(storage: Path, tmp_path: Path) -> None:
    other = tmp_path / "ci-store"
    write_run(other / "gpu-box" / "0007_nightly.json", base_rows(), when="2026-11-22T10:00:00+00:00")
    result = call(
        "gate", "--baseline", "main", "--candidate", "nightly", "--storage", storage, "--storage", other
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_unmatched_rows_are_listed(storage: Path) -> None:
    write_run(storage / MACHINE_DIR / "0002_pr.json", [row("fp32"), row("nf4")])
    result = call("gate", "--baseline", "main", "--candidate", "pr", "--storage", storage)
    assert result.returncode == 0
    assert "## Only in the baseline (2)" in result.stdout
    assert "## Only in the candidate (1)" in result.stdout


# --- bad input: exit 2, one line ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--latency", "10", "'10' is not a percentage"),
        ("--vram", "lots%", "'lots%' is not a number"),
        ("--ram", "-1%", ">= 0"),
        ("--fid", "5%", "not a percentage"),
        ("--fid", "x", "'x' is not a number"),
    ],
)
def test_unparseable_threshold(storage: Path, option: str, value: str, expected: str) -> None:
    result = call(
        "gate", "--baseline", "main", "--candidate", "main", "--storage", storage, f"{option}={value}"
    )
    line = one_error_line(result)
    assert option in line and expected in line


def test_no_runs_found(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    line = one_error_line(
        call("gate", "--baseline", "a", "--candidate", "b", "--storage", tmp_path / "empty")
    )
    assert "no run files" in line and "'a'" in line


def test_unknown_run_names_the_runs_there(storage: Path) -> None:
    line = one_error_line(call("gate", "--baseline", "nope", "--candidate", "main", "--storage", storage))
    assert "no run 'nope'" in line and "0001_main" in line


def test_missing_run_file(tmp_path: Path) -> None:
    line = one_error_line(call("gate", "--baseline", tmp_path / "x.json", "--candidate", tmp_path / "x.json"))
    assert "no such run file" in line


def test_ambiguous_run_number_across_machines(storage: Path) -> None:
    write_run(storage / "other-machine" / "0001_main.json", base_rows(), when="2026-11-22T10:00:00+00:00")
    line = one_error_line(call("gate", "--baseline", "0001", "--candidate", "0001", "--storage", storage))
    assert "matches 2 runs" in line and "give the file path" in line


@pytest.mark.parametrize(("schema", "word"), [(2, "newer"), (0, "older")])
def test_run_of_another_schema(storage: Path, schema: int, word: str) -> None:
    path = storage / MACHINE_DIR / "0002_other.json"
    doc = json.loads((storage / MACHINE_DIR / "0001_main.json").read_text())
    doc["machine_info"]["diffbench"]["schema"] = schema
    path.write_text(json.dumps(doc))
    line = one_error_line(call("gate", "--baseline", "main", "--candidate", "other", "--storage", storage))
    assert f"diffbench schema {schema} is {word}" in line and "0002_other.json" in line


def test_runs_that_share_no_rows(storage: Path) -> None:
    write_run(storage / MACHINE_DIR / "0002_sdxl.json", [row("fp32", model="sdxl")])
    line = one_error_line(call("gate", "--baseline", "main", "--candidate", "sdxl", "--storage", storage))
    assert "share no rows" in line and "sdxl" in line


# --- the between-run noise term (history) ----------------------------------------------------------


def history_storage(root: Path, medians: list[float]) -> Path:
    """Honest repeats of one row whose medians drift between runs (each run tight within itself)."""
    for number, median in enumerate(medians, start=1):
        rows = [row("fp32", median, iqr=0.005 * median), row("bf16", 0.6, iqr=0.003)]
        write_run(
            root / MACHINE_DIR / f"{number:04d}_rep.json", rows, when=f"2026-11-2{number}T10:00:00+00:00"
        )
    return root


def noise_frame(medians: list[float], hours: list[int] | None = None) -> pd.DataFrame:
    """One row's runs on machine m, run i saved at hour hours[i] (default: in list order)."""
    hours = hours or list(range(len(medians)))
    return pd.DataFrame(
        {
            "model": "tiny-sd",
            "variant": "fp32",
            "workload": "w",
            "profile": "cpu",
            "status": "ok",
            "machine": "m",
            "run": [f"{i + 1:04d}_main" for i in range(len(medians))],
            "datetime": pd.to_datetime([f"2026-11-01T{h:02d}:00:00Z" for h in hours]),
            "latency_median_s": medians,
        }
    )


KEY = [("tiny-sd", "fp32", "w", "cpu")]


def test_between_run_noise_is_the_mad_of_consecutive_run_differences() -> None:
    from reports.history import between_run_noise

    medians = [1.0, 1.1, 0.9, 1.05]
    noise = between_run_noise(noise_frame(medians), KEY, "m", z=4.0)
    assert noise is not None and noise.runs == 4 and noise.rows == 1
    steps = pd.Series(medians).map(math.log).diff().dropna().abs()
    # sigma of one run: the differences of two runs carry it twice, hence / sqrt(2).
    assert noise.sigma == pytest.approx(1.4826 * steps.median() / math.sqrt(2.0))
    assert noise.allowance == pytest.approx(4.0 * noise.sigma * math.sqrt(2.0))
    # Another machine's runs, or too few runs, give no estimate rather than a made-up one.
    assert between_run_noise(noise_frame(medians), KEY, "other", z=4.0) is None
    assert between_run_noise(noise_frame(medians[:3]), KEY, "m", z=4.0) is None


def test_runs_are_differenced_in_time_order_not_file_order() -> None:
    from reports.history import between_run_noise

    # Saved at hours 0, 2, 1, 3: in time order the medians are 1.0, 1.0, 0.5, 0.5 (one step).
    noise = between_run_noise(noise_frame([1.0, 0.5, 1.0, 0.5], hours=[0, 2, 1, 3]), KEY, "m", z=4.0)
    assert noise is not None and noise.sigma == 0.0


def test_a_level_shift_in_the_history_does_not_inflate_the_noise() -> None:
    from reports.history import between_run_noise

    # A 30% speed-up merged half-way: the pooled spread of log medians would be ~18%.
    medians = [1.0, 1.01, 0.99, 1.0, 0.70, 0.707, 0.693, 0.70]
    assert pd.Series(medians).map(math.log).std() > 0.15
    noise = between_run_noise(noise_frame(medians), KEY, "m", z=4.0)
    assert noise is not None and noise.sigma < 0.015


def test_history_excuses_drift_the_machine_shows_between_honest_runs(tmp_path: Path) -> None:
    # Medians drift +-8% between runs with a 0.5% IQR inside each: the two-run rule alone fails
    # the 1.00 -> 1.15 pair; with the history it is within this machine's between-run noise.
    storage = history_storage(tmp_path / ".benchmarks", [1.0, 1.15, 0.92, 1.08, 0.95, 1.1])
    alone = call("gate", "--baseline", "0001", "--candidate", "0002", "--storage", storage, "--no-history")
    assert alone.returncode == 1, alone.stdout
    judged = call("gate", "--baseline", "0001", "--candidate", "0002", "--storage", storage)
    assert judged.returncode == 0, judged.stdout
    assert "between-run noise from 5 runs" in judged.stdout  # the candidate is not its own history
    assert "inside this machine's between-run noise" in judged.stdout


def test_history_still_catches_a_fifty_percent_regression(tmp_path: Path) -> None:
    storage = history_storage(tmp_path / ".benchmarks", [1.0, 1.05, 0.97, 1.03, 0.99])
    slower = [row("fp32", 1.5, iqr=0.0075), row("bf16", 0.6, iqr=0.003)]
    write_run(storage / MACHINE_DIR / "0006_pr.json", slower, when="2026-11-29T10:00:00+00:00")
    result = call("gate", "--baseline", "0001", "--candidate", "0006_pr", "--storage", storage)
    assert result.returncode == 1, result.stdout
    assert "## Regressions (1)" in result.stdout and "| tiny-sd | fp32" in result.stdout


def test_too_little_history_says_so_and_judges_on_the_two_runs(storage: Path) -> None:
    slower = [row("fp32", 1.5, iqr=0.03), row("bf16", 0.6), row("int8", 0.5)]
    write_run(storage / MACHINE_DIR / "0002_pr.json", slower, when="2026-11-21T10:00:00+00:00")
    result = call("gate", "--baseline", "main", "--candidate", "0002_pr", "--storage", storage)
    assert result.returncode == 1
    assert "no between-run noise term" in result.stdout


def test_bad_noise_sigmas_is_one_line(storage: Path) -> None:
    result = run_cli(
        "gate", "--baseline", "main", "--candidate", "main", "--storage", storage, "--noise-sigmas", "x"
    )
    assert "--noise-sigmas 'x' is not a number" in one_error_line(result)


# --- the CI scenario: a main line and a pull request pushed twice (docs/ci/github-workflow.yml) ---


def gate_pr(storage: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The workflow's gate step: the newest main run against the newest pr42 run, one shared storage."""
    return call("gate", "--baseline", "main", "--candidate", "pr42", "--storage", storage, *extra)


def scaled(factors: dict[str, float], by: float) -> dict[str, float]:
    return {variant: factor * by for variant, factor in factors.items()}


def test_a_twenty_percent_pr_fails_on_its_first_and_second_push(tmp_path: Path) -> None:
    storage = tmp_path / "store"
    last = ci_main_line(storage)
    slower = scaled(ci_newest_main(storage), 1.20)
    ci_run(storage, last + 1, "pr42", slower)
    first = gate_pr(storage)
    assert first.returncode == 1, first.stdout
    assert "0009_pr42.json" in first.stdout and "## Regressions (2)" in first.stdout
    # The same code pushed again: the first push must not become the noise that excuses it.
    ci_run(storage, last + 2, "pr42", scaled(slower, 1.003))
    second = gate_pr(storage)
    assert second.returncode == 1, second.stdout
    assert "0010_pr42.json" in second.stdout and "## Regressions (2)" in second.stdout
    assert "between-run noise from 8 runs named 'main'" in second.stdout


def test_a_two_percent_pr_passes(tmp_path: Path) -> None:
    storage = tmp_path / "store"
    last = ci_main_line(storage)
    ci_run(storage, last + 1, "pr42", scaled(ci_newest_main(storage), 1.02))
    assert gate_pr(storage).returncode == 0
    # Even with a 1% threshold, +2% is inside the main line's own run-to-run drift.
    tight = gate_pr(storage, "--latency", "1%")
    assert tight.returncode == 0, tight.stdout
    assert "inside this machine's between-run noise" in tight.stdout


def test_a_speed_up_merged_earlier_does_not_blind_the_gate(tmp_path: Path) -> None:
    storage = tmp_path / "store"
    last = ci_main_line(storage, levels=(1.0,) * 4 + (0.7,) * 4)  # a 30% speed-up merged at run 5
    ci_run(storage, last + 1, "pr42", scaled(ci_newest_main(storage), 1.20))
    result = gate_pr(storage)
    assert result.returncode == 1, result.stdout
    assert "## Regressions (2)" in result.stdout


def test_the_history_is_the_baseline_line_or_the_runs_named(tmp_path: Path) -> None:
    storage = tmp_path / "store"
    for number in range(1, 7):
        ci_run(storage, number, f"nightly-{number}", {"fp32": 1.0 + 0.01 * (number % 2)})
    alone = call("gate", "--baseline", "nightly-1", "--candidate", "nightly-6", "--storage", storage)
    assert alone.returncode == 0, alone.stdout
    assert "no between-run noise term" in alone.stdout and "runs named 'nightly-1'" in alone.stdout
    named = call(
        "gate",
        "--baseline",
        "nightly-1",
        "--candidate",
        "nightly-6",
        "--storage",
        storage,
        "--history-runs",
        "nightly-*",
    )
    assert named.returncode == 0, named.stdout
    assert "between-run noise from 5 runs named 'nightly-*'" in named.stdout  # the candidate excluded


def test_an_empty_history_pattern_is_one_line(tmp_path: Path) -> None:
    # Checked with the thresholds, before any run is looked up (there is no pr42 here).
    storage = tmp_path / "store"
    ci_main_line(storage)
    line = one_error_line(gate_pr(storage, "--history-runs", " "))
    assert "--history-runs ' '" in line and "glob" in line


# --- contended rows (another process took a share of the CPU while the row was timed) -------------


def test_contention_columns_load_and_are_blank_for_older_runs(tmp_path: Path) -> None:
    # The fields as bench/instruments/contention.py writes them (load_avg_1m read as load_avg).
    busy = row("fp32", contended=True, load_avg_1m=3.5, other_cpu_pct=42.0, torch_threads=1)
    frame = reports.load(
        [
            write_run(tmp_path / "new.json", [busy]),
            write_run(tmp_path / "old.json", [row("fp32")], when="2026-11-01T10:00:00+00:00"),
        ]
    )
    new, old = frame.set_index("run").loc["new"], frame.set_index("run").loc["old"]
    assert (new["contended"], new["load_avg"], new["other_cpu_pct"], new["torch_threads"]) == (
        True,
        3.5,
        42.0,
        1,
    )
    assert pd.isna(old["contended"]) and pd.isna(old["load_avg"]) and pd.isna(old["other_cpu_pct"])
    assert str(frame["contended"].dtype) == "boolean" and str(frame["load_avg"].dtype) == "float64"


def test_a_contended_regression_says_so(storage: Path) -> None:
    busy = row("fp32", 1.5, iqr=0.03, contended=True, other_cpu_pct=55.0, peak_ram_mib=600.0)
    write_run(storage / MACHINE_DIR / "0002_pr.json", [busy, row("bf16", 0.6), row("int8", 0.5)])
    result = call("gate", "--baseline", "main", "--candidate", "pr", "--storage", storage)
    assert result.returncode == 1, result.stdout  # the flag explains, it does not excuse
    lines = result.stdout.splitlines()
    [header] = [line for line in lines if line.startswith("| model")]
    assert header.rstrip("|").split("|")[-1].strip() == "contended"
    cells = {
        line.split("|")[5].strip(): line.rstrip("|").split("|")[-1].strip()
        for line in lines
        if line.startswith("| tiny-sd | fp32")
    }
    # Latency is what other processes slow down; a memory peak is the row's own.
    assert cells == {"latency_median_s": "candidate", "peak_ram_mib": ""}
    assert "- note: contended: 1 regressed row was timed while other processes" in result.stdout


def test_a_quiet_regression_has_no_contended_column(storage: Path) -> None:
    slower = [row("fp32", 1.5, iqr=0.03, contended=False), row("bf16", 0.6), row("int8", 0.5)]
    write_run(storage / MACHINE_DIR / "0002_pr.json", slower, when="2026-11-21T10:00:00+00:00")
    result = call("gate", "--baseline", "main", "--candidate", "pr", "--storage", storage)
    assert result.returncode == 1
    assert "contended" not in result.stdout
