"""Fault injection for tests of the suite's recovery paths, switched on by the environment.

`DIFFBENCH_FAULT_OOM="fp32*2"` makes the first two attempts to measure variant `fp32` raise
`torch.OutOfMemoryError` at their first call, as a device that ran out of memory would, so
`--offload auto`'s retries can be exercised on a CPU. `DIFFBENCH_FAULT_LOG=FILE` appends one
JSON line per attempt: the variant, the attempt number, and whether the pipeline of the
previous failed attempt was still alive (it must not be: a retry beside a failed variant's
memory would run out of memory again for no reason).

Unset (the normal case), every function here does nothing.
"""

from __future__ import annotations

import gc
import json
import os
import weakref
from typing import Any

import torch

FAULT_OOM = "DIFFBENCH_FAULT_OOM"
FAULT_LOG = "DIFFBENCH_FAULT_LOG"

_attempts: dict[str, int] = {}
_failed: dict[str, weakref.ref[Any]] = {}


def _planned_failures(label: str) -> int:
    spec = os.environ.get(FAULT_OOM, "")
    for item in spec.split(","):
        name, _, count = item.strip().partition("*")
        if name and name == label:
            return int(count) if count.isdigit() else 1
    return 0


def before_first_call(label: str, pipeline: Any) -> None:
    """Raise the planned out-of-memory for attempt N of `label`; log whether the last one was freed."""
    failures = _planned_failures(label)
    if not failures:
        return
    attempt = _attempts.get(label, 0) + 1
    _attempts[label] = attempt
    previous = _failed.get(label)
    if previous is not None:
        gc.collect()
    log = os.environ.get(FAULT_LOG)
    if log:
        record = {
            "variant": label,
            "attempt": attempt,
            "previous_failed_pipeline_alive": None if previous is None else previous() is not None,
        }
        with open(log, "a") as handle:
            handle.write(json.dumps(record) + "\n")
    if attempt <= failures:
        _failed[label] = weakref.ref(pipeline)
        raise torch.OutOfMemoryError(f"injected by {FAULT_OOM} (attempt {attempt} of {failures} planned)")
