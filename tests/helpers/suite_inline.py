"""`pytest bench/` inside the test's own process, for the runs that must stop at a bad option.

The suite's plugin, options, validation and exit status are the same as in a subprocess
(helpers.suite_process.run_bench); what is saved is a new interpreter importing torch and
diffusers (seconds of CPU per run) only to print one line. The runs that time anything stay in
subprocesses: a suite in this process would share its memory and threads with the tests.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from unittest import mock

import pytest

from helpers.suite_process import ROOT


def run_bench_inline(*options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pytest bench/ -q -p no:cacheprovider OPTIONS` from the repository root, offline, run by
    pytest.main in this process; the result shaped as run_bench's. `--capture=sys` keeps the
    inner run off the file descriptors the outer pytest captures."""
    args = [str(ROOT / "bench"), "-q", "-p", "no:cacheprovider", "--capture=sys", *options]
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(ROOT),
        mock.patch.dict(os.environ, {"HF_HUB_OFFLINE": "1", **(env or {})}),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = pytest.main(args)
    return subprocess.CompletedProcess(["pytest", *args], int(code), out.getvalue(), err.getvalue())
