"""One row's policy: what a case that cannot be timed becomes.

The Suite measures; this decides, in one place, what happens when it cannot:
- a pass that cannot run here -> an `unsupported` row, the test skipped;
- out of memory -> the variant released, then with `--offload auto` retried with CPU offload
  (bench/profiles/offload.py), else (or when no offload mode fits) an `oom` row, skipped;
- past `--timeout` (bench/time_limit.py) -> the variant released, a `timeout` row, skipped;
- any other error -> an `error` row with the error's first line, the error raised again; an
  error after the timed rounds (FID, a collector) makes the timed row itself say `error`, its
  rounds kept, since pytest-benchmark saves them anyway;
- NaN or inf pixels -> the timed row says `nan`, the test fails.

It knows nothing of pytest: it returns an Outcome, which bench/test_generation.py turns into
pytest's skip, fail or error.

With `--interleave`, a workload's first case times every variant of it in alternation
(bench/interleave.py), outside the case's own time limit: each variant's share of the session
has its own `--timeout`. A variant that failed there raises its error again in its own case, so
the same policy gives it the same row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from bench.profiles.offload import OffloadFailed
from bench.suite import Case, OutOfMemory, Suite
from bench.time_limit import BenchmarkTimeout, time_limit
from optimize import PassUnsupported

# What the test does with the row: passes, is skipped, fails, or raises the row's error again.
Action = Literal["pass", "skip", "fail", "raise"]


@dataclass(frozen=True)
class Outcome:
    status: str  # the row's status: ok, nan, unsupported, oom, timeout, error
    reason: str  # the row's reason ("" when ok)
    action: Action
    message: str = ""  # what the skip or the failure says
    error: Exception | None = None  # the error to raise again (action "raise")

    @property
    def timed(self) -> bool:
        """A row in the benchmark's own results (ok or nan), not a failure row of the suite's."""
        return self.status in ("ok", "nan")


def run_case(suite: Suite, case: Case, benchmark: Any, name: str, fullname: str) -> Outcome:
    """Measures one case and records its row: a timed one in `benchmark.extra_info`, any other
    in the suite's failure rows (under the test's `name` and `fullname`)."""
    info = suite.row(case)
    # Before the measurement: a row whose test errors still says what it was.
    benchmark.extra_info.update(info)
    if suite.config.interleave is not None:
        # pytest-benchmark's clock (`--benchmark-timer`) reads the interleaved rounds too.
        suite.interleave(case.workload, getattr(benchmark, "_timer", time.perf_counter))
    outcome = _outcome(suite, case, benchmark, info)
    if outcome.timed:
        benchmark.extra_info.update(info)
    elif rounds_kept(benchmark):
        # Timed, then failed (FID or a collector after the rounds): pytest-benchmark saves this
        # test's rounds anyway, so the failure goes in that row; a failure row beside it made two
        # rows of one variant, one "ok", which the reports then recommended and gated on.
        info.update(status=outcome.status, reason=outcome.reason)
        benchmark.extra_info.update(info)
    else:
        suite.record_failure(name, fullname, info, outcome.status, outcome.reason)
    return outcome


def rounds_kept(benchmark: Any) -> bool:
    """Whether pytest-benchmark will save this test's rounds: it made statistics for it, and the
    timed function itself did not raise (pytest-benchmark drops those)."""
    return getattr(benchmark, "stats", None) is not None and not getattr(benchmark, "has_error", False)


def _outcome(suite: Suite, case: Case, benchmark: Any, info: dict[str, Any]) -> Outcome:
    try:
        with time_limit(suite.config.timeout_s):
            oom_reason = _measure(suite, case, benchmark, info)
    except PassUnsupported as why:
        return Outcome("unsupported", str(why), "skip", f"unsupported: {why}")
    except BenchmarkTimeout as why:
        suite.release_variant()  # a generation cut short may have left it half-used
        return Outcome("timeout", str(why), "skip", f"timeout: {why}")
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        return Outcome("error", f"{type(error).__name__}: {first_line}", "raise", error=error)
    if oom_reason is not None:
        return Outcome("oom", oom_reason, "skip", oom_reason)
    if info["status"] == "nan":
        message = f"{case.variant}: {info['reason']} (recorded in the run with status nan)"
        return Outcome("nan", info["reason"], "fail", message)
    return Outcome("ok", "", "pass")


def _measure(suite: Suite, case: Case, benchmark: Any, info: dict[str, Any]) -> str | None:
    """Fills `info` with the measured row; None when it was timed, the `oom` row's reason when
    the variant did not fit (after `--offload auto`'s retries, when asked for)."""
    try:
        suite.run(case, benchmark, info)
        return None
    except OutOfMemory:
        pass  # released and retried below, after the handler has let go of the exception
    suite.release_variant()
    if suite.config.offload != "auto":
        return str(info["reason"])
    try:
        suite.run_offloaded(case, benchmark, info)
    except OffloadFailed as failed:
        suite.release_variant()
        return f"{info['reason']}; --offload auto: {failed}"
    return None
