"""The suite in a child process of its own group: started, and stopped whole.

tune's timing source and the fleet's tasks run `pytest bench/` as a subprocess whose lines they
read as they come; the child leads a process group of its own, so a Ctrl-C or a deadline stops
it and every worker it started, and never leaves one running after its parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from typing import Any

from bench.studies.runner import ROOT

STOP_GRACE_S = 10.0  # after SIGTERM, before SIGKILL
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def start_suite(command: list[str], *, die_with_parent: bool = False) -> subprocess.Popen[str]:
    """`command` from the checkout's root, offline, its output and errors as one text stream.

    `die_with_parent`: the child gets SIGKILL when this process dies (Linux), even by SIGKILL,
    where nothing of ours could stop it: a fleet task's worker killed with its node."""
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # a group of its own: stopped whole, and Ctrl-C is ours to pass on
        preexec_fn=_kill_me_with_my_parent if die_with_parent and sys.platform == "linux" else None,
    )


def _kill_me_with_my_parent() -> None:
    # In the child between fork and exec: PR_SET_PDEATHSIG survives the exec.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def stop_process_group(process: subprocess.Popen[Any]) -> None:
    """SIGTERM to the child's process group, SIGKILL after STOP_GRACE_S, and SIGKILL to whatever
    of the group outlived its leader (workers the suite started)."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
    _signal_group(process.pid, signal.SIGKILL)


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(group, sig)
