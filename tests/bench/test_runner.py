"""bench/runner.py's policy for one row, driven by a Suite whose measurement is scripted: each
way a row can end (ok, nan, unsupported, oom with and without `--offload auto`, timeout, error)
gives its status, reason, pytest action and failure row. The real suite runs end to end in
test_suite_e2e.py, test_offload_retry.py and test_reliability.py."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from helpers.suite_inprocess import tiny_suite_config

from bench.errors import BenchError
from bench.profiles.offload import OffloadFailed
from bench.runner import Outcome, run_case
from bench.source_model import SourceModel
from bench.suite import Case, OutOfMemory, Suite
from bench.time_limit import BenchmarkTimeout
from optimize import PassUnsupported, parse_recipe

Step = Callable[[dict[str, Any]], None]


def _measured(status: str = "ok", reason: str = "") -> Step:
    def step(info: dict[str, Any]) -> None:
        info.update(status=status, reason=reason, step_median_ms=12.5)

    return step


def _raises(error: BaseException) -> Step:
    def step(info: dict[str, Any]) -> None:
        raise error

    return step


def _out_of_memory(info: dict[str, Any]) -> None:
    info.update(reason="out of memory: CUDA out of memory (peak 3900 MiB allocated)")
    raise OutOfMemory(info["reason"])


class ScriptedSuite(Suite):
    """A Suite whose run() and run_offloaded() do what the test says, counting releases."""

    def __init__(self, tmp_path: Path, first: Step, retry: Step | None = None, **config: Any) -> None:
        super().__init__(tiny_suite_config(tmp_path, ("fp32",), **config))
        identity = SimpleNamespace(name="tiny-sd", weights="random", family="sd", fingerprint="f" * 64)
        self._source = SourceModel(lambda: identity)  # the row's model fields, nothing loaded
        self.first, self.retry = first, retry
        self.calls: list[str] = []

    def run(self, case: Case, benchmark: Any, info: dict[str, Any]) -> None:
        self.calls.append("run")
        self.first(info)

    def run_offloaded(self, case: Case, benchmark: Any, info: dict[str, Any]) -> None:
        # The failed try's exception is no longer being handled: its frames are gone.
        assert sys.exc_info() == (None, None, None)
        self.calls.append("run_offloaded")
        assert self.retry is not None
        self.retry(info)

    def release_variant(self) -> None:
        self.calls.append("release")


class Benchmark:
    def __init__(self) -> None:
        self.extra_info: dict[str, Any] = {}


def _run(suite: ScriptedSuite) -> tuple[Outcome, Benchmark]:
    (case,) = suite.cases()
    benchmark = Benchmark()
    return run_case(
        suite, case, benchmark, "test_generation[fp32-x]", "bench/test_generation.py::x"
    ), benchmark


def _failure_row(suite: Suite) -> dict[str, Any]:
    (row,) = suite.failure_rows
    assert row["name"] == "test_generation[fp32-x]" and row["fullname"] == "bench/test_generation.py::x"
    return row["extra_info"]


def test_a_measured_row_passes_into_the_benchmarks_extra_info(tmp_path):
    suite = ScriptedSuite(tmp_path, _measured())
    outcome, benchmark = _run(suite)
    assert outcome == Outcome("ok", "", "pass")
    assert benchmark.extra_info["status"] == "ok" and benchmark.extra_info["step_median_ms"] == 12.5
    assert benchmark.extra_info["variant"] == "fp32" and benchmark.extra_info["dtype"] == "float32"
    assert suite.failure_rows == [] and suite.calls == ["run"]


def test_nan_pixels_fail_the_test_and_keep_the_timed_row(tmp_path):
    suite = ScriptedSuite(tmp_path, _measured("nan", "the generated image has NaN or inf pixels"))
    outcome, benchmark = _run(suite)
    assert (outcome.status, outcome.action) == ("nan", "fail")
    assert (
        outcome.message
        == "fp32: the generated image has NaN or inf pixels (recorded in the run with status nan)"
    )
    assert benchmark.extra_info["status"] == "nan" and suite.failure_rows == []


def test_an_unsupported_pass_is_a_skipped_unsupported_row(tmp_path):
    suite = ScriptedSuite(tmp_path, _raises(PassUnsupported("bf16 on cpu: no bf16 here")))
    outcome, _ = _run(suite)
    assert outcome == Outcome(
        "unsupported", "bf16 on cpu: no bf16 here", "skip", "unsupported: bf16 on cpu: no bf16 here"
    )
    row = _failure_row(suite)
    assert row["status"] == "unsupported" and row["reason"] == "bf16 on cpu: no bf16 here"


def test_out_of_memory_without_offload_releases_the_variant_and_is_an_oom_row(tmp_path):
    suite = ScriptedSuite(tmp_path, _out_of_memory, retry=_measured())
    outcome, _ = _run(suite)
    reason = "out of memory: CUDA out of memory (peak 3900 MiB allocated)"
    assert outcome == Outcome("oom", reason, "skip", reason)
    assert suite.calls == ["run", "release"]  # no retry without --offload auto
    assert _failure_row(suite)["status"] == "oom"


def test_offload_auto_retries_outside_the_handler_after_the_release(tmp_path):
    suite = ScriptedSuite(tmp_path, _out_of_memory, retry=_measured(), offload="auto")
    outcome, benchmark = _run(suite)
    assert outcome.status == "ok" and suite.failure_rows == []
    assert suite.calls == ["run", "release", "run_offloaded"]
    assert benchmark.extra_info["status"] == "ok"


def test_offload_auto_that_fits_nowhere_is_an_oom_row_saying_what_each_mode_reached(tmp_path):
    failed = OffloadFailed(
        "model offload: out of memory at 3000 MiB; sequential offload: out of memory at 900 MiB"
    )
    suite = ScriptedSuite(tmp_path, _out_of_memory, retry=_raises(failed), offload="auto")
    outcome, _ = _run(suite)
    assert outcome.status == "oom" and outcome.action == "skip"
    assert outcome.reason == (
        "out of memory: CUDA out of memory (peak 3900 MiB allocated); --offload auto: "
        "model offload: out of memory at 3000 MiB; sequential offload: out of memory at 900 MiB"
    )
    assert suite.calls == ["run", "release", "run_offloaded", "release"]
    assert _failure_row(suite)["reason"] == outcome.reason


def test_past_the_time_limit_the_variant_is_released_and_the_row_is_timeout(tmp_path):
    def hangs(info: dict[str, Any]) -> None:
        time.sleep(5)

    suite = ScriptedSuite(tmp_path, hangs, timeout_s=0.05)
    started = time.perf_counter()
    outcome, _ = _run(suite)
    assert time.perf_counter() - started < 2  # cut short by --timeout, not slept out
    assert outcome == Outcome(
        "timeout", "exceeded --timeout 0.05 s", "skip", "timeout: exceeded --timeout 0.05 s"
    )
    assert suite.calls == ["run", "release"]
    assert _failure_row(suite)["status"] == "timeout"


def test_a_timeout_during_the_offload_retry_is_a_timeout_row_too(tmp_path):
    suite = ScriptedSuite(
        tmp_path, _out_of_memory, retry=_raises(BenchmarkTimeout("exceeded --timeout 9 s")), offload="auto"
    )
    outcome, _ = _run(suite)
    assert (outcome.status, outcome.reason) == ("timeout", "exceeded --timeout 9 s")
    assert suite.calls == ["run", "release", "run_offloaded", "release"]


def test_any_other_error_is_an_error_row_with_its_first_line_and_is_raised_again(tmp_path):
    error = RuntimeError("boom\nthe rest of a long message")
    suite = ScriptedSuite(tmp_path, _raises(error))
    outcome, _ = _run(suite)
    assert (outcome.status, outcome.reason, outcome.action) == ("error", "RuntimeError: boom", "raise")
    assert outcome.error is error
    assert _failure_row(suite)["reason"] == "RuntimeError: boom"


def test_an_error_after_the_timed_rounds_is_the_timed_rows_status_not_a_second_row(tmp_path):
    """pytest-benchmark saves a test's rounds when the error came after them (its stats exist, the
    timed function did not raise): one row per variant, saying error, keeping its latency."""

    def timed_then_fails(info: dict[str, Any]) -> None:
        info.update(status="ok", reason="", step_median_ms=12.5)
        benchmark.stats = object()  # what pytest-benchmark's pedantic() leaves: rounds kept
        raise BenchError("statistics need at least 2 images, got 1")

    suite = ScriptedSuite(tmp_path, timed_then_fails)
    (case,) = suite.cases()
    benchmark = Benchmark()
    outcome = run_case(suite, case, benchmark, "test_generation[fp32-x]", "bench/test_generation.py::x")
    assert (outcome.status, outcome.action) == ("error", "raise")
    assert suite.failure_rows == []
    assert benchmark.extra_info["status"] == "error" and benchmark.extra_info["step_median_ms"] == 12.5
    assert benchmark.extra_info["reason"] == "BenchError: statistics need at least 2 images, got 1"

    # The timed function itself raised: pytest-benchmark drops the rounds, so a failure row it is.
    suite = ScriptedSuite(tmp_path, _raises(RuntimeError("boom")))
    (case,) = suite.cases()
    dropped = Benchmark()
    dropped.stats, dropped.has_error = object(), True
    run_case(suite, case, dropped, "test_generation[fp32-x]", "bench/test_generation.py::x")
    assert _failure_row(suite)["reason"] == "RuntimeError: boom"


def test_an_interrupt_is_not_a_row(tmp_path):
    suite = ScriptedSuite(tmp_path, _raises(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        _run(suite)
    assert suite.failure_rows == []


# -- Case: the recipe parsed once, the text and test id as before ------------------------------
@pytest.mark.parametrize("text", ["fp32", "bf16", "prune(0.3)+bf16", "prune(0.5)+compile"])
def test_a_case_carries_its_parsed_recipe_and_keeps_the_canonical_text(text):
    from bench.workload import Workload

    workload = Workload(steps=2)
    canonical = parse_recipe(text).canonical
    case = Case.of(canonical, workload)
    assert case.recipe.canonical == canonical == case.variant  # the parse of canonical text is itself
    assert case.test_id == f"{canonical}-{workload.test_id}"


def test_the_suites_cases_parse_each_recipe_once_in_the_options_order(tmp_path):
    from bench.workload import Workload

    config = tiny_suite_config(tmp_path, ("fp32", "bf16"), workloads=(Workload(steps=2), Workload(steps=3)))
    cases = Suite(config).cases()
    assert [case.variant for case in cases] == ["fp32", "fp32", "bf16", "bf16"]
    assert cases[0].recipe is cases[1].recipe  # one parse per variant, shared by its workloads
    assert [case.recipe.dtype for case in cases[::2]] == [torch.float32, torch.bfloat16]
