"""The one exception type of the reports package, and the warning for skipped input."""

from __future__ import annotations


class ReportError(ValueError):
    """Nothing can be reported: no run files, a path that does not exist, a bad option.

    The message is one line that names the bad value and what would be accepted, so a CLI
    can print it as is.
    """


class ReportWarning(UserWarning):
    """A file or value was left out, and the rest of the report still stands.

    Its own class so that callers (the CLI, tests) can catch exactly these and nothing else.
    """
