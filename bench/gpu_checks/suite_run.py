"""One `pytest bench/` run for the checks, in its own process with a time limit; its rows by variant.

The same command a user types, so a check sees exactly the suite's rows: timed rows from
pytest-benchmark's `benchmarks` (extra_info, with the median latency), failure rows (oom,
unsupported, error) from the run's `diffbench.rows`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.gpu_checks.base import CheckContext
from bench.studies.runner import ROOT, suite_command

# Every check's run: one timed round after the first call, no extra warm-up (the figures
# checked are agreement and status, not a benchmark of record).
QUICK = ("--rounds", "1", "--warmup", "0")


@dataclass
class SuiteRun:
    options: tuple[str, ...]
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str = ""  # why the run gave no rows (timeout, refused options, crash); empty when it did
    seconds: float = 0.0

    def row(self, variant: str) -> dict[str, Any] | None:
        return self.rows.get(variant)


def rows_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Rows by variant (the first workload's), failure rows included."""
    rows: dict[str, dict[str, Any]] = {}
    for entry in document.get("benchmarks", []):
        info = dict(entry.get("extra_info", {}))
        info["latency_median_s"] = entry.get("stats", {}).get("median")
        rows.setdefault(str(info.get("variant")), info)
    for failure in document.get("diffbench", {}).get("rows", []):
        info = dict(failure.get("extra_info", failure))  # saved as {name, fullname, extra_info}
        rows.setdefault(str(info.get("variant")), info)
    return rows


def suite_run(context: CheckContext, options: Sequence[str], timeout_s: float) -> SuiteRun:
    """Run the suite once per distinct option list (checks that read the same run share it)."""
    key = (*options, *QUICK)
    if key in context.runs:
        return context.runs[key]
    name = f"gpu-check-{len(context.runs) + 1}"
    storage = context.work / "runs"
    output = context.work / f"{name}.json"
    cache = context.work / "variants"
    command = [
        *suite_command(key, storage, name),
        f"--benchmark-json={output}",
        f"--cache-dir={cache}",
    ]
    limit = max(1.0, min(timeout_s, context.seconds_left()))
    run = SuiteRun(key)
    started = time.monotonic()
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        run.error = f"the suite run did not finish in {limit:.0f} s: pytest bench/ {' '.join(key)}"
    else:
        if context.logs is not None:
            context.logs.mkdir(parents=True, exist_ok=True)
            (context.logs / f"{name}.log").write_text(" ".join(command) + "\n" + (result.stdout or ""))
        if output.is_file() and output.stat().st_size:
            run.rows = rows_of(json.loads(output.read_text()))
        if not run.rows:
            run.rows = saved_failure_rows(storage, name)
        if not run.rows:
            last = (result.stdout or "").strip().splitlines()[-1:] or ["no output"]
            run.error = f"the suite saved no rows (pytest exit {result.returncode}): {last[0][:200]}"
    run.seconds = time.monotonic() - started
    context.runs[key] = run
    return run


def saved_failure_rows(storage: Path, name: str) -> dict[str, dict[str, Any]]:
    """The rows of a run in which no variant could be timed (every one oom, unsupported, ...).

    pytest-benchmark writes no --benchmark-json then; the suite's journal saves the failure rows
    under the run's name in the storage instead, and those rows are what a check expects."""
    rows: dict[str, dict[str, Any]] = {}
    for saved in sorted(storage.glob(f"*/*_{name}.json")):
        rows.update(rows_of(json.loads(saved.read_text())))
    return rows


def row_problem(run: SuiteRun, variant: str, expected: str = "ok") -> str | None:
    """None when `variant`'s row has the `expected` status; otherwise why not, in one line."""
    if run.error:
        return run.error
    row = run.row(variant)
    if row is None:
        return f"{variant}: no row in the run ({', '.join(run.rows) or 'none'})"
    if row.get("status") != expected:
        reason = row.get("reason") or "no reason given"
        return f"{variant}: status {row.get('status')} (expected {expected}): {reason}"
    return None


def rounded(value: Any, digits: int = 1) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def figures(row: dict[str, Any] | None, *names: str) -> dict[str, Any]:
    return {name: rounded((row or {}).get(name)) for name in names}
