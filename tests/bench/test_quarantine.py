"""A damaged file never blocks later work: it is moved aside, named, and the run goes on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.journal import JOURNAL_DIR, Journal, _recovering, recover_all
from bench.quarantine import QUARANTINE_DIR, quarantine


def test_quarantine_moves_a_file_aside_keeping_its_relative_path(tmp_path):
    damaged = tmp_path / ".journal" / "x.jsonl"
    damaged.parent.mkdir()
    damaged.write_bytes(b"\x00\xff")
    moved = quarantine(damaged, tmp_path)
    assert not damaged.exists()
    assert moved.read_bytes() == b"\x00\xff"
    assert moved.parent == tmp_path / QUARANTINE_DIR / ".journal"
    assert moved.name.startswith("x.jsonl.")
    # Hidden from every glob that picks saved runs, journals or manifests.
    assert not moved.name.endswith((".json", ".jsonl"))


def test_quarantining_the_same_name_twice_keeps_both(tmp_path):
    moved = []
    for content in ("first", "second"):
        (tmp_path / "m.json").write_text(content)
        moved.append(quarantine(tmp_path / "m.json", tmp_path))
    assert moved[0] != moved[1]
    assert [p.read_text() for p in moved] == ["first", "second"]


def test_quarantine_moves_a_folder_and_a_path_outside_root(tmp_path):
    folder = tmp_path / "store" / "lock"
    folder.mkdir(parents=True)
    assert quarantine(folder, tmp_path / "store").is_dir()
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{")
    moved = quarantine(outside, tmp_path / "store")
    assert moved.parent == tmp_path / "store" / QUARANTINE_DIR


def test_quarantine_of_a_vanished_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        quarantine(Path(tmp_path / "gone.json"), tmp_path)


# --- damaged journals: moved aside with one line each, never blocking a recovery -------------

HEADER = {
    "kind": "header", "schema": 1, "pid": 2**22 + 12345, "machine_id": "m", "save": "nightly",
    "machine_info": {}, "commit_info": {}, "version": "5.3.1", "started": "2026-01-01T00:00:00+00:00",
}  # fmt: skip
BENCHMARK = {"kind": "benchmark", "record": {"name": "a", "stats": {}}, "at": "2026-01-01T00:00:01+00:00"}


def _lines(*entries: object) -> bytes:
    return "".join(json.dumps(entry) + "\n" for entry in entries).encode()


def _make(path: Path, damage: str) -> None:
    """Put a damaged journal of the given kind at `path`."""
    contents = {
        "json-list": _lines([HEADER, BENCHMARK], BENCHMARK),
        "number": b"42\n" + _lines(BENCHMARK),
        "null": b"null\n",
        "string": b'"header"\n',
        "binary": bytes(range(256)) * 4,
        "empty": b"",
        "not-json": b"{'kind': 'header'}\n",
        "escaping-machine-id": _lines({**HEADER, "machine_id": "../../escaped"}, BENCHMARK),
        "escaping-save-name": _lines({**HEADER, "save": "../x"}, BENCHMARK),
        "no-machine-info": _lines({k: v for k, v in HEADER.items() if k != "machine_info"}, BENCHMARK),
        "pid-as-text": _lines({**HEADER, "pid": "123"}, BENCHMARK),
        "pid-as-bool": _lines({**HEADER, "pid": True}, BENCHMARK),
    }
    if damage == "folder":
        path.mkdir()
        (path / "inside").write_text("x")
    elif damage == "dangling-link":
        path.symlink_to(path.parent / "nowhere")
    else:
        path.write_bytes(contents[damage])


DAMAGES = [
    "json-list", "number", "null", "string", "binary", "empty", "not-json", "escaping-machine-id",
    "escaping-save-name", "no-machine-info", "pid-as-text", "pid-as-bool", "folder", "dangling-link",
]  # fmt: skip


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_journal_is_quarantined_and_the_good_one_beside_it_recovered(tmp_path, damage):
    storage = tmp_path / "storage"
    (storage / JOURNAL_DIR).mkdir(parents=True)
    earlier = storage / "m" / "0001_nightly.json"
    earlier.parent.mkdir()
    earlier.write_text('{"benchmarks": []}')
    damaged = storage / JOURNAL_DIR / "a-damaged.jsonl"
    _make(damaged, damage)
    good = storage / JOURNAL_DIR / "b-good.jsonl"
    good.write_bytes(_lines(HEADER, BENCHMARK))
    said: list[str] = []

    (recovered,) = recover_all(storage, said.append)

    assert recovered.saved == storage / "m" / "0002_nightly-partial.json"
    assert json.loads(recovered.saved.read_text())["benchmarks"] == [BENCHMARK["record"]]
    assert earlier.read_text() == '{"benchmarks": []}'
    assert not os.path.lexists(damaged) and not good.exists()
    (moved,) = (storage / QUARANTINE_DIR / JOURNAL_DIR).iterdir()
    (line,) = said
    assert "\n" not in line and str(damaged) in line and str(moved) in line
    assert not (tmp_path / "escaped").exists()


def test_a_file_where_the_journal_folder_belongs_is_moved_aside(tmp_path):
    (tmp_path / JOURNAL_DIR).write_text("not a folder")
    said: list[str] = []
    journal = Journal(tmp_path, "m", "nightly", said.append)
    journal.start({}, {}, "5.3.1")
    assert journal.path.parent.is_dir()
    (line,) = said
    assert str(tmp_path / JOURNAL_DIR) in line and QUARANTINE_DIR in line


def test_the_journal_appears_with_its_whole_header_or_not_at_all(tmp_path):
    journal = Journal(tmp_path, "m", "nightly")
    assert not journal.path.exists()  # nothing for another run to find half-made
    journal.start({}, {}, "5.3.1")
    assert json.loads(journal.path.read_text().splitlines()[0])["kind"] == "header"
    assert [p.name for p in journal.path.parent.iterdir()] == [journal.path.name]  # no temp left


def test_one_journal_is_recovered_once_when_two_recoveries_race(tmp_path):
    journal = tmp_path / JOURNAL_DIR / "dead.jsonl"
    journal.parent.mkdir()
    journal.write_bytes(_lines(HEADER, BENCHMARK))
    with _recovering(journal) as held:  # another process is recovering it right now
        assert held
        assert recover_all(tmp_path) == []
    (recovered,) = recover_all(tmp_path)
    assert recovered.saved.name == "0001_nightly-partial.json"
    assert list((tmp_path / "m").glob("*.json")) == [recovered.saved]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.one_of(st.binary(max_size=300), st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode())),
    rest=st.binary(max_size=200),
)  # fmt: skip
def test_fuzzed_journals_never_stop_recovery(tmp_path_factory, first, rest):
    storage = tmp_path_factory.mktemp("storage")
    journal = storage / JOURNAL_DIR / "fuzzed.jsonl"
    journal.parent.mkdir()
    journal.write_bytes(first + b"\n" + rest)
    said: list[str] = []
    recovered = recover_all(storage, said.append)  # must not raise, whatever the bytes
    left = list(journal.parent.iterdir())
    if said:  # quarantined: named, moved, gone from the journals
        assert left == [] and recovered == [] and QUARANTINE_DIR in said[0]
    else:  # a valid header after all: recovered or removed as empty
        assert left == [] and len(recovered) == 1


def test_recover_cli_quarantines_a_damaged_journal_and_recovers_the_rest(tmp_path, capsys):
    from bench.recover import main

    (tmp_path / JOURNAL_DIR).mkdir()
    (tmp_path / JOURNAL_DIR / "a-list.jsonl").write_text("[1, 2, 3]\n")
    (tmp_path / JOURNAL_DIR / "b-good.jsonl").write_bytes(_lines(HEADER, BENCHMARK))
    assert main([f"--storage={tmp_path}"]) == 0
    out, err = capsys.readouterr()
    (line,) = err.splitlines()
    assert "a-list.jsonl could not be read (its first line is a JSON list" in line
    assert str(tmp_path / QUARANTINE_DIR / JOURNAL_DIR) in line
    assert "recovered 1 benchmark(s)" in out and (tmp_path / "m" / "0001_nightly-partial.json").is_file()
