"""Nothing lost: a suite killed mid-run is recovered from its journal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.journal import JOURNAL_DIR, Journal, recover_all

ROOT = Path(__file__).resolve().parents[2]
DEAD_PID = 2**22 + 12345  # above the default pid_max: no process can have it


def _suite(tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DIFFBENCH_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "pytest", "bench/", "-q", "-p", "no:cacheprovider",
        f"--benchmark-storage={tmp_path / 'storage'}", "--rounds=1", "--warmup=0", *options,
    ]  # fmt: skip
    pipe = subprocess.PIPE
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=pipe, stderr=subprocess.STDOUT, text=True)


def _journal_benchmarks(storage: Path) -> int:
    return sum(
        1
        for journal in (storage / JOURNAL_DIR).glob("*.jsonl")
        for line in journal.read_text().splitlines()
        if '"kind": "benchmark"' in line
    )


def _orphan(journal: Journal, pid: int = DEAD_PID) -> None:
    """Make a journal look as if its writer were process `pid`."""
    lines = journal.path.read_text().splitlines()
    header = json.loads(lines[0])
    header["pid"] = pid
    journal.path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")


def test_sigkill_after_some_benchmarks_loses_none_of_them(tmp_path):
    storage = tmp_path / "storage"
    # Several variants with more steps, so the kill lands mid-run.
    process = _suite(tmp_path, "--benchmark-save=killed", "--variants=fp32,bf16,fp16,fp16+bf16", "--steps=8")
    deadline = time.monotonic() + 300
    while _journal_benchmarks(storage) < 2:
        assert process.poll() is None, f"the suite ended before it could be killed: {process.stdout.read()}"
        assert time.monotonic() < deadline, "no benchmark finished within 300 s"
        time.sleep(0.2)
    finished = _journal_benchmarks(storage)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not list(storage.rglob("0001_killed.json")), "pytest-benchmark should not have saved anything"

    result = subprocess.run(
        [sys.executable, "-m", "bench.recover", f"--storage={storage}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (saved,) = storage.rglob("*_killed-partial.json")
    run = json.loads(saved.read_text())
    assert run["diffbench"]["partial"] is True
    assert len(run["benchmarks"]) == finished >= 2
    assert [b["extra_info"]["variant"] for b in run["benchmarks"]][:2] == ["fp32", "bf16"]
    assert all(b["stats"]["median"] > 0 for b in run["benchmarks"])
    assert not list((storage / JOURNAL_DIR).glob("*.jsonl"))

    import reports

    frame = reports.load([storage])
    assert set(frame.variant) >= {"fp32", "bf16"}


def test_next_run_recovers_a_dead_runs_journal_automatically(tmp_path):
    storage = tmp_path / "storage"
    journal = Journal(storage, "Linux-CPython-3.11-64bit", "nightly")
    journal.start({"node": "x"}, {}, "5.3.1")
    journal.benchmark({"name": "test_generation[fp32]", "fullname": "f", "extra_info": {}, "stats": {}})
    _orphan(journal)

    process = _suite(tmp_path, "--benchmark-save=next", "--variants=fp32")
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    assert "recovered 1 benchmark(s)" in output
    (recovered,) = storage.rglob("*_nightly-partial.json")
    assert recovered.parent.name == "Linux-CPython-3.11-64bit"  # the dead run's own machine folder
    assert json.loads(recovered.read_text())["diffbench"]["partial"] is True
    assert len(list(storage.rglob("0001_next.json"))) == 1


def test_a_line_cut_in_half_by_the_kill_is_dropped_not_fatal(tmp_path):
    journal = Journal(tmp_path, "m", "cut")
    journal.start({}, {}, "5.3.1")
    journal.benchmark({"name": "a", "stats": {}})
    with journal.path.open("a") as handle:
        handle.write('{"kind": "benchmark", "rec')
    _orphan(journal)
    (recovered,) = recover_all(tmp_path)
    assert recovered.benchmarks == 1
    assert json.loads(recovered.saved.read_text())["benchmarks"] == [{"name": "a", "stats": {}}]


def test_a_live_runs_journal_is_left_alone(tmp_path):
    journal = Journal(tmp_path, "m", "live")
    journal.start({}, {}, "5.3.1")
    journal.benchmark({"name": "a"})
    _orphan(journal, pid=os.getppid())  # alive, and not this process
    assert recover_all(tmp_path) == []
    assert journal.path.exists()


SAVE_ON_CPU = ("--model=tiny-sd", "--variants=fp32", "--device=cpu", "--profile=cpu", "--benchmark-save=x")


def _saved_folder(storage: Path) -> Path:
    """Where SAVE_ON_CPU's run lands: pytest-benchmark's machine id plus the profile's key."""
    from pytest_benchmark.utils import get_machine_id

    return storage / f"{get_machine_id()}-cpu"


