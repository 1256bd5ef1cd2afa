"""`diffbench report ...`: the report commands (`python -m reports ...`), run as their own process.

bench may import only `reports.record` from reports (the design's import contract), so the
report commands run in a child Python with this one's stdin, stdout and stderr.
"""

from __future__ import annotations

import subprocess
import sys

SUMMARY = "tables, comparisons, gates and plots of saved runs (python -m reports)"


def main(argv: list[str]) -> int:
    status = subprocess.run([sys.executable, "-m", "reports", *argv], check=False).returncode
    return 128 - status if status < 0 else status  # killed by signal N: 128 + N, as a shell says
