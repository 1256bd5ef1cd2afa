"""A pytest plugin for the suite under test (`-p helpers.fail_in_round`): the third timed round of
the session raises inside pytest-benchmark's timed call, as an OOM or `--timeout` mid-rounds does.
With `--variants fp32,bf16 --rounds 2` that is bf16's first round: pytest-benchmark made its
statistics, marks it has_error and does not save it."""

from __future__ import annotations

from typing import Any

import bench.measure

MESSAGE = "injected failure inside a timed round"
_generate = bench.measure.generate
_timed_calls = [0]


def _failing_third_round(pipeline: Any, workload: Any, device: Any, stages: Any = None) -> Any:
    if stages is None:  # the first call and warm-ups: not timed
        return _generate(pipeline, workload, device)
    _timed_calls[0] += 1
    if _timed_calls[0] == 3:
        raise RuntimeError(MESSAGE)
    return _generate(pipeline, workload, device, stages)


def pytest_configure(config: Any) -> None:
    # Only in the suite that loads this plugin; a test importing MESSAGE must not patch itself.
    bench.measure.generate = _failing_third_round
