"""The benchmark suite: every variant x workload, timed with pytest-benchmark.

Run with `pytest bench/ --benchmark-save=NAME`; options are in the root conftest.py.
"""

from __future__ import annotations

import pytest

from bench import progress
from bench.suite import Case, OutOfMemory, Suite
from bench.time_limit import BenchmarkTimeout, time_limit
from optimize import PassUnsupported


def test_generation(benchmark, case: Case, suite: Suite, request: pytest.FixtureRequest) -> None:
    progress.attach(request.config)  # lines per phase on the terminal, once per session
    info = suite.row(case)
    benchmark.extra_info.update(info)
    node = request.node
    try:
        with time_limit(suite.config.timeout_s):
            suite.run(case, benchmark, info)
    except PassUnsupported as why:
        suite.record_failure(node.name, node.nodeid, info, "unsupported", str(why))
        pytest.skip(f"unsupported: {why}")
    except OutOfMemory as why:
        suite.record_failure(node.name, node.nodeid, info, "oom", str(why))
        pytest.skip(str(why))
    except BenchmarkTimeout as why:
        suite.release_variant()  # a generation cut short may have left it half-used
        suite.record_failure(node.name, node.nodeid, info, "timeout", str(why))
        pytest.skip(f"timeout: {why}")
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        suite.record_failure(node.name, node.nodeid, info, "error", f"{type(error).__name__}: {first_line}")
        raise
    benchmark.extra_info.update(info)
    if info["status"] == "nan":
        pytest.fail(f"{case.variant}: {info['reason']} (recorded in the run with status nan)")
