"""Crash-safe results: every finished benchmark is appended to a journal as it completes.

pytest-benchmark writes its JSON once, at the end of the session; a run killed at hour two
would lose everything. The journal (`<storage>/.journal/<id>.jsonl`, one JSON object per
line, flushed and fsynced per line) holds the run's header and every finished benchmark in
pytest-benchmark's own record format. After a normal end the saved run is verified and the
journal removed; a journal left by a dead process is turned into a normal saved run marked
`partial` (automatically at the start of the next run, or with `python -m bench.recover`).

Standard library only, so recovery works in an environment without torch.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.quarantine import move_aside
from bench.saved_runs import Warn, save_run
from reports.record import SCHEMA

JOURNAL_DIR = ".journal"
# Header fields and their types: a header that lacks one cannot be turned into a saved run.
_HEADER_FIELDS: dict[str, type | tuple[type, ...]] = {
    "pid": int,
    "machine_id": str,
    "machine_info": dict,
    "commit_info": dict,
    "version": str,
    "started": str,
}
_JSON_KINDS = {
    list: "a JSON list", int: "a number", float: "a number", str: "a string", bool: "true or false",
    type(None): "null",
}  # fmt: skip
_ILLEGAL_IN_NAMES = set("\\/:*?<>|\0")  # pytest-benchmark's rule for save names, plus NUL


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


class DamagedJournal(ValueError):
    """A journal that cannot be read back; `reason` says why in a few words."""

    def __init__(self, journal: Path, reason: str) -> None:
        super().__init__(f"{journal}: {reason}")
        self.journal = journal
        self.reason = reason


class Journal:
    def __init__(
        self, storage: Path, machine_id: str, save_name: str | None, warn: Warn = _to_stderr
    ) -> None:
        folder = storage / JOURNAL_DIR
        if os.path.lexists(folder) and not folder.is_dir():
            move_aside(folder, storage, "not a folder", warn)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{machine_id}-{os.getpid()}-{time.time_ns()}.jsonl"
        self.machine_id = machine_id
        self.save_name = save_name

    def start(self, machine_info: dict[str, Any], commit_info: dict[str, Any], version: str) -> None:
        header = {
            "kind": "header",
            "schema": SCHEMA,
            "pid": os.getpid(),
            "machine_id": self.machine_id,
            "save": self.save_name,
            "machine_info": machine_info,
            "commit_info": commit_info,
            "version": version,
            "started": _now(),
        }
        # The journal appears under its name with its whole header or not at all: another run
        # looking for stale journals must never see an empty one and take it for damage.
        handle, temp = tempfile.mkstemp(prefix=".header-", dir=self.path.parent)
        os.fchmod(handle, 0o644)  # as an appended-to file would have been, not mkstemp's 0600
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(json.dumps(header, default=str) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, self.path)

    def benchmark(self, record: dict[str, Any]) -> None:
        self._append({"kind": "benchmark", "record": record, "at": _now()})

    def failure(self, row: dict[str, Any]) -> None:
        self._append({"kind": "failure", "row": row, "at": _now()})

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, default=str) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class Recovered:
    journal: Path
    saved: Path | None
    benchmarks: int
    failures: int


def _plain_name(value: Any) -> bool:
    """A name that is safe as one path component (no separators, no `..`)."""
    return isinstance(value, str) and value not in ("", ".", "..") and not set(value) & _ILLEGAL_IN_NAMES


def _header_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict) or entry.get("kind") != "header":
        what = _JSON_KINDS.get(type(entry), "an object of another kind")
        return f"its first line is {what}, not a journal header"
    for field, kind in _HEADER_FIELDS.items():
        if not isinstance(entry.get(field), kind) or isinstance(entry.get(field), bool):
            return f"its header has no valid {field!r}"
    if not _plain_name(entry["machine_id"]):
        return f"its header's machine_id {entry['machine_id']!r} is not a plain folder name"
    if entry.get("save") is not None and not _plain_name(entry["save"]):
        return f"its header's save name {entry['save']!r} is not a plain file name"
    return None


def _entry_is_valid(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    if entry.get("kind") == "benchmark":
        return isinstance(entry.get("record"), dict)
    if entry.get("kind") == "failure":
        return isinstance(entry.get("row"), dict)
    return isinstance(entry.get("kind"), str)  # a kind from a newer version: kept, not used


def _read(journal: Path) -> list[dict[str, Any]]:
    """The header and the entries up to the first unreadable one (a kill can cut the last line
    in half). Raises DamagedJournal when there is no readable header: nothing to recover."""
    try:
        mode = os.lstat(journal).st_mode
    except OSError as error:
        raise DamagedJournal(journal, error.strerror or "cannot be read") from None
    if not stat.S_ISREG(mode):
        # A folder, link or FIFO named like a journal: never ours, and a FIFO would hang a read.
        kind = "a folder" if stat.S_ISDIR(mode) else "a link" if stat.S_ISLNK(mode) else "something else"
        raise DamagedJournal(journal, f"{kind}, not a regular file")
    try:
        text = journal.read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        raise DamagedJournal(journal, error.strerror or "cannot be read") from None
    lines = text.splitlines()
    if not lines:
        raise DamagedJournal(journal, "empty")
    try:
        header = json.loads(lines[0])
    except ValueError:
        raise DamagedJournal(journal, "its first line is not JSON") from None
    if (problem := _header_problem(header)) is not None:
        raise DamagedJournal(journal, problem)
    entries = [header]
    for line in lines[1:]:
        try:
            entry = json.loads(line)
        except ValueError:
            break
        if not _entry_is_valid(entry):
            break
        entries.append(entry)
    return entries


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False  # 0 and negatives address process groups, never one writer
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OverflowError:
        return False  # beyond any pid the kernel can hand out
    except PermissionError:
        return True
    return True


@contextmanager
def _recovering(journal: Path) -> Iterator[bool]:
    """Hold the journal for recovery; False when another process holds it or already did it.

    Two runs starting together both find a dead run's journal: only one may turn it into a
    saved run, or the interrupted run would be saved twice.
    """
    try:
        fd = os.open(journal, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        yield False
        return
    except OSError as error:  # a link (O_NOFOLLOW) or something else that is no journal
        reason = "a link, not a regular file" if journal.is_symlink() else error.strerror
        raise DamagedJournal(journal, reason or "cannot be opened") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            still_there = os.stat(journal).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            still_there = False  # the holder before us recovered and removed it
        yield still_there
    finally:
        os.close(fd)


def _saved_run(header: dict[str, Any], entries: list[dict[str, Any]], journal: Path, partial: bool) -> dict:
    return {
        "machine_info": header["machine_info"],
        "commit_info": header["commit_info"],
        "benchmarks": [e["record"] for e in entries if e.get("kind") == "benchmark"],
        "datetime": entries[-1].get("at") if isinstance(entries[-1].get("at"), str) else header["started"],
        "version": header["version"],
        "diffbench": {
            "schema": SCHEMA,
            "rows": [e["row"] for e in entries if e.get("kind") == "failure"],
            "partial": partial,
            "recovered_from": journal.name,
            "started": header["started"],
        },
    }


def recover_journal(
    journal: Path, storage: Path, partial: bool = True, warn: Warn = _to_stderr
) -> Recovered | None:
    """Turn a journal into a saved run and remove it. None when another process is recovering
    it; raises DamagedJournal when it cannot be read (the caller quarantines it)."""
    with _recovering(journal) as held:
        if not held:
            return None
        entries = _read(journal)
        header = entries[0]
        payload = _saved_run(header, entries, journal, partial)
        records, failures = len(payload["benchmarks"]), len(payload["diffbench"]["rows"])
        if not (records or failures):
            journal.unlink(missing_ok=True)
            return Recovered(journal, None, 0, 0)
        name = f"{header.get('save') or 'run'}-partial" if partial else header.get("save") or "run"
        data = json.dumps(payload, indent=4, default=str).encode()
        target = save_run(storage, header["machine_id"], name, data, warn)
        journal.unlink()
        return Recovered(journal, target, records, failures)


def stale_journals(storage: Path, warn: Warn = _to_stderr) -> list[Path]:
    """Journals whose writer is gone (killed, crashed); a live run's journal is left alone, a
    damaged one is quarantined so it never blocks a later run."""
    folder = storage / JOURNAL_DIR
    if not folder.is_dir():
        return []
    stale = []
    for journal in sorted(folder.glob("*.jsonl")):
        try:
            pid = _read(journal)[0]["pid"]
        except DamagedJournal as damage:
            move_aside(journal, storage, damage.reason, warn)
            continue
        if pid == os.getpid() or not _alive(pid):
            stale.append(journal)
    return stale


def recover_all(storage: Path, warn: Warn = _to_stderr) -> list[Recovered]:
    recovered = []
    for journal in stale_journals(storage, warn):
        try:
            item = recover_journal(journal, storage, warn=warn)
        except DamagedJournal as damage:
            move_aside(journal, storage, damage.reason, warn)
            continue
        if item is not None:
            recovered.append(item)
    return recovered


def saved_run_is_complete(path: Path, expected_benchmarks: int) -> bool:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return len(saved.get("benchmarks", [])) >= expected_benchmarks
