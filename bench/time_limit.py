"""`--timeout`: a per-benchmark time limit that turns a hang into a `timeout` row."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class BenchmarkTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise BenchmarkTimeout in the main thread once `seconds` have passed (None: no limit).

    SIGALRM interrupts Python between operations, so a generation (thousands of torch ops)
    stops within one op of the limit; a single op that never returns can't be interrupted
    this way, and a `kill` of the process is then what the journal is for.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise BenchmarkTimeout(f"exceeded --timeout {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
