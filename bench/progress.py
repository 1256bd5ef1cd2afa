"""What the suite is doing, one line per phase of each benchmark: building, first call, warm-up,
round k of n, each with the seconds since the benchmark began.

A long run used to print one dot per variant (sd15 showed nothing for 94 minutes). The suite
and measure.py call `begin`/`phase`/`round_counter`, which do nothing until a sink is installed;
`attach` installs pytest's terminal (past output capture) unless the run is quiet (`-q`, as the
tests, the studies and CI run it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from typing import Any

import pytest

Write = Callable[[str], None]
Clock = Callable[[], float]

_ATTACHED = pytest.StashKey[bool]()


class Progress:
    """Lines about one benchmark at a time, the subject and its elapsed seconds on each."""

    def __init__(self, write: Write, clock: Clock = time.perf_counter) -> None:
        self._write = write
        self._clock = clock
        self._subject = ""
        self._started = clock()

    def begin(self, subject: str) -> None:
        self._subject = subject
        self._started = self._clock()

    def phase(self, text: str) -> None:
        elapsed = self._clock() - self._started
        self._write(f"[diffbench] {self._subject}: {text} ({elapsed:.1f} s)")


_current: Progress | None = None


def install(progress: Progress | None) -> Progress | None:
    """Make `progress` the session's sink (None: quiet); returns the one it replaces."""
    global _current
    previous, _current = _current, progress
    return previous


@contextmanager
def reporting(write: Write, clock: Clock = time.perf_counter) -> Iterator[Progress]:
    """Progress lines go to `write` inside the block (tests, tools that drive the suite in-process)."""
    progress = Progress(write, clock)
    previous = install(progress)
    try:
        yield progress
    finally:
        install(previous)


def begin(subject: str) -> None:
    if _current is not None:
        _current.begin(subject)


def phase(text: str) -> None:
    if _current is not None:
        _current.phase(text)


def round_counter(rounds: int) -> Callable[[], None] | None:
    """pytest-benchmark's `setup` for `pedantic`: called before each round, outside its timing."""
    if _current is None:
        return None
    done = 0

    def before_round() -> None:
        nonlocal done
        done += 1
        phase(f"round {done} of {rounds}")

    return before_round


def attach(config: pytest.Config) -> None:
    """Progress on pytest's terminal for this session, once; nothing under `-q` or without a terminal."""
    if config.stash.get(_ATTACHED, False):
        return
    config.stash[_ATTACHED] = True
    write = terminal_writer(config)
    if write is None:
        return
    install(Progress(write))
    config.add_cleanup(lambda: install(None))


def write_line_past_capture(config: pytest.Config, line: str) -> bool:
    """One line on pytest's terminal with output capture suspended (a benchmark's stdout is
    captured); False where there is no terminal reporter."""
    reporter: Any = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return False
    capture: Any = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
        reporter.write_line(line)
    return True


def terminal_writer(config: pytest.Config) -> Write | None:
    """Progress lines on pytest's terminal, or None when the run is quiet (`-q`) or has none."""
    if config.get_verbosity() < 0 or config.pluginmanager.get_plugin("terminalreporter") is None:
        return None
    return partial(write_line_past_capture, config)