def _quarantine_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "could not be read" in line]


def test_damaged_journals_and_lock_are_moved_aside_and_the_run_still_saves(tmp_path):
    """One journal whose first line is a JSON list used to make every later run an INTERNALERROR."""
    storage = tmp_path / "storage"
    folder = _saved_folder(storage)
    folder.mkdir(parents=True)
    earlier = b'{"benchmarks": [], "machine_info": {}, "commit_info": {}}'
    (folder / "0001_x.json").write_bytes(earlier)
    (folder / ".save.lock").mkdir()  # a folder where the save lock belongs
    journals = storage / JOURNAL_DIR
    journals.mkdir()
    (journals / "list.jsonl").write_text('[{"kind": "header"}]\n{"kind": "benchmark", "record": {}}\n')
    (journals / "garbage.jsonl").write_bytes(os.urandom(512))
    (journals / "empty.jsonl").write_bytes(b"")
    (journals / "folder.jsonl").mkdir()
    damaged = {*journals.iterdir(), folder / ".save.lock"}

    process = _suite(tmp_path, *SAVE_ON_CPU)
    output, _ = process.communicate(timeout=300)

    assert process.returncode == 0, output
    assert "INTERNALERROR" not in output and "Traceback" not in output, output
    lines = _quarantine_lines(output)
    assert len(lines) == len(damaged), output
    for path in damaged:
        (line,) = [line for line in lines if f"{path} could not" in line]
        assert f"moved it to {storage / '.quarantine'}" in line
        assert not os.path.lexists(path) or path.name == ".save.lock"  # the lock is made anew
    assert len(list((storage / ".quarantine").rglob("*.quarantined"))) == len(damaged)
    assert (folder / "0001_x.json").read_bytes() == earlier
    saved = json.loads((folder / "0002_x.json").read_text())
    assert [b["extra_info"]["variant"] for b in saved["benchmarks"]] == ["fp32"]
    assert not list(journals.iterdir()), "the run's own journal should be gone once its save was verified"


def test_files_where_the_journal_and_machine_folders_belong_do_not_block_the_save(tmp_path):
    storage = tmp_path / "storage"
    other = storage / "other-machine" / "0001_x.json"
    other.parent.mkdir(parents=True)
    other.write_text('{"benchmarks": []}')
    (storage / JOURNAL_DIR).write_text("a file, not a folder")
    _saved_folder(storage).write_text("a file, not a folder")  # pytest-benchmark's own save crashes here

    process = _suite(tmp_path, *SAVE_ON_CPU)
    output, _ = process.communicate(timeout=300)

    assert process.returncode == 0, output
    assert "INTERNALERROR" not in output and "Traceback" not in output, output
    assert len(_quarantine_lines(output)) == 2, output
    assert other.read_text() == '{"benchmarks": []}'
    saved = json.loads((_saved_folder(storage) / "0001_x.json").read_text())
    assert len(saved["benchmarks"]) == 1
    moved = sorted(p.read_text() for p in (storage / ".quarantine").glob("*.quarantined"))
    assert moved == ["a file, not a folder"] * 2
