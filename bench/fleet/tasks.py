"""The Ray task of a fleet run: the ordinary suite, in a subprocess on the node it landed on.

The command is the studies' `suite_command` (the same `pytest bench/` a user types), saving into a
temporary storage on the node; the saved run's JSON comes back to the driver as text, which writes
it into the fleet's storage (bench/fleet/storage.py), so nodes need no shared filesystem. The
suite's progress lines are printed with the profile in front; Ray relays a task's output to the
driver, which is the per-node progress there.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.studies.runner import suite_command
from bench.suite_process import start_suite, stop_process_group

PROGRESS_PREFIX = "[diffbench] "  # bench/progress.py's lines
TAIL_LINES = 3  # of the suite's output, in the reason of a run that saved nothing


@dataclass(frozen=True)
class ProfileResult:
    """What one task returns to the driver."""

    profile: str
    node_id: str
    host: str
    returncode: int
    seconds: float
    relative_path: str | None  # the saved run under its storage (MACHINE/NNNN_NAME.json); None: nothing saved
    text: str | None  # the saved run's JSON
    tail: str  # the suite's last lines (why a run saved nothing)


def run_profile_suite(profile: str, suite_options: Sequence[str], name: str) -> ProfileResult:
    """`pytest bench/ SUITE_OPTIONS --profile PROFILE --benchmark-save NAME` here; its run returned."""
    started = time.monotonic()
    node_id = current_node_id()
    storage = Path(tempfile.mkdtemp(prefix="diffbench-fleet-"))
    try:
        command = [part for part in suite_command([*suite_options, f"--profile={profile}"], storage, name)]
        command = [part for part in command if part != "-q"]  # the per-phase progress lines, relayed
        returncode, tail = _run(command, profile)
        saved = sorted(storage.rglob(f"*_{name}.json"))
        relative = text = None
        if saved:
            relative = saved[-1].relative_to(storage).as_posix()
            text = saved[-1].read_text()
        return ProfileResult(
            profile=profile,
            node_id=node_id,
            host=socket.gethostname(),
            returncode=returncode,
            seconds=time.monotonic() - started,
            relative_path=relative,
            text=text,
            tail=tail,
        )
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def _run(command: list[str], profile: str) -> tuple[int, str]:
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    process = start_suite(command)  # its own group: stopped whole when the task is cancelled
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
            if line.startswith(PROGRESS_PREFIX):
                print(f"[fleet {profile}] {line.removeprefix(PROGRESS_PREFIX)}", flush=True)
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
