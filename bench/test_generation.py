"""The benchmark suite: every variant x workload, timed with pytest-benchmark.

Run with `pytest bench/ --benchmark-save=NAME`; the options are bench/options/. What a row
that cannot be timed becomes is bench/runner.py's; this maps its outcome onto pytest.
"""

from __future__ import annotations

import pytest

from bench import progress
from bench.runner import run_case
from bench.suite import Case, Suite


def test_generation(benchmark, case: Case, suite: Suite, request: pytest.FixtureRequest) -> None:
    progress.attach(request.config)  # lines per phase on the terminal, once per session
    outcome = run_case(suite, case, benchmark, request.node.name, request.node.nodeid)
    if outcome.action == "skip":
        pytest.skip(outcome.message)
    if outcome.action == "fail":
        pytest.fail(outcome.message)
    if outcome.error is not None:
        raise outcome.error
