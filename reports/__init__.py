"""diffbench reports: saved runs (pytest-benchmark JSON) into pandas tables.

Depends on pandas only, never on torch or the rest of diffbench: an analyst reading runs
installs pandas, not CUDA. Importing the package imports nothing heavy: `reports.record` (the
run record, standard library only) is what bench imports, so the names below load pandas only
when first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reports.columns import COLUMNS
    from reports.errors import ReportError, ReportWarning
    from reports.loader import load

__all__ = ["COLUMNS", "ReportError", "ReportWarning", "load"]

# name -> the module that defines it
_LAZY = {"COLUMNS": "reports.columns", "ReportError": "reports.errors", "ReportWarning": "reports.errors",
         "load": "reports.loader"}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'reports' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value  # looked up once
    return value
