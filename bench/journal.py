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

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JOURNAL_DIR = ".journal"
SCHEMA = 1


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


class Journal:
    def __init__(self, storage: Path, machine_id: str, save_name: str | None) -> None:
        folder = storage / JOURNAL_DIR
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{machine_id}-{os.getpid()}-{time.time_ns()}.jsonl"
        self.machine_id = machine_id
        self.save_name = save_name

    def start(self, machine_info: dict[str, Any], commit_info: dict[str, Any], version: str) -> None:
        self._append(
            {
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
        )

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


def _read(journal: Path) -> list[dict[str, Any]]:
    """Entries up to the first unreadable line: a kill can cut the last line in half."""
    entries: list[dict[str, Any]] = []
    for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            break
    return entries


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _next_number(folder: Path) -> str:
    numbers = [int(m.group(1)) for p in folder.glob("*.json") if (m := re.match(r"(\d{4})_", p.name))]
    return f"{max(numbers, default=0) + 1:04d}"


def _write_atomically(path: Path, payload: dict[str, Any]) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(payload, out, indent=4)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)


def recover_journal(journal: Path, storage: Path, partial: bool = True) -> Recovered:
    entries = _read(journal)
    header = next((e for e in entries if e.get("kind") == "header"), None)
    records = [e["record"] for e in entries if e.get("kind") == "benchmark"]
    failures = [e["row"] for e in entries if e.get("kind") == "failure"]
    if header is None or not (records or failures):
        journal.unlink(missing_ok=True)
        return Recovered(journal, None, 0, 0)
    folder = storage / header["machine_id"]
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{header.get('save') or 'run'}-partial" if partial else header.get("save") or "run"
    target = folder / f"{_next_number(folder)}_{name}.json"
    last = entries[-1].get("at") or header["started"]
    payload = {
        "machine_info": header["machine_info"],
        "commit_info": header["commit_info"],
        "benchmarks": records,
        "datetime": last,
        "version": header["version"],
        "diffbench": {
            "schema": SCHEMA,
            "rows": failures,
            "partial": partial,
            "recovered_from": journal.name,
            "started": header["started"],
        },
    }
    _write_atomically(target, payload)
    journal.unlink()
    return Recovered(journal, target, len(records), len(failures))


def stale_journals(storage: Path) -> list[Path]:
    """Journals whose writer is gone (killed, crashed); a live run's journal is left alone."""
    folder = storage / JOURNAL_DIR
    if not folder.is_dir():
        return []
    stale = []
    for journal in sorted(folder.glob("*.jsonl")):
        entries = _read(journal)
        pid = entries[0].get("pid") if entries else None
        if not isinstance(pid, int) or pid == os.getpid() or not _alive(pid):
            stale.append(journal)
    return stale


def recover_all(storage: Path) -> list[Recovered]:
    return [recover_journal(journal, storage) for journal in stale_journals(storage)]


def saved_run_is_complete(path: Path, expected_benchmarks: int) -> bool:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return len(saved.get("benchmarks", [])) >= expected_benchmarks
