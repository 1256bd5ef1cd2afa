"""The Ray task of a fleet run: one shard of a profile's suite, in a subprocess on the node it landed on.

The command is the studies' `suite_command` (the same `pytest bench/` a user types), saving into a
temporary storage on the node. Each line of its journal goes to the driver's keeper as it is
written (bench/fleet/keeper.py), and the saved run at the end, so nodes need no shared filesystem
and a node lost mid-run loses no finished row. When Ray retries the task on another node of the
profile (its node or worker died), the new attempt asks the keeper what the earlier ones finished
and times only the rest, with the baseline again (the PSNR reference of the others).

The suite's progress lines are printed with the profile and node in front; Ray relays a task's
output to the driver, which is the per-node progress there.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fleet.keeper import JournalForwarder
from bench.fleet.rows import row_key, still_to_time
from bench.fleet.shards import with_variants
from bench.studies.runner import suite_command
from bench.suite_process import start_suite, stop_process_group

PROGRESS_PREFIX = "[diffbench] "  # bench/progress.py's lines
TAIL_LINES = 3  # of the suite's output, in the reason of a run that saved nothing
CANCEL_NOTE_S = 5.0  # a cancelled task tells the keeper for at most this long, then goes


@dataclass(frozen=True)
class ShardTask:
    """What one task is asked to do (the same on every retry)."""

    key: str  # the keeper's key: PROFILE/sN
    profile: str
    suite_options: tuple[str, ...]
    variants: tuple[str, ...] | None  # None: the suite's default set (a retry then times it all again)
    baseline: str
    name: str  # the saved run's name
    workloads: tuple[str, ...] = ()  # the labels of its workloads, as the driver planned them
    workload_share: str | None = None  # `K/N` (--workload-shard); None: every workload


@dataclass(frozen=True)
class ShardResult:
    """What one task returns to the driver (its rows went to the keeper)."""

    key: str
    node_id: str
    host: str
    attempt: int
    returncode: int
    seconds: float
    saved: bool
    tail: str  # the suite's last lines (why a run saved nothing)


def run_shard(task: ShardTask, keeper: Any) -> ShardResult:
    """`pytest bench/ OPTIONS --profile P [--variants ...] --benchmark-save NAME` here; every row
    to the keeper as it lands."""
    import ray  # a Ray worker: bench/fleet/ray_import.py has set it up for this process

    started = time.monotonic()
    node_id, host = current_node_id(), socket.gethostname()
    variants = list(task.variants) if task.variants is not None else []
    index, earlier = ray.get(keeper.begin.remote(task.key, node_id, host, variants))
    options = [*task.suite_options, f"--profile={task.profile}"]
    if task.workload_share is not None:
        options.append(f"--workload-shard={task.workload_share}")
    if task.variants is not None:
        variants = still_to_time(task.variants, earlier, task.baseline) if earlier else variants
        ray.get(keeper.set_variants.remote(task.key, index, variants))
        if earlier:
            print(f"[fleet {task.profile} @ {node_id[:12]}] attempt {index + 1}: timing {','.join(variants)}")
        options = with_variants(options, variants)
    storage = Path(tempfile.mkdtemp(prefix="diffbench-fleet-"))
    label = f"[fleet {task.profile} @ {node_id[:12]}]"
    try:
        command = [part for part in suite_command(options, storage, task.name) if part != "-q"]

        def on_row(entry: dict[str, Any]) -> None:
            row = (
                {"benchmark": entry.get("record")}
                if entry["kind"] == "benchmark"
                else {"failure": entry.get("row")}
            )
            variant, workload = row_key(row)
            print(f"{label} row kept: {variant} {workload} ({entry['kind']})", flush=True)

        try:
            with JournalForwarder(ray, keeper, task.key, index, storage, on_row):
                returncode, tail = _run(command, label)
        except KeyboardInterrupt:  # ray.cancel (Ctrl-C on the driver): the attempt says so, briefly
            with contextlib.suppress(Exception):
                ray.get(keeper.finish.remote(task.key, index, "cancelled", None, None), timeout=CANCEL_NOTE_S)
            raise
        saved_files = sorted(storage.rglob(f"*_{task.name}.json"))
        saved = json.loads(saved_files[-1].read_text()) if saved_files else None
        folder = saved_files[-1].parent.name if saved_files else None
        outcome = "finished" if saved is not None else "failed"
        ray.get(keeper.finish.remote(task.key, index, outcome, saved, folder))
        return ShardResult(
            key=task.key,
            node_id=node_id,
            host=host,
            attempt=index,
            returncode=returncode,
            seconds=time.monotonic() - started,
            saved=saved is not None,
            tail=tail,
        )
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def _run(command: list[str], label: str) -> tuple[int, str]:
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    # Dies with this worker: a node lost for real takes the suite with it, and so must a worker
    # killed on a machine that lives on (a local test cluster's removed node).
    process = start_suite(command, die_with_parent=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
            if line.startswith(PROGRESS_PREFIX):
                print(f"{label} {line.removeprefix(PROGRESS_PREFIX)}", flush=True)
        return process.wait(), " | ".join(tail)
    except BaseException:  # the task cancelled (Ctrl-C on the driver): the suite must not outlive it
        stop_process_group(process)
        raise


def current_node_id() -> str:
    """The Ray node this runs on (`local` outside a Ray worker or driver)."""
    ray: Any = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return "local"
    return ray.get_runtime_context().get_node_id()
