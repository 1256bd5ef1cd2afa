"""The driver's keeper of every task's journal, so a lost node loses no finished row.

Nodes share no filesystem, and a node that dies takes its suite's journal with it. So each task
forwards its journal's lines, as they are written, to one Ray actor placed on the driver's node:
`RowKeeper` holds, per task key, every attempt with its entries, and the saved run of the attempt
that finished. A retried task (Ray re-runs a task whose node or worker died) asks it what earlier
attempts finished and times only the rest; the driver asks it for everything at the end.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from bench.fleet.rows import Attempt
from bench.journal import JOURNAL_DIR

POLL_S = 0.5  # how often a task looks for new journal lines


class RowKeeper:
    """Plain class; the driver makes it a Ray actor (`ray.remote(RowKeeper)`)."""

    def __init__(self) -> None:
        self._attempts: dict[str, list[Attempt]] = {}

    def begin(self, key: str, node_id: str, host: str, variants: list[str]) -> tuple[int, list[Attempt]]:
        """A new attempt at `key`: its index, and the attempts before it."""
        attempts = self._attempts.setdefault(key, [])
        earlier = list(attempts)
        attempts.append(Attempt(node_id=node_id, host=host, variants=list(variants)))
        return len(attempts) - 1, earlier

    def set_variants(self, key: str, index: int, variants: list[str]) -> None:
        self._attempts[key][index].variants = list(variants)

    def append(self, key: str, index: int, entries: list[dict[str, Any]]) -> int:
        attempt = self._attempts[key][index]
        attempt.entries.extend(entries)
        return len(attempt.entries)

    def finish(
        self, key: str, index: int, outcome: str, saved: dict[str, Any] | None, folder: str | None
    ) -> None:
        attempt = self._attempts[key][index]
        attempt.outcome, attempt.saved, attempt.folder = outcome, saved, folder

    def attempts(self, key: str) -> list[Attempt]:
        return list(self._attempts.get(key, []))


class JournalForwarder:
    """A thread that sends each complete new line of the suite's journal under `storage` to the
    keeper, in order, and calls `on_row(entry)` for each row sent (the task's progress line)."""

    def __init__(
        self, ray: Any, keeper: Any, key: str, index: int, storage: Path, on_row: Any = None
    ) -> None:
        self._ray, self._keeper, self._key, self._index = ray, keeper, key, index
        self._folder = storage / JOURNAL_DIR
        self._offsets: dict[Path, int] = {}
        self._on_row = on_row
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="journal-forwarder", daemon=True)

    def __enter__(self) -> JournalForwarder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.forward()  # what the suite wrote after the last poll, if its journal is still there

    def _loop(self) -> None:
        while not self._stop.wait(POLL_S):
            self.forward()

    def forward(self) -> None:
        entries: list[dict[str, Any]] = []
        for journal in sorted(self._folder.glob("*.jsonl")) if self._folder.is_dir() else []:
            entries.extend(self._new_entries(journal))
        if not entries:
            return
        # Waited for: the keeper must hold a row before the node can be lost with it.
        self._ray.get(self._keeper.append.remote(self._key, self._index, entries))
        for entry in entries:
            if self._on_row is not None and entry.get("kind") in ("benchmark", "failure"):
                self._on_row(entry)

    def _new_entries(self, journal: Path) -> list[dict[str, Any]]:
        start = self._offsets.get(journal, 0)
        try:
            with journal.open("rb") as handle:
                handle.seek(start)
                data = handle.read()
        except FileNotFoundError:  # the suite saved its run and removed the journal
            return []
        end = data.rfind(b"\n") + 1  # complete lines only: the suite may be writing the next one
        entries = []
        for line in data[:end].splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a kill: the journal's own reader stops there too
        self._offsets[journal] = start + end
        return entries
