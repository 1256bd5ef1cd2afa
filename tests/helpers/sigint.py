"""Ctrl-C in tests: what a process started with SIGINT ignored can and cannot be sent.

A shell without job control starts its background commands with SIGINT ignored (`cmd &` in a
script), and an ignored signal stays ignored through fork and exec: Python then installs no
KeyboardInterrupt handler, and neither do the test's subprocesses. A test that presses Ctrl-C
restores the handler in its own process, and skips, with this reason, where a child of it
would have to receive one.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

IGNORED = (
    "SIGINT is ignored in this test process (started in the background by a shell without job "
    "control), and the subprocesses it starts inherit that: a Ctrl-C cannot reach them"
)


def skip_if_children_ignore_sigint() -> None:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        pytest.skip(IGNORED)


@contextmanager
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in this process for the block, whatever it inherited."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
