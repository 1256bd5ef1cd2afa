"""The checks behind `python -m bench.gpu_check`: every CUDA path once, small and fast.

Each check is a function registered with `@check` that returns an Outcome (PASS / FAIL / SKIP,
a one-line reason, its figures). Checks that time the suite share its runs (one `pytest bench/`
process per set of options, see suite_run.py).
"""

from bench.gpu_checks.base import CHECKS, Check, CheckContext, Outcome, check

# Importing the modules registers their checks, in this order on the page.
from bench.gpu_checks import device_checks, suite_checks, energy_checks  # noqa: F401  isort: skip

__all__ = ["CHECKS", "Check", "CheckContext", "Outcome", "check"]
