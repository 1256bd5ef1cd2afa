"""pytest hooks that keep the journal (bench/journal.py): recover at start, append per benchmark,
remove at the end once the saved run is verified.

They also take pytest-benchmark's file save over (bench/saved_runs.py), so the run's number is
claimed atomically: two runs saving into one storage at the same instant both land.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bench.journal import DamagedJournal, Journal, recover_all, recover_journal, saved_run_is_complete
from bench.progress import write_line_past_capture
from bench.quarantine import move_aside
from bench.saved_runs import save_run

_JOURNAL = pytest.StashKey["JournalState"]()


class JournalState:
    def __init__(self, session: Any, storage: Path) -> None:
        self.session = session  # pytest-benchmark's BenchmarkSession
        self.storage = storage
        self.journal: Journal | None = None
        self.benchmarks = 0
        self.failures_written = 0
        self.saved: Path | None = None  # the file this run's save landed in

    def open(self, config: pytest.Config) -> Journal:
        if self.journal is None:
            bs = self.session
            commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
            config.hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit_info)
            from pytest_benchmark import __version__

            name = bs.save or bs.autosave or None
            self.journal = Journal(self.storage, bs.machine_id, name, partial(_say, config))
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
    """One line on pytest's terminal, past output capture: the journal opens (and may set a
    damaged one aside) inside a benchmark's call, where a passing test's output is dropped."""
    if not write_line_past_capture(config, message):
        print(message, file=sys.stderr)


def _take_over_save(config: pytest.Config, state: JournalState) -> None:
    """Replace this session's FileStorage.save by one that claims its number atomically.

    pytest-benchmark has no hook around the write itself, so the bound method of this one
    storage object is swapped; the JSON bytes, the folder and the log line stay pytest-benchmark's.
    """
    from pytest_benchmark.utils import safe_dumps

    storage = state.session.storage

    def save(output_json: dict[str, Any], name: str) -> None:
        data = safe_dumps(output_json, ensure_ascii=True, indent=4).encode()
        warn = partial(_say, config)
        state.saved = save_run(Path(storage.path), storage.default_machine_id, name, data, warn)
        storage.logger.info(f"Saved benchmark data in: {state.saved}")

    storage.save = save


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    found = _benchmark_storage(session.config)
    if found is None:
        return
    bs, storage = found
    warn = partial(_say, session.config)
    for item in recover_all(storage, warn):
        if item.saved is not None:
            _say(
                session.config,
                f"diffbench: recovered {item.benchmarks} benchmark(s) and {item.failures} failure row(s) "
                f"of an interrupted run into {item.saved}",
            )
    state = JournalState(bs, storage)
    _take_over_save(session.config, state)
    session.config.stash[_JOURNAL] = state


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    yield
    state = item.config.stash.get(_JOURNAL, None)
    if state is None:
        return
    from bench.runner import rounds_kept  # the suite (torch) is loaded by now: the test ran

    fixture = getattr(item, "funcargs", {}).get("benchmark")
    # Only what pytest-benchmark will save: not a benchmark whose timed function raised (an OOM or
    # --timeout mid-rounds), whose failure row the suite records instead.
    if fixture is not None and rounds_kept(fixture):
        state.open(item.config).benchmark(fixture.stats.as_dict(include_data=state.session.save_data))
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
    # The very file this run saved: another run saving under the same name at the same time
    # lands under another number and must not be mistaken for ours.
    if state.benchmarks and state.saved is not None and saved_run_is_complete(state.saved, state.benchmarks):
        state.journal.close()
        return
    if not state.benchmarks:
        # pytest-benchmark saves nothing when no benchmark ran; the failure rows must still land.
        warn = partial(_say, session.config)
        try:
            result = recover_journal(state.journal.path, state.storage, partial=False, warn=warn)
        except DamagedJournal as damage:  # our own journal, damaged under us: keep it, say where
            move_aside(state.journal.path, state.storage, damage.reason, warn)
            return
        if result is not None and result.saved is not None:
            _say(
                session.config,
                f"diffbench: no variant could be timed; saved the failure rows in {result.saved}",
            )
        return
    _say(
        session.config,
        f"diffbench: the saved run could not be verified; results kept in {state.journal.path}",
    )
