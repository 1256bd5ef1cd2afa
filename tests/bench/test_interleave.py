"""`--interleave` (bench/interleave.py, issue 18 item 1): the rounds of a workload's variants run in
alternation, each test reports its own recorded rounds as its pytest-benchmark statistics, a
variant that fails leaves the others timing and becomes the same row as in a sequential run.

In-process on tiny-sd with pytest-benchmark's own fixture (helpers.suite_inprocess.real_benchmark);
one `pytest bench/ --interleave` run checks the saved run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.suite_inprocess import real_benchmark, tiny_suite_config
from helpers.suite_process import run_bench

from bench import faults, progress
from bench.errors import BenchError
from bench.interleave import SET_SUFFIX, record_rounds, rotation
from bench.options.run import RunOptions, interleave_mode
from bench.runner import Outcome, run_case
from bench.suite import Suite

ROUND = re.compile(r"round (\d+) of (\d+): (\S+) \(")


def _run_all(suite: Suite) -> tuple[dict[str, tuple[Outcome, Any]], list[str]]:
    """Every case through bench/runner.py as the plugin runs them; outcomes and fixtures by variant."""
    lines: list[str] = []
    results: dict[str, tuple[Outcome, Any]] = {}
    with progress.reporting(lines.append):
        for case in suite.cases():
            benchmark = real_benchmark(case.test_id)
            results[case.variant] = (run_case(suite, case, benchmark, case.test_id, case.test_id), benchmark)
    return results, lines


def _rounds_run(lines: list[str]) -> list[tuple[int, str]]:
    return [(int(m[1]), m[3]) for line in lines if (m := ROUND.search(line))]


# -- pure parts ----------------------------------------------------------------------------------


def test_the_order_rotates_each_round_so_no_variant_always_runs_first() -> None:
    assert [rotation(3, k) for k in range(4)] == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]
    assert rotation(1, 5) == [0]


def test_the_options_give_the_mode() -> None:
    assert interleave_mode(False, False) is None
    assert interleave_mode(True, False) == "resident"
    assert interleave_mode(False, True) == "reload"
    assert interleave_mode(True, True) == "reload"
    values = {
        "--rounds": "3",
        "--warmup": "0",
        "--timeout": None,
        "--interleave": True,
        "--interleave-reload": False,
    }
    assert RunOptions.parse(values.__getitem__).interleave == "resident"
    with pytest.raises(BenchError, match="--interleave takes no value"):
        interleave_mode("yes", False)


def test_the_recorded_rounds_are_the_statistics_bit_for_bit() -> None:
    benchmark = real_benchmark()
    clock = benchmark._timer
    durations = [0.25, 0.125000001, 3.5e-7, 0.3]
    record_rounds(benchmark, durations)
    assert benchmark.stats.stats.data == durations
    assert benchmark.stats.stats.rounds == 4
    assert benchmark._timer is clock
    assert benchmark.stats.options["timer"] is clock  # the saved run names the clock that timed them


def test_statistics_that_differ_from_the_recorded_rounds_stop_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_benchmark.fixture import BenchmarkFixture

    # A pytest-benchmark that timed rounds with its own clock, not the fixture's `_timer`.
    def own_clock_runner(self: Any, function: Any, args: Any, kwargs: Any) -> Any:
        return lambda loops_range: (1.0, function(*args, **kwargs))

    monkeypatch.setattr(BenchmarkFixture, "_make_runner", own_clock_runner)
    with pytest.raises(BenchError, match="statistics differ from the interleaved rounds"):
        record_rounds(real_benchmark(), [0.5, 0.25])


# -- the suite in this process -------------------------------------------------------------------


def test_rounds_alternate_and_each_test_reports_its_own(tmp_path: Path) -> None:
    suite = Suite(tiny_suite_config(tmp_path, ("fp32", "int8wo"), rounds=2, interleave="resident"))
    results, lines = _run_all(suite)
    assert _rounds_run(lines) == [(1, "fp32"), (1, "int8wo"), (2, "int8wo"), (2, "fp32")]
    for case in suite.cases():
        outcome, benchmark = results[case.variant]
        assert outcome.status == "ok"
        row = benchmark.extra_info
        assert row["interleaved"] is True and row["rounds"] == 2
        assert row["ram_source"].endswith(SET_SUFFIX)  # every variant resident: the set's peak
        assert benchmark.stats.stats.data == suite.interleaved_rounds(case)
        assert len(benchmark.stats.stats.data) == 2
        # Energy over its own rounds: a counter's joules, or null with why (no RAPL, no GPU here).
        measured = row["energy_j"] is not None
        assert measured == (row["energy_reason"] is None)
        assert (row["energy_j"] > 0) if measured else bool(row["energy_reason"])
    assert results["int8wo"][1].extra_info["psnr_vs_baseline"] is not None


def test_a_failing_variant_is_its_row_and_the_others_still_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def first_call(label: str, pipeline: Any) -> None:
        if label == "int8wo":
            raise torch.OutOfMemoryError("injected: out of memory at the first call")
        if label == "fp16":
            raise RuntimeError("injected: a kernel that does not exist")

    monkeypatch.setattr(faults, "before_first_call", first_call)
    suite = Suite(tiny_suite_config(tmp_path, ("fp32", "int8wo", "fp16"), rounds=2, interleave="resident"))
    results, lines = _run_all(suite)
    assert _rounds_run(lines) == [(1, "fp32"), (2, "fp32")]
    fp32, _ = results["fp32"]
    assert fp32.status == "ok" and len(results["fp32"][1].stats.stats.data) == 2
    oom, error = results["int8wo"][0], results["fp16"][0]
    assert (oom.status, oom.action) == ("oom", "skip")
    assert oom.reason.startswith("out of memory: injected")
    assert (error.status, error.action) == ("error", "raise")
    assert error.reason == "RuntimeError: injected: a kernel that does not exist"
    assert any("raised in the interleaved session" in note for note in error.error.__notes__)
    failed = {row["extra_info"]["variant"]: row["extra_info"] for row in suite.failure_rows}
    assert {name: row["status"] for name, row in failed.items()} == {"int8wo": "oom", "fp16": "error"}
    assert all(row["interleaved"] is True for row in failed.values())


def test_reload_mode_loads_each_variant_once_per_round_and_no_more(tmp_path: Path) -> None:
    suite = Suite(tiny_suite_config(tmp_path, ("fp32", "int8wo"), rounds=3, interleave="reload"))
    results, lines = _run_all(suite)
    assert _rounds_run(lines) == [
        (1, "fp32"),
        (1, "int8wo"),
        (2, "int8wo"),
        (2, "fp32"),
        (3, "fp32"),
        (3, "int8wo"),
    ]
    # The first call shares round 1's load, the row is finished in the last round's: 3 loads
    # for 3 rounds (the first a build: the cache starts empty), and a re-warm from round 2 on.
    for variant in ("fp32", "int8wo"):
        loads = [
            line for line in lines if re.search(rf"\b{variant} (built|loaded from the variant cache)", line)
        ]
        assert len(loads) == 3, loads
        assert sum(f"re-warm after the reload: {variant}" in line for line in lines) == 2
        assert sum(f"first call: {variant}" in line for line in lines) == 1
    for outcome, benchmark in results.values():
        assert outcome.status == "ok"
        assert benchmark.extra_info["interleaved"] is True
        assert benchmark.extra_info["other_cpu_pct"] is not None  # contention up to its last round
        assert benchmark.extra_info["first_build_s"] > 0  # the build's own seconds, from the manifest
        assert not benchmark.extra_info["ram_source"].endswith(SET_SUFFIX)  # its own peak
    assert results["int8wo"][1].extra_info["psnr_vs_baseline"] is not None


# -- the one run of `pytest bench/ --interleave` ---------------------------------------------------


def test_pytest_bench_interleave_saves_the_ordinary_format(tmp_path: Path) -> None:
    output = tmp_path / "run.json"
    result = run_bench(
        "--interleave",
        "--variants=fp32,int8wo",
        "--steps=2",
        "--rounds=2",
        "--warmup=0",
        "--benchmark-save-data",
        f"--benchmark-json={output}",
        env={"DIFFBENCH_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = json.loads(output.read_text())
    rows = {bench["extra_info"]["variant"]: bench for bench in run["benchmarks"]}
    assert sorted(rows) == ["fp32", "int8wo"]
    for bench in rows.values():
        assert bench["extra_info"]["interleaved"] is True
        assert bench["extra_info"]["ram_source"].endswith(SET_SUFFIX)
        assert bench["stats"]["rounds"] == 2 and len(bench["stats"]["data"]) == 2
        data = bench["stats"]["data"]
        assert (bench["stats"]["min"], bench["stats"]["max"]) == (min(data), max(data))


def test_the_check_tool_states_each_modes_spread() -> None:
    from helpers.tool_scripts import load_tool

    line = load_tool("interleave_check").spread([1.0, 1.02, 0.97, 1.01])
    assert "median 1.0050" in line and "largest |ratio - 1| 0.0300" in line
