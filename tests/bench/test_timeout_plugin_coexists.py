"""pytest-timeout defines `--timeout` too; with it installed the suite must still start.

Found on the first GPU machine, where pytest-timeout is installed: argparse refused the second
`--timeout` with ArgumentError and no suite run started. A stand-in plugin that adds `--timeout`
first reproduces that order without installing pytest-timeout here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STAND_IN = 'def pytest_addoption(parser):\n    parser.addoption("--timeout", type=float, default=None)\n'


def test_the_suite_collects_beside_a_plugin_that_owns_timeout(tmp_path: Path) -> None:
    (tmp_path / "timeout_stand_in.py").write_text(STAND_IN)
    path = os.pathsep.join([str(tmp_path), str(ROOT)])
    environment = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "bench"), "-p", "timeout_stand_in", "--co", "-q",
         "-p", "no:cacheprovider", "--model", "tiny-sd", "--variants", "fp32", "--timeout", "30"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "1 test collected" in result.stdout
