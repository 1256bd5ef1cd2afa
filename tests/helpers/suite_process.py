"""`pytest bench/` in a subprocess, as a user runs it: the one way the tests start the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(
    *options: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`python -m pytest bench/ -q -p no:cacheprovider OPTIONS` from the repository root, offline."""
    command = [sys.executable, "-m", "pytest", "bench/", "-q", "-p", "no:cacheprovider", *options]
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
