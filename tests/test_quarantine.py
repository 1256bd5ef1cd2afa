"""A damaged file never blocks later work: it is moved aside, named, and the run goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

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
