"""The Ray task of a fleet tune: one group's interleaved suite run on the node it landed on.

The suite options are the ones tune's SuiteTimingSource builds (the baseline and the group's
recipes, interleaved, `--benchmark-save-data`); the run is saved into a temporary storage on the
node and comes back as JSON text, with the suite's output for the driver's log, so nodes need no
shared filesystem. Cancelled (the deadline, Ctrl-C on the driver), the task stops its suite's
whole process group before it ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.fleet.tasks import current_node_id
from bench.studies.runner import suite_command
from bench.suite_process import start_suite, stop_process_group

TAIL_LINES = 3  # of the suite's output, in the reason of a run that saved nothing
POLL_S = 0.5


@dataclass(frozen=True)
class GroupResult:
    node_id: str
    host: str
    returncode: int
    relative_path: str | None  # the saved run under its storage (MACHINE/NNNN_NAME.json); None: nothing saved
    text: str | None  # the saved run's JSON
    output: str  # everything the suite printed (the driver appends it to tune's suite.log)

    @property
    def tail(self) -> str:
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        return " | ".join(lines[-TAIL_LINES:])


def time_group(suite_options: Sequence[str], name: str) -> GroupResult:
    """`pytest bench/ SUITE_OPTIONS --benchmark-save NAME` on this node; its saved run returned."""
    storage = Path(tempfile.mkdtemp(prefix="diffbench-tune-"))
    try:
        # Not quiet: the per-phase lines are what the driver's log shows of this run.
        command = [part for part in suite_command(list(suite_options), storage, name) if part != "-q"]
        # Its own group, stopped whole when the task is cancelled; and it dies with this worker (a
        # node lost for real, or a local test cluster's removed node), where nothing of ours runs.
        process = start_suite(command, die_with_parent=True)
        lines: list[str] = []
        reader = threading.Thread(target=_read_into, args=(process, lines), daemon=True)
        reader.start()
        try:
            # Short waits, not one blocking call: a cancel's KeyboardInterrupt is raised between
            # them, also while the suite prints nothing (its imports take seconds).
            while True:
                try:
                    returncode = process.wait(timeout=POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    continue
            reader.join()
        except BaseException:  # cancelled: KeyboardInterrupt here; the suite must not outlive us
            stop_process_group(process)
            raise
        saved = sorted(storage.rglob(f"*_{name}.json"))
        return GroupResult(
            node_id=current_node_id(),
            host=socket.gethostname(),
            returncode=returncode,
            relative_path=saved[-1].relative_to(storage).as_posix() if saved else None,
            text=saved[-1].read_text() if saved else None,
            output="".join(lines),
        )
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def _read_into(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    lines.extend(process.stdout)
