"""tune's errors: a user's mistake (one line, exit 2) and the budget running out mid-run."""

from __future__ import annotations

from bench.errors import BenchError


class TuneError(BenchError):
    """Bad input to `diffbench tune`, or a search that cannot start; the message is one line."""


class BudgetExpired(Exception):
    """The search's time budget ran out while a timing run was in flight (the run was stopped)."""
