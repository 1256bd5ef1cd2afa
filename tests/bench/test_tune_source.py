"""tune's timing source: the real suite in a subprocess, its saved run read back, and stopping it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from helpers.sigint import ctrl_c_raises

from bench.tune.errors import BudgetExpired, TuneError
from bench.tune.search import _MemoryAwareSource
from bench.tune.suite_source import SuiteTimingSource, interleaved_units, read_measurements

UNSUPPORTED = "trt(precision=int8,max_size=512)"  # commas inside the recipe; refused on any device


def _source(tmp_path: Path, *options: str, **settings: Any) -> SuiteTimingSource:
    suite_options = [
        "--model",
        "tiny-sd",
        "--device",
        "cpu",
        "--cache-dir",
        str(tmp_path / "cache"),
        *options,
    ]
    return SuiteTimingSource(suite_options=suite_options, storage=tmp_path / "runs", **settings)


def _no_children_left() -> bool:
    return not psutil.Process().children(recursive=True)


# -- the work a stage is (the race's cost model scales it) ---------------------------------------


def test_a_stage_is_counted_as_bench_interleave_runs_it() -> None:
    # Reloaded (tests/bench/test_interleave.py counts the loads): R loads, one first call,
    # R - 1 re-warms and R timed rounds. Resident: one load, the first call, the warm-ups, R rounds.
    assert [interleaved_units(r, "reload", 0) for r in (1, 2, 4)] == [3, 6, 12]
    assert [interleaved_units(r, "resident", 1) for r in (1, 2, 4)] == [4, 5, 7]


def test_the_mode_follows_the_memory_estimates(tmp_path: Path) -> None:
    source = _MemoryAwareSource(_source(tmp_path), {"fp32": 4000.0, "bf16": 2000.0}, limit_mib=7000.0)
    assert source.work_units(["bf16"], 2) == 2 * interleaved_units(2, "resident", 1)  # 6 GB fit
    assert source.work_units(["bf16", "bf16+int8"], 2) == 3 * interleaved_units(2, "reload", 0)  # 8 GB do not
    assert source.source.interleave == "reload" and source.source.warmup == 0


# -- the real suite -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("tune-source")
    lines: list[str] = []
    source = _source(tmp_path, on_progress=lines.append)
    measured = source.measure(["bf16", "int8", UNSUPPORTED], rounds=2, label="pilot 1")
    source.progress_seen = lines  # type: ignore[attr-defined]
    return source, measured


def test_every_variant_gets_paired_rounds_and_a_psnr(pilot) -> None:
    source, measured = pilot
    assert set(measured) == {"fp32", "bf16", "int8", UNSUPPORTED}
    run = Path(measured["fp32"].run)
    assert run.name.endswith("_tune-pilot-1.json") and run.is_relative_to(source.storage)
    document = json.loads(run.read_text())
    data = {b["extra_info"]["variant"]: b["stats"]["data"] for b in document["benchmarks"]}
    for recipe in ("bf16", "int8"):
        measurement = measured[recipe]
        assert measurement.ok and measurement.rounds == 2 and len(measurement.speedups) == 2
        # round k of the baseline over round k of the candidate
        assert measurement.speedups == pytest.approx(
            [b / c for b, c in zip(data["fp32"], data[recipe], strict=True)]
        )
        assert measurement.psnr_db is not None and measurement.psnr_db > 0
        assert measurement.median_s is not None and measurement.median_s > 0
        assert measurement.step_median_ms is not None and measurement.peak_ram_mib is not None
        assert measurement.build_s is not None and measurement.cache_hit is False
    baseline = measured["fp32"]
    assert baseline.ok and baseline.speedups == (1.0, 1.0) and baseline.psnr_db is None


def test_an_unsupported_recipe_gets_its_status(pilot) -> None:
    _, measured = pilot
    refused = measured[UNSUPPORTED]
    assert refused.status == "unsupported" and refused.reason.startswith(UNSUPPORTED)
    assert refused.speedups == () and refused.rounds == 0


def test_quiet_output_goes_to_a_log(pilot) -> None:
    source, _ = pilot
    log = source.storage / "tune-pilot-1.log"
    assert "passed" in log.read_text()


def test_the_suites_progress_lines_reach_the_search_as_they_come(pilot) -> None:
    source, _ = pilot
    lines = source.progress_seen
    assert lines and all(line.startswith("[diffbench] ") for line in lines)
    # A line per phase of each variant: the interleaved rounds of bf16 among them.
    assert any("bf16" in line and "round" in line for line in lines)
    assert all(line in (source.storage / "tune-pilot-1.log").read_text() for line in lines)


def test_a_deadline_already_past_starts_nothing(tmp_path: Path) -> None:
    source = _source(tmp_path, deadline=time.monotonic() - 1)
    with pytest.raises(BudgetExpired):
        source.measure(["bf16"], rounds=1, label="late")
    assert _no_children_left() and not list(tmp_path.rglob("*.json"))


def test_a_deadline_passing_mid_run_stops_the_suite(tmp_path: Path) -> None:
    started = time.monotonic()
    source = _source(tmp_path, deadline=started + 2)
    with pytest.raises(BudgetExpired):
        source.measure(["bf16", "int8"], rounds=50, label="budget")
    assert time.monotonic() - started < 15  # stopped, not run to its end
    assert _no_children_left() and not list(tmp_path.rglob("*.json"))


def test_ctrl_c_stops_the_suite_and_is_raised_again(tmp_path: Path) -> None:
    source = _source(tmp_path)
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    with ctrl_c_raises():
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                source.measure(["bf16"], rounds=50, label="interrupted")
        finally:
            timer.cancel()
    assert _no_children_left() and not list(tmp_path.rglob("*.json"))


def test_a_run_that_saves_nothing_is_one_line_with_the_log_tail(tmp_path: Path) -> None:
    source = SuiteTimingSource(suite_options=["--model", "no-such-model"], storage=tmp_path / "runs")
    with pytest.raises(TuneError, match=r"saved no results.*no-such-model") as error:
        source.measure(["bf16"], rounds=1, label="bad")
    assert "\n" not in str(error.value) and "tune-bad.log" in str(error.value)


def test_a_run_that_dies_makes_failed_rows_and_the_search_goes_on(tmp_path: Path, monkeypatch) -> None:
    # A suite killed mid-run (the kernel's OOM killer: exit status -9) saves nothing; that is a
    # failure of the stage's variants, not bad input.
    source = SuiteTimingSource(suite_options=["--model", "tiny-sd"], storage=tmp_path / "runs")
    monkeypatch.setattr(SuiteTimingSource, "_run", lambda self, command, log, label: -9)
    measured = source.measure(["bf16", "int8"], rounds=1, label="killed")
    assert set(measured) == {"fp32", "bf16", "int8"}
    assert all(m.status == "error" and "exit status -9" in m.reason for m in measured.values())


# -- reading a saved run ------------------------------------------------------------------------


def _row(variant: str, data: list[float] | None, **info: Any) -> dict[str, Any]:
    extra = {"variant": variant, "status": "ok", "reason": "", "workload": "64x64/4steps/cfg7.5/b1/euler"}
    row: dict[str, Any] = {"extra_info": {**extra, **info}}
    if data is not None:
        row["stats"] = {"data": data, "median": sorted(data)[len(data) // 2]}
    return row


def _write(tmp_path: Path, timed: list[dict[str, Any]], failed: list[dict[str, Any]] = ()) -> Path:
    path = tmp_path / "0001_tune-x.json"
    path.write_text(json.dumps({"benchmarks": timed, "diffbench": {"schema": 1, "rows": list(failed)}}))
    return path


def test_reading_a_hand_made_run(tmp_path: Path) -> None:
    run = _write(
        tmp_path,
        [
            _row("fp32", [0.2, 0.4, 0.3], fid=10.0, profile="gtx1650", fits_profiles={"gtx1650": True}),
            _row(
                "int8",
                [0.1, 0.1, 0.3],
                psnr_vs_baseline=float("inf"),
                fid=12.5,
                profile="gtx1650",
                fits_profiles={"gtx1650": False, "rtx3080": True},
                fits=True,
                peak_vram_allocated_mib=100.0,
                ram_source="rss-sampled/set",
            ),
            _row(
                "ort",
                [0.4, 0.8, 0.6],
                profile="cpu",
                fits=True,
                vram_source="nvml-device-delta",
                peak_vram_allocated_mib=1.0,
                peak_vram_nvml_mib=300.0,
                build_s=2.5,
                cache_hit=True,
            ),
        ],
        [_row("nf4", None, status="oom", reason="out of memory at 3900 MiB")],
    )
    measured = read_measurements(run, ["fp32", "int8", "ort", "nf4", "bnb8"], "fp32")
    int8 = measured["int8"]
    assert int8.speedups == pytest.approx((2.0, 4.0, 1.0)) and int8.speedup == pytest.approx(2.0)
    assert int8.psnr_db == float("inf") and int8.fid_increase == pytest.approx(2.5)
    assert int8.fits is False  # its own profile's entry, not the row's other cards
    assert int8.peak_vram_mib == 100.0 and int8.run == str(run)
    ort = measured["ort"]
    assert ort.speedups == pytest.approx((0.5, 0.5, 0.5)) and ort.fits is True
    assert ort.peak_vram_mib == 300.0 and ort.build_s == 2.5 and ort.cache_hit is True
    # A resident interleaved set's rows share one peak (ram_source ends in /set); ort's says nothing.
    assert int8.peak_is_set is True and ort.peak_is_set is None
    assert measured["nf4"].status == "oom" and measured["nf4"].reason == "out of memory at 3900 MiB"
    assert measured["bnb8"].status == "error" and "no row for bnb8" in measured["bnb8"].reason
    assert measured["fp32"].speedups == (1.0, 1.0, 1.0) and measured["fp32"].baseline_fid == 10.0


def test_a_failed_baseline_leaves_nothing_to_pair(tmp_path: Path) -> None:
    run = _write(tmp_path, [_row("bf16", [0.1, 0.1])], [_row("fp32", None, status="oom", reason="too big")])
    measured = read_measurements(run, ["fp32", "bf16"], "fp32")
    assert measured["fp32"].status == "oom"
    assert measured["bf16"].status == "error" and "baseline fp32" in measured["bf16"].reason
    assert "too big" in measured["bf16"].reason


def test_a_run_of_two_workloads_or_a_damaged_file_is_refused(tmp_path: Path) -> None:
    run = _write(
        tmp_path, [_row("fp32", [0.1]), _row("bf16", [0.1], workload="128x128/4steps/cfg7.5/b1/euler")]
    )
    with pytest.raises(TuneError, match="2 workloads"):
        read_measurements(run, ["fp32", "bf16"], "fp32")
    run.write_text("{not json")
    with pytest.raises(TuneError, match="cannot be read"):
        read_measurements(run, ["fp32"], "fp32")


def test_the_set_suffix_read_is_the_suites() -> None:
    from bench.interleave import SET_SUFFIX
    from bench.tune.suite_source import SET_SUFFIX as read_as

    assert read_as == SET_SUFFIX
