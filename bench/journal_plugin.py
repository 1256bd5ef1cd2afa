"""pytest hooks that keep the journal (bench/journal.py): recover at start, append per benchmark,
remove at the end once the saved run is verified."""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from bench.journal import Journal, recover_all, recover_journal, saved_run_is_complete

_JOURNAL = pytest.StashKey["JournalState"]()


class JournalState:
    def __init__(self, session: Any, storage: Path) -> None:
        self.session = session  # pytest-benchmark's BenchmarkSession
        self.storage = storage
        self.journal: Journal | None = None
        self.benchmarks = 0
        self.failures_written = 0

    def open(self, config: pytest.Config) -> Journal:
        if self.journal is None:
            bs = self.session
            commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
            config.hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit_info)
            from pytest_benchmark import __version__

            self.journal = Journal(self.storage, bs.machine_id, bs.save or bs.autosave or None)
            self.journal.start(bs.get_machine_info(), commit_info, __version__)
        return self.journal


def _benchmark_storage(config: pytest.Config) -> tuple[Any, Path] | None:
    """pytest-benchmark's session and its folder, when this run saves to a file storage."""
    bs = getattr(config, "_benchmarksession", None)
    if bs is None or bs.disabled or not (bs.save or bs.autosave):
        return None
    path = getattr(bs.storage, "path", None)  # elasticsearch storage has none: no journal
    return (bs, Path(path)) if path is not None else None


def _say(config: pytest.Config, message: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(message)
    else:
        print(message, file=sys.stderr)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    found = _benchmark_storage(session.config)
    if found is None:
        return
    bs, storage = found
    for item in recover_all(storage):
        if item.saved is not None:
            _say(
                session.config,
                f"diffbench: recovered {item.benchmarks} benchmark(s) and {item.failures} failure row(s) "
                f"of an interrupted run into {item.saved}",
            )
    session.config.stash[_JOURNAL] = JournalState(bs, storage)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    yield
    state = item.config.stash.get(_JOURNAL, None)
    if state is None:
        return
    fixture = getattr(item, "funcargs", {}).get("benchmark")
    stats = getattr(fixture, "stats", None)
    if stats is not None:
        state.open(item.config).benchmark(stats.as_dict(include_data=state.session.save_data))
        state.benchmarks += 1
    _journal_new_failures(item.config, state)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    # Skipped tests (unsupported, oom, timeout) never reach the call hook's tail with a record.
    yield
    state = item.config.stash.get(_JOURNAL, None)
    if state is not None:
        _journal_new_failures(item.config, state)


def _journal_new_failures(config: pytest.Config, state: JournalState) -> None:
    from bench.plugin import suite_from

    rows = suite_from(config).failure_rows
    for row in rows[state.failures_written :]:
        state.open(config).failure(row)
    state.failures_written = len(rows)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Runs after pytest-benchmark saved the run: drop the journal only if the save is really there."""
    state = session.config.stash.get(_JOURNAL, None)
    if state is None or state.journal is None:
        return
    bs = state.session
    name = bs.save or bs.autosave
    saved = sorted((state.storage / bs.machine_id).glob(f"[0-9][0-9][0-9][0-9]_{name}.json"))
    if state.benchmarks and saved and saved_run_is_complete(saved[-1], state.benchmarks):
        state.journal.close()
        return
    if not state.benchmarks:
        # pytest-benchmark saves nothing when no benchmark ran; the failure rows must still land.
        result = recover_journal(state.journal.path, state.storage, partial=False)
        if result.saved is not None:
            _say(
                session.config,
                f"diffbench: no variant could be timed; saved the failure rows in {result.saved}",
            )
        return
    _say(
        session.config,
        f"diffbench: the saved run could not be verified; results kept in {state.journal.path}",
    )
