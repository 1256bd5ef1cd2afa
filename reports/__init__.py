"""diffbench reports: saved runs (pytest-benchmark JSON) into pandas tables.

Depends on pandas only, never on torch or the rest of diffbench: an analyst reading runs
installs pandas, not CUDA.
"""

from reports.columns import COLUMNS
from reports.errors import ReportError, ReportWarning
from reports.loader import load

__all__ = ["COLUMNS", "ReportError", "ReportWarning", "load"]
